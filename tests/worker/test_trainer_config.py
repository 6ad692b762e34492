"""Trial configuration: defaults, refused unknown keys, and ValueErrors naming the key."""

import pytest

from worker.trainer.config import TrialConfig


def test_missing_keys_get_the_documented_defaults():
    config = TrialConfig.from_mapping({})
    assert (config.optimizer, config.momentum, config.learning_rate) == ("sgd", 0.9, 0.1)
    assert (config.lr_schedule, config.warmup_epochs, config.epochs) == ("cosine", 0.0, 10)
    assert (config.weight_decay, config.no_bias_decay, config.label_smoothing) == (5e-4, True, 0.0)
    assert config.crop_scale == (0.08, 1.0)
    assert config.crop_ratio == pytest.approx((0.75, 4 / 3))
    assert config.horizontal_flip is None
    assert (config.mixup_alpha, config.cutmix_alpha, config.random_erasing) == (0.0, 0.0, 0.0)
    assert config.batch_size == 128


def test_a_key_the_runner_cannot_apply_is_refused_naming_it():
    with pytest.raises(ValueError, match=r"^colour: the trial runner cannot apply"):
        TrialConfig.from_mapping({"colour": "blue", "epochs": 3})


def test_schedule_params_no_schedule_takes_are_refused():
    with pytest.raises(ValueError, match=r"lr_schedule_params\.step_size"):
        TrialConfig.from_mapping({"lr_schedule": "piecewise",
                                  "lr_schedule_params": {"step_size": 3}})


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("optimizer", "adagrad"),
        ("momentum", 1.0),
        ("learning_rate", 0.0),
        ("learning_rate", "fast"),
        ("learning_rate", float("nan")),
        ("lr_schedule", "step"),
        ("warmup_epochs", 20),
        ("warmup_epochs", -1),
        ("epochs", 0),
        ("epochs", 2.5),
        ("weight_decay", -1e-4),
        ("no_bias_decay", "yes"),
        ("label_smoothing", 1.0),
        ("crop_scale", [0.5]),
        ("crop_scale", [0.9, 0.5]),
        ("crop_scale", [0.5, 1.5]),
        ("crop_ratio", [0.0, 1.0]),
        ("horizontal_flip", 1),
        ("mixup_alpha", -0.2),
        ("auto_augment", "augmix"),
        ("augmentation", "extreme"),
        ("cutmix_alpha", True),
        ("random_erasing", 1.5),
        ("batch_size", 0),
        ("lr_schedule_params", [1, 2]),
    ],
)
def test_invalid_values_raise_value_errors_naming_the_key(key, value):
    with pytest.raises(ValueError, match=key):
        TrialConfig.from_mapping({key: value})


def test_schedule_params_are_checked_for_the_chosen_schedule():
    with pytest.raises(ValueError, match=r"lr_schedule_params\.milestones"):
        TrialConfig.from_mapping({"lr_schedule": "piecewise", "epochs": 10,
                                  "lr_schedule_params": {"milestones": [5, 12]}})
    with pytest.raises(ValueError, match=r"lr_schedule_params\.gamma_per_epoch"):
        TrialConfig.from_mapping({"lr_schedule": "exponential",
                                  "lr_schedule_params": {"gamma_per_epoch": 0}})
    config = TrialConfig.from_mapping({"lr_schedule": "cosine",
                                       "lr_schedule_params": {"gamma": 0.5}})
    assert config.lr_schedule_params == {}  # another schedule's (a search switched it): unused
    with pytest.raises(ValueError, match=r"lr_schedule_params\.gamma"):  # but never invalid
        TrialConfig.from_mapping({"lr_schedule": "cosine", "lr_schedule_params": {"gamma": -1}})


def test_the_advisors_typed_hyperparameters_are_taken_as_they_are():
    import advisor

    answer = advisor.recommend({"model": {"name": "resnet50"},
                                "training": {"batch_size": 256, "epochs": 90}})
    config = TrialConfig.from_mapping(answer.typed_hyperparameters())
    assert config == TrialConfig.from_mapping(answer.hyperparameters)
    assert config.lr_schedule_params == {"milestones": [30.0, 60.0], "gamma": 0.1}
