"""Each rule: its worked example, when it fires and when it does not, its value and reason."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from advisor import HYPERPARAMETER_KEYS, AdvisorInputError, recommend
from advisor.rules import ADVICE, RULES
from advisor.schemas import Recommendation
from advisor.sources import ALL_SECTIONS, DOCUMENTS

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def guidance_dir() -> Path:
    """The guidance the rules cite: shared/guidance beside the checkout (as in CI), or
    HPADVISOR_GUIDANCE_DIR."""
    candidates = [os.environ.get("HPADVISOR_GUIDANCE_DIR", ""), REPO.parent / "shared/guidance",
                  "/work/shared/guidance"]
    for candidate in candidates:
        if candidate and Path(candidate).is_dir():
            return Path(candidate)
    pytest.fail("guidance documents not found: set HPADVISOR_GUIDANCE_DIR")


def values(request: dict) -> dict:
    return recommend(request).hyperparameters


def fired(request: dict, key: str) -> list[str]:
    return recommend(request).explanation(key).rules


@pytest.mark.parametrize("rule", RULES, ids=lambda r: r.id)
def test_rule_worked_example_holds(rule):
    assert rule.example is not None, f"{rule.id} has no worked example"
    request, expected = rule.example
    evidence = request.get("evidence", [])
    rec = recommend({k: v for k, v in request.items() if k != "evidence"}, evidence)
    for key, value in expected.items():
        assert key in rule.sets
        got = rec.hyperparameters[key]
        assert got == (pytest.approx(value) if isinstance(value, float) else value), key
        assert rule.id in rec.explanation(key).rules


@pytest.mark.parametrize("rule", [*RULES, *ADVICE], ids=lambda r: r.id)
def test_rule_documents_itself(rule):
    assert rule.summary and rule.sources
    if hasattr(rule, "sets"):
        assert set(rule.sets) <= set(HYPERPARAMETER_KEYS)


def test_rule_ids_unique():
    ids = [r.id for r in [*RULES, *ADVICE]]
    assert len(ids) == len(set(ids))


def test_every_cited_section_exists_in_its_guidance_document(guidance_dir: Path):
    texts = {doc: (guidance_dir / doc).read_text() for doc in DOCUMENTS}
    for section in ALL_SECTIONS:
        assert section.anchor in texts[section.document], section


def test_every_key_explained_with_an_existing_source(guidance_dir: Path):
    rec = recommend({"model": {"name": "resnet50"}, "training": {"batch_size": 1024}})
    assert [e.key for e in rec.explanations] == list(HYPERPARAMETER_KEYS)
    cited = {(s.document, s.section) for s in ALL_SECTIONS}
    for e in rec.explanations:
        assert e.reason and e.rule == e.rules[-1]
        assert e.sources, e.key
        for source in e.sources:
            assert (guidance_dir / source.document).is_file()
            assert (source.document, source.section) in cited


# --- learning rate ------------------------------------------------------------------------------

def test_resnet50_at_1024_gets_linearly_scaled_rate_with_its_arithmetic():
    rec = recommend({"model": {"name": "resnet50"}, "training": {"batch_size": 1024}})
    assert rec.hyperparameters["learning_rate"] == pytest.approx(0.4)
    assert "0.1 x 1024/256" in rec.explanation("learning_rate").reason


def test_adamw_base_rate_is_per_512():
    rec = recommend({"model": {"name": "deit_small_patch16_224"},
                     "training": {"batch_size": 1024}})
    assert rec.hyperparameters["optimizer"] == "adamw"
    assert rec.hyperparameters["learning_rate"] == pytest.approx(1e-3)


def test_vgg_without_batch_norm_gets_tenfold_lower_rate():
    assert values({"model": {"name": "vgg16"}})["learning_rate"] == pytest.approx(0.01)
    assert values({"model": {"name": "vgg16_bn"}})["learning_rate"] == pytest.approx(0.1)


@pytest.mark.parametrize(("batch", "rate"), [(512, 0.003), (4, 0.001), (2048, 0.006)])
def test_fine_tuning_rate_follows_bit_not_linear_scaling(batch, rate):
    """ImageNet-21k CNN weights (BiT-M) fine-tune by BiT's HyperRule."""
    request = {"model": {"name": "resnet50"}, "dataset": {"num_train_images": 5000},
               "training": {"batch_size": batch, "pretraining": "supervised-21k"}}
    assert values(request)["learning_rate"] == pytest.approx(rate)
    assert "lr.fine_tune" in fired(request, "learning_rate")


def test_from_scratch_rate_is_not_lowered_for_fine_tuning():
    request = {"model": {"name": "resnet50"}, "dataset": {"num_train_images": 500}}
    assert "lr.fine_tune" not in fired(request, "learning_rate")


# --- optimizer ----------------------------------------------------------------------------------

@pytest.mark.parametrize(("model", "optimizer"), [
    ("resnet50", "sgd"), ("vit_b_16", "adamw"), ("swin_t", "adamw"), ("convnext_tiny", "adamw"),
    ("efficientnet_b0", "rmsprop"), ("mobilenet_v3_large", "rmsprop"),
    ("MobileNetV2_x0_25", "sgd"), ("efficientnet_v2_s", "sgd"),
])
def test_optimizer_follows_the_models_recipe_lineage(model, optimizer):
    assert values({"model": {"name": model}})["optimizer"] == optimizer


def test_very_large_batch_gets_layerwise_optimizers():
    assert values({"model": {"name": "resnet50"},
                   "training": {"batch_size": 32768}})["optimizer"] == "lars"
    assert values({"model": {"name": "vit_b_16"},
                   "training": {"batch_size": 32768}})["optimizer"] == "lamb"


def test_fast_convergence_goal_picks_adaptive_optimizer_for_cnn():
    rec = recommend({"model": {"name": "resnet50"}, "training": {"goal": "fast_convergence"}})
    assert rec.hyperparameters["optimizer"] == "adamw"
    assert "fast convergence" in rec.explanation("optimizer").reason


def test_imposed_optimizer_is_kept_and_values_fit_it():
    rec = recommend({"model": {"name": "vit_b_16"},
                     "training": {"optimizer": "momentum", "batch_size": 512}})
    assert rec.hyperparameters["optimizer"] == "sgd"
    assert rec.explanation("optimizer").rule == "optimizer.user_choice"
    assert rec.hyperparameters["learning_rate"] == pytest.approx(0.2)
    assert rec.hyperparameters["weight_decay"] < 1e-3  # coupled L2 scale, not AdamW's 0.05


# --- schedule and warmup ------------------------------------------------------------------------

def test_large_batch_gets_five_warmup_epochs_from_zero():
    rec = values({"model": {"name": "resnet50"}, "training": {"batch_size": 4096}})
    assert rec["warmup_epochs"] == 5 and rec["warmup_start_lr"] == 0.0


def test_small_batch_sgd_gets_no_warmup():
    assert values({"model": {"name": "resnet50"}, "training": {"batch_size": 256}})[
        "warmup_epochs"] == 0


def test_warmup_is_capped_in_short_runs():
    assert values({"model": {"name": "vit_b_16"}, "training": {"epochs": 20}})[
        "warmup_epochs"] == 2


def test_piecewise_for_short_runs_and_cosine_for_long_runs():
    short = values({"model": {"name": "resnet50"}, "training": {"epochs": 120}})
    assert short["lr_schedule"] == "piecewise"
    assert short["lr_schedule_params"]["milestones"] == [30, 60, 90]
    assert values({"model": {"name": "resnet50"},
                   "training": {"epochs": 200}})["lr_schedule"] == "cosine"


def test_rmsprop_long_runs_decay_exponentially():
    rec = values({"model": {"name": "efficientnet_b0"}, "training": {"epochs": 350}})
    assert rec["lr_schedule"] == "exponential"
    assert rec["lr_schedule_params"]["gamma_per_epoch"] == pytest.approx(0.97 ** (1 / 2.4),
                                                                         rel=1e-4)


# --- weight decay -------------------------------------------------------------------------------

def test_small_mobilenet_gets_small_decay_and_resnet_standard():
    assert values({"model": {"name": "MobileNetV1_x0_25"}})["weight_decay"] == pytest.approx(3e-5)
    assert values({"model": {"name": "resnet50"},
                   "training": {"epochs": 90}})["weight_decay"] == pytest.approx(1e-4)


def test_strong_augmentation_lowers_decay_to_seven_e_minus_five():
    request = {"model": {"name": "resnet50"},
               "training": {"augmentation": "strong", "epochs": 200}}
    assert values(request)["weight_decay"] == pytest.approx(7e-5)
    assert "wd.strong_augmentation" in fired(request, "weight_decay")


def test_small_dataset_takes_the_cifar_lineage_decay():
    request = {"model": {"name": "resnet50"},
               "dataset": {"num_train_images": 50_000, "num_classes": 100, "image_size": 32}}
    assert values(request)["weight_decay"] == pytest.approx(2.2e-4)


def test_adamw_uses_decoupled_scale():
    assert values({"model": {"name": "swin_t"}})["weight_decay"] == pytest.approx(0.05)


def test_no_bias_decay_always_on():
    assert values({"model": {"name": "resnet18"}})["no_bias_decay"] is True


# --- label smoothing ----------------------------------------------------------------------------

def test_label_smoothing_off_for_resnet18_in_guidance_length_run():
    assert values({"model": {"name": "resnet18"},
                   "training": {"epochs": 120}})["label_smoothing"] == 0.0


def test_label_smoothing_on_for_large_model_long_run():
    assert values({"model": {"name": "ResNet50_vd"},
                   "training": {"epochs": 200}})["label_smoothing"] == 0.1


def test_label_smoothing_reconciled_for_small_models_in_very_long_runs():
    rec = recommend({"model": {"name": "PPLCNet_x0_25"}, "training": {"epochs": 360}})
    assert rec.hyperparameters["label_smoothing"] == 0.1
    assert "360-epoch" in rec.explanation("label_smoothing").reason


def test_label_smoothing_off_for_easy_task():
    assert values({"model": {"name": "resnet50"}, "dataset": {"num_classes": 10},
                   "training": {"epochs": 200}})["label_smoothing"] == 0.0


# --- augmentation -------------------------------------------------------------------------------

def test_small_network_gets_weaker_crop():
    rec = values({"model": {"name": "MobileNetV2_x0_25"}})
    assert rec["crop_scale"] == [0.2, 1.0]
    assert values({"model": {"name": "resnet50"}})["crop_scale"] == [0.08, 1.0]


def test_transformers_get_strong_augmentation_table():
    rec = values({"model": {"name": "deit_base_patch16_224"}})
    assert (rec["mixup_alpha"], rec["cutmix_alpha"], rec["random_erasing"]) == (0.8, 1.0, 0.25)
    assert rec["auto_augment"] == "randaugment"


def test_transformer_runs_of_a_few_hundred_steps_get_crop_and_flip_only():
    profile = {"model": {"name": "deit_tiny_patch16_224"},
               "dataset": {"num_train_images": 800, "num_classes": 5, "image_size": 32}}
    short = recommend({**profile, "training": {"batch_size": 16, "epochs": 4}})  # 200 steps
    assert short.hyperparameters["augmentation"] == "standard"
    assert (short.hyperparameters["mixup_alpha"], short.hyperparameters["cutmix_alpha"],
            short.hyperparameters["auto_augment"]) == (0.0, 0.0, "none")
    assert "200 optimizer steps" in next(e.reason for e in short.explanations
                                         if e.key == "augmentation")
    long = recommend({**profile, "training": {"batch_size": 16, "epochs": 300}})
    assert long.hyperparameters["augmentation"] == "strong"


def test_flip_off_when_labels_change_under_mirroring():
    rec = recommend({"model": {"name": "resnet20", "params_millions": 0.27},
                     "dataset": {"num_train_images": 1437, "num_classes": 10, "image_size": 32,
                                 "horizontal_flip_ok": False}})
    assert rec.hyperparameters["horizontal_flip"] is False
    assert any("flip" in w for w in rec.warnings)


def test_no_augmentation_means_whole_image():
    rec = values({"model": {"name": "resnet50"}, "training": {"augmentation": "none"}})
    assert rec["crop_scale"] == [1.0, 1.0] and rec["horizontal_flip"] is False


# --- advice, model resolution, contract ---------------------------------------------------------

def test_advice_for_small_model_names_distillation_and_precision():
    ids = {a.id for a in recommend({"model": {"name": "MobileNetV2_x0_25"}}).advice}
    assert {"advice.knowledge_distillation", "advice.reduced_precision"} <= ids
    big = {a.id for a in recommend({"model": {"name": "resnet152"}}).advice}
    assert "advice.knowledge_distillation" not in big


def test_unknown_model_without_size_suggests_close_names():
    with pytest.raises(AdvisorInputError) as caught:
        recommend({"model": {"name": "resnet51"}})
    assert caught.value.field == "model.name"
    assert "resnet50" in caught.value.suggestions


def test_unknown_model_with_size_works_from_size_and_warns():
    rec = recommend({"model": {"name": "my_net", "params_millions": 1.0}})
    assert rec.hyperparameters["weight_decay"] == pytest.approx(3e-5)
    assert rec.warnings


def test_name_lookup_is_case_dash_and_underscore_insensitive():
    assert recommend({"model": {"name": "ResNet-50"}}).model == "resnet50"


def test_model_or_size_is_required():
    with pytest.raises(ValueError, match="model"):
        recommend({"model": {}})


def test_response_round_trips_through_json():
    rec = recommend({"model": {"name": "vit_b_16"}, "training": {"batch_size": 4096}})
    assert Recommendation.model_validate(json.loads(rec.model_dump_json())) == rec


def test_search_space_is_centred_on_the_advice_and_wider_for_small_data():
    big = recommend({"model": {"name": "resnet50"}})
    small = recommend({"model": {"name": "resnet50"},
                       "dataset": {"num_train_images": 2000, "num_classes": 10}})
    lr_big = next(d for d in big.search_space if d.key == "learning_rate")
    lr_small = next(d for d in small.search_space if d.key == "learning_rate")
    assert lr_big.low < lr_big.default < lr_big.high and lr_big.log
    assert lr_small.high / lr_small.default > lr_big.high / lr_big.default


def test_short_tuning_runs_decay_by_cosine_not_steps():
    rec = recommend({"model": {"name": "resnet50"}, "training": {"epochs": 15}})
    assert rec.hyperparameters["lr_schedule"] == "cosine"
    assert "too short for piecewise" in rec.explanation("lr_schedule").reason


def test_small_data_from_scratch_follows_the_cifar_lineage():
    digits = {"model": {"name": "resnet20", "params_millions": 0.27},
              "dataset": {"num_train_images": 1437, "num_classes": 10, "image_size": 32}}
    rec = recommend({**digits, "training": {"batch_size": 128, "epochs": 200}})
    assert rec.hyperparameters["learning_rate"] == pytest.approx(0.1)
    assert "lr.small_data_from_scratch" in rec.explanation("learning_rate").rules
    huge_batch = recommend({**digits, "training": {"batch_size": 1024, "epochs": 1000}})
    assert huge_batch.hyperparameters["learning_rate"] == pytest.approx(0.283)
    imagenet = recommend({"model": {"name": "resnet50"}})
    assert "lr.small_data_from_scratch" not in imagenet.explanation("learning_rate").rules
    pretrained = recommend({**digits, "training": {"pretrained": True}})
    assert "lr.small_data_from_scratch" not in pretrained.explanation("learning_rate").rules
