"""Calibration: evidence from similar finished studies moves the advice, bounded and explained."""

from __future__ import annotations

import math

import pytest

from advisor import recommend

REQUEST = {"model": {"name": "resnet20", "params_millions": 0.27},
           "dataset": {"num_train_images": 1437, "num_classes": 10, "image_size": 32},
           "training": {"batch_size": 128, "epochs": 15}}
PROFILE = {"params_millions": 0.27, "num_train_images": 1437, "num_classes": 10,
           "image_size": 32, "batch_size": 128, "epochs": 15, "optimizer": "sgd"}


def record(job, lr_ratio=None, wd_ratio=None, profile=None, **extra):
    ratios = {}
    if lr_ratio is not None:
        ratios["learning_rate"] = math.log(lr_ratio)
    if wd_ratio is not None:
        ratios["weight_decay"] = math.log(wd_ratio)
    return {"job_id": job, "profile": {**PROFILE, **(profile or {})}, "advised": {}, "best": {},
            **{"log_ratios": ratios, "n_complete": 10, **extra}}


def test_no_evidence_gives_exactly_the_rule_based_answer():
    assert recommend(REQUEST, []) == recommend(REQUEST)


def test_consistent_evidence_moves_rate_its_way_and_names_the_jobs():
    base = recommend(REQUEST).hyperparameters["learning_rate"]
    rec = recommend(REQUEST, [record(7, 8.0), record(9, 12.0), record(11, 10.0)])
    calibrated = rec.hyperparameters["learning_rate"]
    assert base < calibrated < base * 10
    explanation = rec.explanation("learning_rate")
    assert explanation.rule == "calibration.numeric"
    assert explanation.rules[0] == "lr.linear_scaling"  # the base rule stays visible
    assert "jobs 7, 9, 11" in explanation.reason and "3 similar" in explanation.reason


def test_more_agreeing_studies_move_further_but_stay_bounded():
    base = recommend(REQUEST).hyperparameters["learning_rate"]
    one = recommend(REQUEST, [record(1, 30.0)]).hyperparameters["learning_rate"]
    many = recommend(REQUEST, [record(i, 30.0) for i in range(20)]).hyperparameters[
        "learning_rate"]
    assert base < one < many <= base * 10 * 1.001


def test_evidence_can_lower_a_value():
    base = recommend(REQUEST).hyperparameters["weight_decay"]
    rec = recommend(REQUEST, [record(1, wd_ratio=0.2), record(2, wd_ratio=0.25)])
    assert rec.hyperparameters["weight_decay"] < base


def test_conflicting_evidence_changes_nothing():
    rec = recommend(REQUEST, [record(1, 10.0), record(2, 0.1)])
    assert rec.hyperparameters == recommend(REQUEST).hyperparameters


@pytest.mark.parametrize("profile", [
    {"optimizer": "adamw"}, {"params_millions": 25.0}, {"num_train_images": 1_000_000},
    {"image_size": 224}, {"pretrained": True},
])
def test_dissimilar_evidence_changes_nothing(profile):
    rec = recommend(REQUEST, [record(1, 10.0, profile=profile), record(2, 10.0, profile=profile)])
    assert rec == recommend(REQUEST)


def test_schedule_flips_only_on_strong_evidence():
    wins = {"categorical_wins": {"lr_schedule": "piecewise"}}
    two = recommend(REQUEST, [record(i, **wins) for i in (1, 2)])
    assert two.hyperparameters["lr_schedule"] == "cosine"
    three = recommend(REQUEST, [record(i, **wins) for i in (1, 2, 3)])
    assert three.hyperparameters["lr_schedule"] == "piecewise"
    assert three.hyperparameters["lr_schedule_params"]["milestones"] == [5, 10]


def test_search_space_shifts_and_narrows_with_evidence():
    def lr_dim(rec):
        return next(d for d in rec.search_space if d.key == "learning_rate")
    plain = lr_dim(recommend(REQUEST))
    informed = lr_dim(recommend(REQUEST, [record(i, 10.0) for i in range(4)]))
    assert informed.default > plain.default
    assert informed.high / informed.low < plain.high / plain.low


def test_evidence_that_confirms_the_advice_is_cited_without_change():
    rec = recommend(REQUEST, [record(3, 1.0), record(4, 1.0)])
    assert rec.hyperparameters == recommend(REQUEST).hyperparameters
    explanation = rec.explanation("learning_rate")
    assert "jobs 3, 4" in explanation.reason and "confirmed" in explanation.reason


def test_conflicting_evidence_is_cited_as_disagreeing():
    reason = recommend(REQUEST, [record(1, 10.0), record(2, 0.1)]).explanation(
        "learning_rate").reason
    assert "disagree" in reason


def test_rule_based_values_are_kept_beside_calibrated_ones():
    rec = recommend(REQUEST, [record(1, 8.0), record(2, 8.0)])
    base = recommend(REQUEST).hyperparameters["learning_rate"]
    assert rec.rule_based == {"learning_rate": base}
    assert recommend(REQUEST).rule_based == {}


def test_a_study_with_too_few_complete_trials_is_not_evidence():
    rec = recommend(REQUEST, [record(1, 10.0, n_complete=3)])
    assert rec == recommend(REQUEST)
