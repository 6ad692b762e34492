"""Tests for the model catalog: spellings, coverage, suggestions and data sanity."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from advisor import catalog
from advisor.catalog import (
    ModelInfo,
    families,
    find_model,
    list_models,
    normalize,
    suggest_models,
)

REQUIRED_FAMILIES = {
    "resnet",
    "resnet_vd",
    "resnext",
    "wide_resnet",
    "se_resnet",
    "se_resnext",
    "res2net",
    "resnest",
    "densenet",
    "vgg",
    "alexnet",
    "googlenet",
    "inception",
    "xception",
    "mobilenet_v1",
    "mobilenet_v2",
    "mobilenet_v3",
    "shufflenet_v2",
    "ghostnet",
    "pplcnet",
    "efficientnet",
    "efficientnet_v2",
    "regnet",
    "repvgg",
    "dpn",
    "hrnet",
    "darknet",
    "vit",
    "deit",
    "swin",
    "swin_v2",
    "convnext",
    "pvt_v2",
    "mobilevit",
    "maxvit",
    "mnasnet",
    "squeezenet",
}


def _get(name: str) -> ModelInfo:
    model = find_model(name)
    assert model is not None, name
    return model


def test_normalize_drops_case_and_separators() -> None:
    assert normalize("Res-Net_50 .x") == "resnet50x"
    assert normalize("") == ""


@pytest.mark.parametrize(
    ("spelling", "canonical"),
    [
        # torchvision
        ("resnet50", "resnet50"),
        ("resnext101_64x4d", "resnext101_64x4d"),
        ("wide_resnet50_2", "wide_resnet50_2"),
        ("mobilenet_v3_small", "mobilenet_v3_small"),
        ("shufflenet_v2_x1_0", "shufflenet_v2_x1_0"),
        ("efficientnet_v2_s", "efficientnet_v2_s"),
        ("regnet_y_400mf", "regnet_y_400mf"),
        ("regnet_x_1_6gf", "regnet_x_1_6gf"),
        ("regnet_y_16gf", "regnet_y_16gf"),
        ("vit_h_14", "vit_h_14"),
        ("swin_v2_t", "swin_v2_t"),
        ("maxvit_t", "maxvit_t"),
        ("mnasnet0_5", "mnasnet0_5"),
        ("squeezenet1_1", "squeezenet1_1"),
        # PaddleClas
        ("ResNet50_vd", "resnet50_vd"),
        ("ResNeXt101_32x4d", "resnext101_32x4d"),
        ("SE_ResNeXt50_vd_32x4d", "se_resnext50_vd_32x4d"),
        ("Res2Net101_vd_26w_4s", "res2net101_vd_26w_4s"),
        ("ResNeSt50_fast_1s1x64d", "resnest50_fast_1s1x64d"),
        ("InceptionV4", "inception_v4"),
        ("Xception65", "xception65"),
        ("MobileNetV1_x0_25", "mobilenet_v1_x0_25"),
        ("MobileNetV2", "mobilenet_v2"),
        ("MobileNetV3_small_x0_35", "mobilenet_v3_small_x0_35"),
        ("ShuffleNetV2_x1_0", "shufflenet_v2_x1_0"),
        ("GhostNet_x1_3", "ghostnet_x1_3"),
        ("PPLCNetV2_base", "pplcnetv2_base"),
        ("EfficientNetB0", "efficientnet_b0"),
        ("RegNetX_4GF", "regnetx_040"),
        ("RepVGG_B1g4", "repvgg_b1g4"),
        ("HRNet_W18_C", "hrnet_w18_c"),
        ("DarkNet53", "darknet53"),
        ("ViT_base_patch16_224", "vit_b_16"),
        ("DeiT_tiny_patch16_224", "deit_tiny_patch16_224"),
        ("SwinTransformer_tiny_patch4_window7_224", "swin_t"),
        ("ConvNeXt_tiny", "convnext_tiny"),
        ("PVT_V2_B2", "pvt_v2_b2"),
        ("MobileViT_S", "mobilevit_s"),
        # timm
        ("resnet50d", "resnet50_vd"),
        ("seresnext50_32x4d", "se_resnext50_32x4d"),
        ("res2net50_26w_4s", "res2net50_26w_4s"),
        ("resnest50d", "resnest50"),
        ("resnest101e", "resnest101"),
        ("mobilenetv2_050", "mobilenet_v2_x0_5"),
        ("mobilenetv3_large_100", "mobilenet_v3_large"),
        ("tf_efficientnet_b0", "efficientnet_b0"),
        ("tf_efficientnetv2_s", "efficientnet_v2_s"),
        ("regnety_040", "regnety_040"),
        ("repvgg_a2", "repvgg_a2"),
        ("hrnet_w18", "hrnet_w18_c"),
        ("vit_small_patch16_224", "vit_small_patch16_224"),
        ("swin_base_patch4_window12_384", "swin_base_patch4_window12_384"),
        ("swinv2_tiny_window8_256", "swin_v2_t"),
        ("maxvit_tiny_tf_224", "maxvit_t"),
        ("mobilevitv2_100", "mobilevitv2_100"),
    ],
)
def test_spellings_from_each_source_resolve(spelling: str, canonical: str) -> None:
    assert _get(spelling).name == canonical


def test_lookup_ignores_case_dashes_underscores_and_spaces() -> None:
    for spelling in ("RESNET-50", "ResNet 50", "res_net_50", " resnet50 ", "Res.Net50"):
        assert _get(spelling).name == "resnet50"
    assert _get("efficientnet-b3").name == "efficientnet_b3"


def test_examples_from_the_brief() -> None:
    assert _get("MobileNetV3_large_x1_0").family == "mobilenet_v3"
    assert _get("vit_b_16").kind == "transformer"
    assert _get("PPLCNet_x0_25").params_millions < 2


def test_digit_separators_keep_regnet_sizes_apart() -> None:
    assert _get("regnet_x_1_6gf").params_millions < 10
    assert _get("RegNetX_1.6GF").name == "regnet_x_1_6gf"
    assert _get("regnet_x_16gf").params_millions > 50
    assert _get("regnet_y_3_2gf").name != _get("regnet_y_32gf").name


def test_weight_tags_and_distillation_suffixes_are_ignored() -> None:
    assert _get("vit_base_patch16_224.augreg2_in21k_ft_in1k").name == "vit_b_16"
    assert _get("convnext_tiny.fb_in22k").name == "convnext_tiny"
    assert _get("ResNet50_vd_ssld").name == "resnet50_vd"
    assert _get("MobileNetV3_large_x1_0_ssld").name == "mobilenet_v3_large"


def test_unknown_and_empty_names() -> None:
    assert find_model("not_a_network_at_all") is None
    assert find_model("") is None
    assert find_model("   ") is None
    assert suggest_models("") == []


def test_kinds_follow_training_lineage() -> None:
    expected = {
        "resnet50": "convnet",
        "vgg16_bn": "convnet",
        "vgg16": "convnet_no_bn",
        "alexnet": "convnet_no_bn",
        "mobilenet_v2": "mobile_convnet",
        "ShuffleNetV2_x0_5": "mobile_convnet",
        "PPLCNet_x1_0": "mobile_convnet",
        "efficientnet_b4": "nas_convnet",
        "efficientnet_v2_m": "nas_convnet",
        "mobilenet_v3_small": "nas_convnet",
        "mnasnet1_0": "nas_convnet",
        "convnext_base": "modern_convnet",
        "deit_base_distilled_patch16_224": "transformer",
        "swin_v2_b": "transformer",
        "pvt_v2_b0": "transformer",
        "maxvit_t": "transformer",
        "mobilevit_xxs": "hybrid",
    }
    for name, kind in expected.items():
        assert _get(name).kind == kind, name


def test_every_required_family_is_present() -> None:
    assert set(families()) >= REQUIRED_FAMILIES
    assert families() == sorted(families())


@pytest.mark.parametrize(
    "names",
    [
        [f"resnet{d}" for d in (18, 34, 50, 101, 152)],
        [f"densenet{d}" for d in (121, 161, 169, 201, 264)],
        [f"vgg{d}{bn}" for d in (11, 13, 16, 19) for bn in ("", "_bn")],
        [f"Xception{d}" for d in (41, 65, 71)] + ["xception"],
        [f"MobileNetV1_x{w}" for w in ("0_25", "0_5", "0_75", "1_0")],
        [f"MobileNetV2_x{w}" for w in ("0_25", "0_5", "0_75", "1_0", "1_5", "2_0")],
        [
            f"MobileNetV3_{size}_x{w}"
            for size in ("large", "small")
            for w in ("0_35", "0_5", "0_75", "1_0", "1_25")
        ],
        [f"ShuffleNetV2_x{w}" for w in ("0_25", "0_33", "0_5", "1_0", "1_5", "2_0")],
        [f"GhostNet_x{w}" for w in ("0_5", "1_0", "1_3")],
        [f"PPLCNet_x{w}" for w in ("0_25", "0_35", "0_5", "0_75", "1_0", "1_5", "2_0", "2_5")],
        [f"efficientnet_b{i}" for i in range(8)],
        [f"efficientnet_v2_{s}" for s in "sml"],
        [
            f"regnet_{xy}_{size}"
            for xy in "xy"
            for size in ("400mf", "800mf", "1_6gf", "3_2gf", "8gf", "16gf", "32gf")
        ],
        [f"RepVGG_{v}" for v in ("A0", "A1", "A2", "B0", "B1", "B1g2", "B1g4", "B2", "B2g4", "B3")],
        [f"DPN{d}" for d in (68, 92, 98, 107, 131)],
        [f"HRNet_W{w}_C" for w in (18, 30, 32, 40, 44, 48, 64)],
        ["vit_b_32", "vit_l_16", "vit_l_32", "vit_tiny_patch16_224", "vit_large_patch16_224"],
        [f"deit_{s}_patch16_224" for s in ("tiny", "small", "base")]
        + [f"deit_{s}_distilled_patch16_224" for s in ("tiny", "small", "base")]
        + ["deit_base_patch16_384"],
        ["swin_t", "swin_s", "swin_b", "swin_tiny_patch4_window7_224", "swin_v2_s", "swin_v2_b"],
        [f"convnext_{s}" for s in ("tiny", "small", "base", "large")],
        [f"pvt_v2_b{i}" for i in range(6)],
        ["mobilevit_xxs", "mobilevit_xs", "mobilevit_s", "MobileViT_XXS"],
        ["mnasnet0_5", "mnasnet1_0", "squeezenet1_0", "squeezenet1_1"],
        ["alexnet", "googlenet", "inception_v3", "InceptionV3", "DarkNet53"],
        ["wide_resnet101_2", "resnext101_32x8d", "SE_ResNet50_vd", "SE_ResNeXt101_32x4d"],
        ["seresnet50", "Res2Net50_26w_4s", "Res2Net50_vd_26w_4s", "ResNeSt50"],
        ["ResNet18_vd", "ResNet101_vd", "resnet101d", "mobilenetv2_100"],
    ],
)
def test_required_models_are_covered(names: list[str]) -> None:
    missing = [name for name in names if find_model(name) is None]
    assert not missing


def test_suggestions_for_unknown_names() -> None:
    assert "resnet50" in suggest_models("resnet51")
    assert any(_get(n).family == "mobilenet_v3" for n in suggest_models("mobilenetv3"))
    assert "densenet121" in suggest_models("densnet121")
    assert suggest_models("resnet50_my_finetune")[0] == "resnet50"
    assert all(s.startswith("efficientnet") for s in suggest_models("efficientnet"))
    assert len(suggest_models("resnet", n=3)) == 3
    assert suggest_models("resnet", n=0) == []


def test_suggestions_are_canonical_names() -> None:
    canonical = {m.name for m in list_models()}
    for query in ("vit_base", "swin", "regnetx16gf", "convnxt", "PPLCNet"):
        suggestions = suggest_models(query)
        assert suggestions, query
        assert set(suggestions) <= canonical
        assert len(suggestions) == len(set(suggestions))


def test_run_together_regnet_keys_suggest_both_sizes() -> None:
    suggestions = suggest_models("regnetx16gf")
    assert {"regnet_x_1_6gf", "regnet_x_16gf"} <= set(suggestions)


def test_no_two_entries_share_an_exact_key() -> None:
    owners: dict[str, str] = {}
    for model in list_models():
        for spelling in (model.name, *model.aliases):
            key = catalog._exact_key(spelling)
            assert owners.setdefault(key, model.name) == model.name, spelling


def test_normalised_collisions_are_only_the_documented_ones() -> None:
    owners: dict[str, set[str]] = {}
    for model in list_models():
        for spelling in (model.name, *model.aliases):
            owners.setdefault(normalize(spelling), set()).add(model.name)
    shared = {key for key, names in owners.items() if len(names) > 1}
    assert shared == catalog._EXPECTED_AMBIGUOUS
    for key in shared:
        assert find_model(key) is not None or suggest_models(key)


def test_index_builder_rejects_colliding_entries() -> None:
    twin = (
        ModelInfo(name="resnet50", family="resnet", params_millions=25.6, kind="convnet"),
        ModelInfo(name="ResNet-50", family="resnet", params_millions=25.6, kind="convnet"),
    )
    with pytest.raises(ValueError, match="collides"):
        catalog._build_indexes(twin)


def test_canonical_names_are_unique_and_resolve_to_themselves() -> None:
    models = list_models()
    assert len({m.name for m in models}) == len(models)
    for model in models:
        assert find_model(model.name) == model
        for alias in model.aliases:
            assert find_model(alias) == model, alias


def test_catalog_size_and_values_are_plausible() -> None:
    models = list_models()
    assert 250 <= len(models) <= 500
    for model in models:
        assert 0.3 < model.params_millions < 1000, model.name
        assert model.family == model.family.lower()


def test_param_counts_are_ordered_sensibly() -> None:
    def p(name: str) -> float:
        return _get(name).params_millions

    assert p("resnet18") < p("resnet34") < p("resnet50") < p("resnet101") < p("resnet152")
    assert p("MobileNetV2_x0_25") < p("MobileNetV2_x0_5") < p("MobileNetV2_x1_0")
    assert p("MobileNetV2_x1_0") < p("MobileNetV2_x1_5") < p("MobileNetV2_x2_0")
    assert p("efficientnet_b0") < p("efficientnet_b3") < p("efficientnet_b7")
    assert p("vit_tiny_patch16_224") < p("vit_small_patch16_224") < p("vit_b_16") < p("vit_l_16")
    assert p("PPLCNet_x0_25") < p("PPLCNet_x1_0") < p("PPLCNet_x2_5")
    assert p("convnext_tiny") < p("convnext_small") < p("convnext_base") < p("convnext_large")
    assert abs(p("resnet50") - 25.6) < 0.5
    assert abs(p("vit_b_16") - 86.6) < 0.5
    assert abs(p("mobilenet_v2") - 3.5) < 0.1


def test_list_models_filters_and_sorts() -> None:
    resnets = list_models(family="ResNet")
    assert {m.family for m in resnets} == {"resnet"}
    assert resnets[0].name == "resnet18"
    params = [m.params_millions for m in resnets]
    assert params == sorted(params)
    assert {m.family for m in list_models("MobileNet-V3")} == {"mobilenet_v3"}
    assert list_models(family="no_such_family") == []
    everything = list_models()
    keys = [(m.family, m.params_millions) for m in everything]
    assert keys == sorted(keys)
    vgg_kinds = {m.kind for m in list_models("vgg")}
    assert vgg_kinds == {"convnet", "convnet_no_bn"}


def test_model_info_is_frozen() -> None:
    model = _get("resnet50")
    with pytest.raises(ValidationError):
        model.params_millions = 1.0  # type: ignore[misc]
