"""torchvision's and timm's models by name, at the data's resolution, and local pretrained weights
(backbone loaded, head replaced, never downloaded)."""

from __future__ import annotations

import json

import pytest
import timm
import torch
import torchvision

from worker.trainer import weights as weights_module
from worker.trainer.models import ModelRef, UnknownModel, build, describe_model, resolve_model
from worker.trainer.weights import (
    find_weights,
    register_weights_from_config,
    where_weights_are_looked_for,
)


@pytest.fixture(autouse=True)
def no_downloads(monkeypatch):
    """Any attempt to download weights fails the test."""

    def refuse(*args, **kwargs):
        raise AssertionError(f"a download was attempted: {args} {kwargs}")

    monkeypatch.setattr(torch.hub, "download_url_to_file", refuse)
    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", refuse)
    import huggingface_hub

    monkeypatch.setattr(huggingface_hub, "hf_hub_download", refuse)
    yield
    weights_module.clear_registered_weights()
    weights_module._cached_weights.cache_clear()


@pytest.fixture
def hub_dir(tmp_path, monkeypatch):
    """Empty torch-hub and Hugging Face caches in tmp_path."""
    previous = torch.hub.get_dir()
    torch.hub.set_dir(str(tmp_path / "torch-hub"))
    monkeypatch.setattr(weights_module, "hf_hub_cache", lambda: tmp_path / "hf")
    yield tmp_path / "torch-hub"
    torch.hub.set_dir(previous)


@pytest.mark.parametrize(("name", "ref"), [
    ("resnet18", ModelRef("torchvision", "resnet18")),
    ("ResNet-18", ModelRef("torchvision", "resnet18")),
    ("mobilenet_v3_small", ModelRef("torchvision", "mobilenet_v3_small")),
    ("vit_tiny_patch16_224", ModelRef("timm", "vit_tiny_patch16_224")),
    ("ResNet50_vd", ModelRef("timm", "resnet50d")),  # PaddleClas spelling, via the catalog
    ("resnet50.a1_in1k", ModelRef("timm", "resnet50.a1_in1k")),  # a timm weight tag
    ("timm:resnet18", ModelRef("timm", "resnet18")),
    ("resnet50", ModelRef("torchvision", "resnet50")),  # not the CIFAR ResNet-50
    ("resnet20", ModelRef("builtin", "resnet20")),
    ("resnet14", ModelRef("builtin", "resnet14")),  # a CIFAR depth no library has
])
def test_names_resolve_to_the_library_that_builds_them(name, ref):
    assert resolve_model(name) == ref


def test_unknown_names_get_close_suggestions_from_all_libraries():
    with pytest.raises(UnknownModel) as raised:
        resolve_model("convnxt_tiny")
    assert "convnext_tiny" in raised.value.suggestions


@pytest.mark.parametrize("name", ["resnet18.nope_in1k", "vit_b_16.a1_in1k", "resnet18.",
                                  "timm:resnet18.foo"])
def test_a_weight_tag_timm_does_not_have_is_refused_not_dropped(name):
    with pytest.raises(UnknownModel):
        resolve_model(name)


def test_a_torchvision_model_is_built_for_the_data_with_grey_images_repeated():
    built = build("resnet18", num_classes=5, in_channels=1, image_size=32)
    assert built.in_channels == 3 and built.input_size == 32 and built.input_note is None
    assert built.module.fc.out_features == 5
    assert built.family == "resnet"
    assert built.params_millions == pytest.approx(11.18, abs=0.01)


def test_a_vit_is_built_for_the_datas_resolution_and_says_so():
    built = build("vit_tiny_patch16_224", num_classes=3, in_channels=3, image_size=32)
    assert built.module.patch_embed.img_size == (32, 32)
    assert "built for 32 px" in built.input_note
    assert built.module(torch.zeros(2, 3, 32, 32)).shape == (2, 3)


def test_a_model_that_cannot_take_the_resolution_gets_resized_images_and_says_so():
    params, family, note = describe_model("maxvit_t", 10, 3, 64)
    assert params > 25 and family == "maxvit"
    assert "resized from 64 px to 224 px" in note
    _, _, note = describe_model("inception_v3", 10, 3, 32)
    assert "resized from 32 px" in note


def test_parameter_counts_are_the_built_models_without_building_them_for_real():
    params, family, _ = describe_model("convnext_tiny", 10, 3, 64)
    assert params == pytest.approx(27.83, abs=0.01) and family == "convnext"


def test_torchvision_weights_load_the_backbone_and_replace_the_head(tmp_path):
    torch.manual_seed(1)
    source = torchvision.models.resnet18()  # an ImageNet-shaped head: 1000 classes
    torch.save(source.state_dict(), tmp_path / "r18.pth")
    built = build("resnet18", 4, 3, 32, pretrained=True, weights=tmp_path / "r18.pth")
    model = built.module
    assert torch.equal(model.conv1.weight, source.conv1.weight)
    assert torch.equal(model.layer4[1].bn2.running_mean, source.layer4[1].bn2.running_mean)
    assert model.fc.out_features == 4
    assert built.pretrained.replaced == ["fc.weight", "fc.bias"]
    assert built.pretrained.loaded == len(source.state_dict()) - 2
    assert built.mean == (0.485, 0.456, 0.406)


def test_weights_that_do_not_fit_the_backbone_are_refused(tmp_path):
    torch.save(torchvision.models.resnet34().state_dict(), tmp_path / "r34.pth")
    with pytest.raises(ValueError, match="does not fit this model"):
        build("resnet18", 4, 3, 32, pretrained=True, weights=tmp_path / "r34.pth")


def test_timm_weights_load_with_timms_own_loader_resampling_a_vit(tmp_path):
    torch.manual_seed(2)
    source = timm.create_model("vit_tiny_patch16_224")  # 224 px, 1000 classes
    torch.save(source.state_dict(), tmp_path / "vit.pth")
    built = build("vit_tiny_patch16_224", 6, 3, 32, pretrained=True,
                  weights=tmp_path / "vit.pth")
    model = built.module
    assert torch.equal(model.patch_embed.proj.weight, source.patch_embed.proj.weight)
    assert torch.equal(model.blocks[-1].mlp.fc2.weight, source.blocks[-1].mlp.fc2.weight)
    assert model.pos_embed.shape[1] == 1 + 4  # (32 / 16)^2 patches and the class token
    assert model.head.out_features == 6 and built.pretrained.replaced == ["head.weight",
                                                                          "head.bias"]
    assert built.mean == (0.5, 0.5, 0.5)


def test_weights_declared_in_the_worker_config_are_found(tmp_path, hub_dir):
    torch.save(torchvision.models.mobilenet_v3_small().state_dict(), tmp_path / "m.pth")
    config = tmp_path / "worker.json"
    config.write_text(json.dumps({"datasets": [], "weights": [
        {"model": "MobileNetV3_small", "path": "m.pth"}]}))
    assert register_weights_from_config(config) == ["torchvision:mobilenet_v3_small"]
    found = find_weights("torchvision", "mobilenet_v3_small")
    assert found.source == "config" and found.path == tmp_path / "m.pth"
    built = build("mobilenet_v3_small", 3, 3, 32, pretrained=True)
    assert built.pretrained.source == "config" and built.pretrained.replaced


def test_weights_in_the_torch_hub_cache_are_found_under_torchvisions_file_name(hub_dir):
    (hub_dir / "checkpoints").mkdir(parents=True)
    torch.save(torchvision.models.resnet18().state_dict(),
               hub_dir / "checkpoints" / "resnet18-f37072fd.pth")
    found = find_weights("torchvision", "resnet18")
    assert found.source == "torch_hub"
    assert "torchvision:resnet18" in weights_module.available_weights()
    assert build("resnet18", 3, 3, 32, pretrained=True).pretrained.loaded > 100


def test_no_local_weights_is_a_value_error_saying_where_they_are_looked_for(hub_dir):
    with pytest.raises(ValueError, match="no local weights for torchvision:resnet18") as raised:
        build("resnet18", 3, 3, 32, pretrained=True)
    assert str(hub_dir / "checkpoints") in str(raised.value)
    assert "never downloaded" in where_weights_are_looked_for()
    with pytest.raises(ValueError, match="no local weights for timm:vit_tiny_patch16_224"):
        build("vit_tiny_patch16_224", 3, 3, 32, pretrained=True)


def test_built_in_nets_have_no_pretrained_weights():
    with pytest.raises(ValueError, match="built-in network"):
        build("small_cnn", 3, 3, 32, pretrained=True)


def test_timm_weights_in_the_hugging_face_cache_are_offered_by_tag_and_by_name(tmp_path,
                                                                             hub_dir):
    """A file laid out as huggingface_hub caches it (models--timm--NAME/snapshots/REV/...)."""
    import timm as timm_library
    from safetensors.torch import save_file

    config = timm_library.models.get_pretrained_cfg("resnet10t")
    repo = config.hf_hub_id.split("@")[0]
    snapshot = tmp_path / "hf" / f"models--{repo.replace('/', '--')}" / "snapshots" / "abc123"
    snapshot.mkdir(parents=True)
    (tmp_path / "hf" / f"models--{repo.replace('/', '--')}" / "refs").mkdir()
    (tmp_path / "hf" / f"models--{repo.replace('/', '--')}" / "refs" / "main").write_text("abc123")
    save_file(timm_library.create_model("resnet10t").state_dict(),
              str(snapshot / "model.safetensors"))
    import huggingface_hub.constants

    previous = huggingface_hub.constants.HF_HUB_CACHE
    huggingface_hub.constants.HF_HUB_CACHE = str(tmp_path / "hf")
    try:
        offered = weights_module.available_weights()
        tag = f"timm:resnet10t.{config.tag}"
        assert offered["timm:resnet10t"].source == "hf_hub" and tag in offered
        built = build("timm:resnet10t", 3, 3, 32, pretrained=True)
        assert built.pretrained.source == "hf_hub" and built.pretrained.replaced
    finally:
        huggingface_hub.constants.HF_HUB_CACHE = previous
