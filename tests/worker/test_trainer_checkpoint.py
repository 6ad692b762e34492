"""A trial checkpointed at an epoch end and resumed from it ends exactly where an uninterrupted
one does (CPU, fixed seed): model, optimizer, schedule and every random generator come back."""

from __future__ import annotations

import io

import pytest
import torch

from worker.trainer import load_dataset
from worker.trainer.run import run_trial

CONFIG = {"epochs": 3, "batch_size": 64, "learning_rate": 0.05, "lr_schedule": "cosine",
          "warmup_epochs": 1, "auto_augment": "randaugment", "mixup_alpha": 0.2,
          "random_erasing": 0.25, "label_smoothing": 0.1}


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits")


def through_bytes(state):
    """As the worker stores it: torch.save to a file, read back with weights_only."""
    buffer = io.BytesIO()
    torch.save(state, buffer)
    buffer.seek(0)
    return torch.load(buffer, weights_only=True)


@pytest.fixture(scope="module")
def uninterrupted(digits):
    """The whole trial, and the state it offered to save after each epoch."""
    states = {}
    whole = run_trial(CONFIG, digits, "small_cnn", device="cpu", seed=3, threads=1,
                      save=lambda epoch, capture: states.setdefault(epoch, capture()))
    return whole, states


@pytest.mark.parametrize("stopped_after", [1, 2])
def test_a_resumed_trial_ends_as_the_uninterrupted_one(digits, uninterrupted, stopped_after):
    whole, states = uninterrupted
    assert sorted(states) == [1, 2]  # not after the last epoch: the trial is done then
    reported = []
    resumed = run_trial(CONFIG, digits, "small_cnn", device="cpu", seed=3, threads=1,
                        resume=through_bytes(states[stopped_after]),
                        report=lambda epoch: reported.append(epoch.epoch))
    assert reported == list(range(stopped_after + 1, 4))  # the restored epochs are not re-reported
    assert resumed.val_accuracy == whole.val_accuracy
    assert [e.train_loss for e in resumed.history] == [e.train_loss for e in whole.history]
    for name, tensor in whole.module.state_dict().items():
        assert torch.equal(tensor, resumed.module.state_dict()[name]), name


def test_a_state_for_another_trial_length_is_refused(digits, uninterrupted):
    _, states = uninterrupted
    with pytest.raises(ValueError, match="resume: the state ends at epoch 2 of a trial of 2"):
        run_trial({**CONFIG, "epochs": 2}, digits, "small_cnn", device="cpu", threads=1,
                  resume=states[2])
