"""Invariants that must hold for any profile (hypothesis)."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from advisor import HYPERPARAMETER_KEYS, recommend
from advisor.catalog import list_models
from advisor.schemas import Recommendation

MODEL_NAMES = [m.name for m in list_models()]
batches = st.integers(min_value=16, max_value=8192)
sizes = st.floats(min_value=0.3, max_value=700, allow_nan=False)
optimizers = st.sampled_from(["sgd", "adamw", "rmsprop"])
epochs = st.integers(min_value=5, max_value=600)


def profile(batch=256, size=25.0, optimizer=None, epoch=None, images=1_281_167):
    return {"model": {"params_millions": size},
            "dataset": {"num_train_images": images},
            "training": {"batch_size": batch, "optimizer": optimizer, "epochs": epoch}}


@settings(max_examples=60, deadline=None)
@given(batch=batches, factor=st.sampled_from([2, 4]), size=sizes, optimizer=optimizers,
       epoch=epochs)
def test_learning_rate_proportional_to_batch_within_one_optimizer(batch, factor, size, optimizer,
                                                                  epoch):
    small = recommend(profile(batch, size, optimizer, epoch)).hyperparameters
    large = recommend(profile(batch * factor, size, optimizer, epoch)).hyperparameters
    assert large["learning_rate"] / small["learning_rate"] == pytest.approx(factor, rel=0.02)


@settings(max_examples=60, deadline=None)
@given(size=sizes, ratio=st.floats(min_value=1.01, max_value=50), optimizer=optimizers,
       epoch=epochs, batch=batches, images=st.integers(min_value=500, max_value=20_000_000))
def test_weight_decay_never_larger_for_a_smaller_model(size, ratio, optimizer, epoch, batch,
                                                       images):
    smaller = recommend(profile(batch, size, optimizer, epoch, images)).hyperparameters
    larger = recommend(profile(batch, size * ratio, optimizer, epoch, images)).hyperparameters
    if smaller["augmentation"] == larger["augmentation"]:
        assert smaller["weight_decay"] <= larger["weight_decay"]


@settings(max_examples=40, deadline=None)
@given(name=st.sampled_from(MODEL_NAMES), batch=batches, epoch=st.none() | epochs,
       pretrained=st.booleans(), goal=st.sampled_from(["accuracy", "fast_convergence"]),
       images=st.integers(min_value=100, max_value=5_000_000),
       classes=st.integers(min_value=2, max_value=20_000))
def test_every_key_explained_and_json_round_trips(name, batch, epoch, pretrained, goal, images,
                                                  classes):
    rec = recommend({"model": {"name": name},
                     "dataset": {"num_train_images": images, "num_classes": classes},
                     "training": {"batch_size": batch, "epochs": epoch,
                                  "pretrained": pretrained, "goal": goal}})
    assert set(rec.hyperparameters) == set(HYPERPARAMETER_KEYS)
    assert {e.key for e in rec.explanations} == set(HYPERPARAMETER_KEYS)
    assert all(e.sources and e.reason for e in rec.explanations)
    assert rec.hyperparameters["learning_rate"] > 0
    assert 0 <= rec.hyperparameters["warmup_epochs"] < rec.hyperparameters["epochs"] or \
        rec.hyperparameters["epochs"] == 1
    for dim in rec.search_space:
        if dim.type != "categorical":
            assert dim.low <= dim.default <= dim.high, dim.key
    assert Recommendation.model_validate(json.loads(rec.model_dump_json())) == rec
