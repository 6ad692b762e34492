"""`diagnose`: the state from the curves, and concrete changes against the given config."""

from __future__ import annotations

import math

import pytest

from advisor import diagnose

CONFIG = {"weight_decay": 3e-5, "label_smoothing": 0.0, "mixup_alpha": 0.0,
          "crop_scale": [0.2, 1.0], "learning_rate": 0.4, "warmup_epochs": 0, "epochs": 30}


def test_overfitting_names_raise_decay_and_smoothing():
    d = diagnose({"train_accuracy": [0.5, 0.8, 0.95, 0.99, 1.0],
                  "val_accuracy": [0.45, 0.7, 0.75, 0.76, 0.75], "config": CONFIG})
    assert d.state == "overfitting"
    actions = [c.action for c in d.changes]
    assert "raise weight_decay from 3e-5 to 9e-5" in actions
    assert "turn label smoothing on (epsilon 0.1)" in actions
    assert d.evidence["gap"] == pytest.approx(0.25)
    assert all(c.sources for c in d.changes)


def test_underfitting_when_train_below_validation():
    d = diagnose({"train_accuracy": [40, 50, 55, 56, 56],  # percentages are accepted
                  "val_accuracy": [45, 55, 60, 61, 61],
                  "config": {**CONFIG, "label_smoothing": 0.1, "weight_decay": 1e-4}})
    assert d.state == "underfitting"
    keys = {c.key: c for c in d.changes}
    assert keys["label_smoothing"].suggested == 0.0
    assert keys["weight_decay"].suggested == pytest.approx(3.3e-5)


def test_diverging_on_nan_loss():
    d = diagnose({"train_accuracy": [0.3, 0.1, 0.1], "val_accuracy": [0.3, 0.1, 0.1],
                  "train_loss": [2.0, 5.0, math.nan], "config": CONFIG})
    assert d.state == "diverging"
    assert any(c.key == "learning_rate" and c.suggested == pytest.approx(0.08) for c in d.changes)


def test_not_converged_when_both_still_rising():
    d = diagnose({"train_accuracy": [0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.85],
                  "val_accuracy": [0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.78, 0.83], "config": CONFIG})
    assert d.state == "not_converged"
    assert d.changes[0].suggested == 45


def test_healthy_run_needs_no_change():
    d = diagnose({"train_accuracy": [0.5, 0.8, 0.9, 0.92, 0.92, 0.92],
                  "val_accuracy": [0.5, 0.78, 0.88, 0.9, 0.9, 0.9]})
    assert d.state == "healthy" and d.changes == []


def test_mismatched_lengths_are_rejected_with_the_field():
    with pytest.raises(ValueError, match="val_accuracy"):
        diagnose({"train_accuracy": [0.1, 0.2], "val_accuracy": [0.1]})


def test_early_gap_while_validation_still_climbs_is_not_yet_overfitting():
    d = diagnose({"train_accuracy": [0.2, 0.35, 0.51], "val_accuracy": [0.1, 0.16, 0.29]})
    assert d.state == "not_converged"
    assert "still rising" in d.summary


def test_common_column_spellings_are_accepted():
    d = diagnose({"train_acc": [0.5, 0.9, 0.99], "val_acc": [0.5, 0.7, 0.71]})
    assert d.state == "overfitting"
