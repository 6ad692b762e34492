"""Learning-rate schedules (torch's schedulers, stepped per batch): values at given steps."""

import math
import warnings

import pytest
import torch

from worker.trainer.schedule import build_scheduler, schedule_values


def build_schedule(name, peak, epochs, steps_per_epoch, warmup_epochs=0.0, warmup_start_lr=0.0,
                   params=None):
    """The rate at each step, read from the optimizer as torch's scheduler sets it."""
    values = schedule_values(name, peak, epochs, steps_per_epoch, warmup_epochs,
                             warmup_start_lr, params, steps=epochs * steps_per_epoch + 1)
    return values.__getitem__


def test_schedules_are_torchs_own_and_warmup_is_a_linear_lr_in_a_sequential_lr():
    optimizer = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)
    scheduler = build_scheduler(optimizer, "cosine", 4, 10, warmup_epochs=1)
    assert isinstance(scheduler, torch.optim.lr_scheduler.SequentialLR)
    kinds = [type(s) for s in scheduler._schedulers]
    assert kinds == [torch.optim.lr_scheduler.LinearLR, torch.optim.lr_scheduler.CosineAnnealingLR]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # torch's step(0) warning at the milestone is silenced
        for _ in range(40):
            optimizer.step()
            scheduler.step()


def test_warmup_starts_at_start_lr_and_reaches_peak_after_warmup_steps():
    schedule = build_schedule("cosine", 1.0, epochs=10, steps_per_epoch=10, warmup_epochs=2,
                              warmup_start_lr=0.1)
    assert schedule(0) == pytest.approx(0.1)
    assert schedule(10) == pytest.approx(0.1 + 0.9 * 10 / 20)
    assert schedule(20) == pytest.approx(1.0)


def test_warmup_defaults_to_starting_from_zero():
    schedule = build_schedule("constant", 0.4, epochs=4, steps_per_epoch=5, warmup_epochs=1)
    assert schedule(0) == pytest.approx(0.0, abs=1e-8)  # LinearLR's smallest start: 1e-8 x peak
    assert schedule(5) == pytest.approx(0.4)
    assert schedule(19) == pytest.approx(0.4)


def test_cosine_decays_from_peak_to_zero_over_the_steps_after_warmup():
    schedule = build_schedule("cosine", 0.2, epochs=10, steps_per_epoch=10, warmup_epochs=0)
    assert schedule(0) == pytest.approx(0.2)
    assert schedule(50) == pytest.approx(0.1)
    assert schedule(100) == pytest.approx(0.0, abs=1e-12)
    assert schedule(99) < 1e-3


def test_piecewise_defaults_to_the_advisors_milestones():
    # The advisor's thirds of a short run (3 and 5 of 8 epochs), divided by 10 at each.
    schedule = build_schedule("piecewise", 1.0, epochs=8, steps_per_epoch=10)
    assert schedule(29) == pytest.approx(1.0)
    assert schedule(30) == pytest.approx(0.1)
    assert schedule(49) == pytest.approx(0.1)
    assert schedule(50) == pytest.approx(0.01)
    # ... and its quarters of a long one: 30/60/90 of 120.
    long = build_schedule("piecewise", 1.0, epochs=120, steps_per_epoch=1)
    assert [long(s) for s in (29, 30, 60, 90)] == pytest.approx([1.0, 0.1, 0.01, 0.001])


def test_piecewise_uses_given_milestones_and_gamma():
    schedule = build_schedule("piecewise", 1.0, epochs=10, steps_per_epoch=4,
                              params={"milestones": [3, 6], "gamma": 0.5})
    assert [schedule(s) for s in (11, 12, 23, 24)] == pytest.approx([1.0, 0.5, 0.5, 0.25])


def test_exponential_defaults_to_the_advisors_rate():
    # A short run decays by the factor that would end at 1% of the peak over its epochs,
    # counted from the end of warmup.
    schedule = build_schedule("exponential", 1.0, epochs=10, steps_per_epoch=10,
                              warmup_epochs=2)
    per_epoch = round(0.01 ** (1 / 10), 5)
    assert schedule(20) == pytest.approx(1.0)
    assert schedule(70) == pytest.approx(per_epoch ** 5)
    # A long one keeps the recipe's 0.97 every 2.4 epochs.
    long = build_schedule("exponential", 1.0, epochs=350, steps_per_epoch=1)
    assert long(24) == pytest.approx(0.97 ** 10, rel=1e-3)


def test_exponential_with_gamma_per_epoch():
    schedule = build_schedule("exponential", 1.0, epochs=5, steps_per_epoch=2,
                              params={"gamma_per_epoch": 0.5})
    assert schedule(2) == pytest.approx(0.5)
    assert schedule(3) == pytest.approx(math.sqrt(0.5) * 0.5)


def test_constant_keeps_the_peak():
    schedule = build_schedule("constant", 0.3, epochs=3, steps_per_epoch=7)
    assert {schedule(s) for s in range(21)} == {0.3}
