"""Recover when the advice is wrong: a learning-rate range test before a job's first trial, and
a stop for trials that diverge.

`range_test` trains the advised configuration on the job's own data for a few dozen steps
while the rate rises geometrically (Smith 2015, "Cyclical learning rates"; the LR finders of
fastai and Lightning), smoothing the loss and stopping where it explodes. `decide` reads it:
the rate of the lowest smoothed loss is the top of the useful range (beyond it the loss rises);
an advised rate above it, or a hundred times below it, is outside the stable range, and the
starting point moves to a tenth of it (fastai's suggestion) with the region re-centred there
and capped where the loss exploded. `probe_job` runs both when a worker seeds a job, stores the
moved region on the job (so every worker's trials search it), and records what the probe found
on the study (`PROBE_ATTR`), which the job's result reports. `diverged` stops a trial whose
training loss is not finite or has exploded, at the epoch it happens.

Measured on digits with resnet20 (bench/demo_check.py --probe; docs/seeded_search.md).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import optuna

from advisor.schemas import SearchDimension
from worker.job_rows import JobRows

log = logging.getLogger("hpadvisor.worker")

#: Study user attribute holding what the probe found (JSON), read by `worker.results`.
PROBE_ATTR = "hpadvisor_probe"
#: The range test spans the region widened by this factor each way.
SPAN = 10.0
MIN_STEPS, MAX_STEPS = 16, 100
#: The smoothed loss has exploded when it is this many times its lowest value.
EXPLOSION = 4.0
#: In the range test, a loss this many times its lowest is where the rate stops being stable
#: (the test is short, so a milder rise than fastai's 4x already marks the cliff).
RANGE_EXPLOSION = 1.5
#: An advised rate this far below the best rate of the range test, where the loss has not
#: moved (STILL x its first value), is too low to train.
TOO_LOW = 100.0
STILL = 0.98
#: The loss at the advised rate this many times the lowest: it has turned up, past the cliff.
TURNED_UP = 1.2
#: Cross-entropy at initialisation is ln(classes) (< 12 for 100k classes): a first epoch above
#: this has blown up.
FIRST_EPOCH_LIMIT = 20.0


def diverged(curves: Mapping[str, list[float]]) -> str | None:
    """Why a trial's training has diverged, from its per-epoch curves; None while it has not."""
    losses = curves.get("train_loss") or []
    if not losses:
        return None
    last = losses[-1]
    if not math.isfinite(last):
        return f"diverged: training loss is {last} at epoch {len(losses)}"
    if len(losses) == 1 and last > FIRST_EPOCH_LIMIT:
        return f"diverged: training loss {last:.3g} after the first epoch"
    lowest = min(losses)
    if len(losses) > 1 and last > EXPLOSION * lowest and last > 1.0:
        return (f"diverged: training loss {last:.3g} at epoch {len(losses)}, "
                f"{last / lowest:.1f}x its lowest ({lowest:.3g})")
    return None


def probe_steps(config: Mapping[str, Any], num_train: int) -> int:
    """A quarter of one trial's steps, between 16 and 100 (a job of trials shorter than 16
    steps is not probed: see `probe_job`)."""
    return max(MIN_STEPS, min(MAX_STEPS, trial_steps(config, num_train) // 4))


def trial_steps(config: Mapping[str, Any], num_train: int) -> int:
    batch = max(1, min(int(config.get("batch_size", 128)), num_train))
    return max(1, num_train // batch) * int(config.get("epochs", 1))


def range_test(config: Mapping[str, Any], dataset: str, model: str, low: float, high: float,
               *, steps: int | None = None, device: str = "cpu", seed: int = 0,
               threads: int | None = 1, pretrained: bool = False,
               cache_dir: Path | None = None, memory_budget: int | None = None,
               data_fraction: float = 1.0, image_size: int | None = None) -> dict[str, Any]:
    """Train `model` on `dataset` with `config` for `steps` steps while the rate rises from
    `low` to `high` geometrically; the rates, smoothed losses and where the loss exploded. With
    `data_fraction` and `image_size` it trains as the job's trials do: on their subset of the
    training images, with the model built for their resolution (batches resized to it)."""
    import torch
    import torch.nn.functional as F

    from worker.trainer import TrialConfig, build, load_dataset
    from worker.trainer.optim import build_optimizer, parameter_groups
    from worker.trainer.run import normaliser_for, resolve_device

    started = time.perf_counter()
    cfg = TrialConfig.from_mapping(config)
    data = load_dataset(dataset, cache_dir=cache_dir,
                        memory_budget=memory_budget).training_subset(data_fraction)
    target = resolve_device(device)
    steps = steps or probe_steps(config, len(data.y_train))
    previous_threads = torch.get_num_threads()
    if threads:
        torch.set_num_threads(threads)
    try:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            built = build(model, data.profile.num_classes, int(data.x_train.shape[1]),
                          image_size or int(data.x_train.shape[-1]), pretrained=pretrained)
            net = built.module.to(target)
            normaliser = normaliser_for(data, built, target)
            optimizer = build_optimizer(cfg.optimizer, parameter_groups(
                net, cfg.weight_decay, cfg.no_bias_decay), low, cfg.momentum)
            generator = torch.Generator().manual_seed(seed)
            batch = max(1, min(cfg.batch_size, len(data.y_train)))
            rates, losses = [], []
            smooth, best, exploded_at = 0.0, math.inf, None
            net.train()
            for step in range(steps):
                rate = low * (high / low) ** (step / max(1, steps - 1))
                for group in optimizer.param_groups:
                    group["lr"] = rate
                index = torch.randint(len(data.y_train), (batch,), generator=generator)
                images = normaliser(data.x_train[index].to(target))
                labels = data.y_train[index].to(target)
                output = net(images)
                logits = output if isinstance(output, torch.Tensor) else output[0]
                loss = F.cross_entropy(logits.float(), labels,
                                       label_smoothing=cfg.label_smoothing)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                value = float(loss.detach())
                smooth = 0.7 * smooth + 0.3 * value
                smoothed = smooth / (1 - 0.7 ** (step + 1))
                rates.append(rate)
                losses.append(smoothed)
                if not math.isfinite(smoothed) or (step > 2 and smoothed > RANGE_EXPLOSION * best):
                    exploded_at = rate
                    break
                best = min(best, smoothed)
    finally:
        torch.set_num_threads(previous_threads)
    finite = [(loss, rate) for loss, rate in zip(losses, rates, strict=True)
              if math.isfinite(loss)]
    best_rate = min(finite)[1] if finite else low
    return {"low": low, "high": high, "steps": len(rates), "rates": rates, "losses": losses,
            "best_rate": best_rate, "exploded_at": exploded_at,
            "num_train": len(data.y_train), "image_size": built.input_size,
            "seconds": round(time.perf_counter() - started, 2)}


def decide(test: Mapping[str, Any], dim: SearchDimension) -> tuple[SearchDimension, dict[str, Any]]:
    """The learning-rate dimension after the range test, and what the probe found."""
    advised = float(dim.default)
    low, high = float(dim.low or advised / 3), float(dim.high or advised * 3)
    width = math.sqrt(high / low)
    best, exploded = float(test["best_rate"]), test.get("exploded_at")
    at_advised = _loss_at(test, advised)
    lowest = min((loss for loss in test.get("losses", []) if math.isfinite(loss)),
                 default=math.nan)
    first = next(iter(test.get("losses", [])), math.nan)
    finding: dict[str, Any] = {
        "advised": advised, "best_rate": best, "exploded_at": exploded,
        "loss_at_advised": at_advised, "lowest_loss": lowest,
        "steps": test["steps"], "seconds": test.get("seconds"),
        "num_train": test.get("num_train"), "image_size": test.get("image_size"),
        "range": [test["low"], test["high"]], "moved": False}
    # Too high: the loss exploded near the advised rate, or had clearly turned up by then.
    too_high = advised > best and (
        (exploded is not None and advised >= exploded / 2)
        or (math.isfinite(at_advised) and at_advised > TURNED_UP * lowest))
    # Too low: far below the best rate, where the loss has not moved from where it started.
    too_low = advised < best / TOO_LOW and math.isfinite(at_advised) and (
        at_advised >= STILL * first)
    if too_high:
        start = max(best / 10, advised / 10)
        why = (f"the range test's loss was lowest at {best:.3g} and had turned up by the "
               f"advised {advised:.3g}" + (f" (it exploded at {exploded:.3g})" if exploded
                                          else "") +
               f": the advice lies above the stable range; starting at {start:.3g}")
    elif too_low:
        start = min(best / 10, advised * 10)
        why = (f"at the advised {advised:.3g} the range test's loss did not move; it fell "
               f"fastest towards {best:.3g}, over {TOO_LOW:g}x higher: starting at {start:.3g}")
    else:
        start = advised
        why = (f"the advised {advised:.3g} lies in the stable range (the loss was lowest at "
               f"{best:.3g}" + (f" and exploded at {exploded:.3g})" if exploded else ")"))
    start = float(f"{start:.3g}")
    new_low, new_high = start / width, start * width
    if exploded is not None and new_high > exploded:
        new_high = max(float(exploded), start * 1.25)
        why += f"; the region stops at {new_high:.3g}, where the loss exploded"
    finding.update(moved=start != advised, start=start, region=[new_low, new_high], reason=why)
    reason = f"{dim.reason}; probe: {why}" if dim.reason else f"probe: {why}"
    return dim.model_copy(update={"default": start, "low": new_low, "high": new_high,
                                  "reason": reason}), finding


def _explained(recommendation: dict[str, Any], finding: dict[str, Any]) -> dict[str, Any]:
    """The recommendation with the learning rate's explanation extended by the probe's move
    (the advised value stays: trial 0 takes the moved one from the job's region)."""
    explanations = []
    for explanation in recommendation.get("explanations", []):
        if explanation.get("key") == "learning_rate":
            explanation = {**explanation, "reason": f"{explanation.get('reason', '')}; then "
                           f"the worker's probe on your data moved the start to "
                           f"{finding['start']:.3g}: {finding['reason']}"}
        explanations.append(explanation)
    return {**recommendation, "explanations": explanations}


def _loss_at(test: Mapping[str, Any], rate: float) -> float:
    """The smoothed loss of the range test at the step nearest `rate` (log scale); NaN when
    the test stopped below it."""
    rates, losses = test.get("rates") or [], test.get("losses") or []
    if not rates or rate > rates[-1] * 1.5:
        return math.nan
    nearest = min(range(len(rates)), key=lambda i: abs(math.log(rates[i] / rate)))
    return float(losses[nearest])


def probe_job(rows: JobRows, job: Any, study: optuna.Study, dims: list[SearchDimension], *,
              enabled: bool = True, device: str = "cpu", threads: int | None = 1,
              cache_dir: Path | None = None,
              memory_budget: int | None = None) -> list[SearchDimension]:
    """Probe the advised rate on the job's data, move the start and region when it is outside
    the stable range, store both on the job and the finding on the study. Never fails a job:
    a probe that cannot run (another objective, no rate tuned, an error) records why and leaves
    the advice as it was."""
    from worker.schemas import BUILTIN_OBJECTIVE

    lr = next((d for d in dims if d.key == "learning_rate"), None)
    advised = dict(job.recommendation["hyperparameters"])
    skipped = (None if enabled else "HPADVISOR_PROBE=0")
    if lr is None:
        skipped = "the learning rate is not tuned"
    elif job.objective != BUILTIN_OBJECTIVE:
        skipped = f"objective {job.objective!r} is not the built-in trainer"
    if skipped is None:
        from worker.trainer import dataset_profile

        try:
            trained = dataset_profile(job.dataset).num_train * job.data_fraction
            steps = trial_steps(advised, max(1, round(trained)))
        except (KeyError, ValueError):  # not a data set of the trainer: the probe reports it
            steps = MIN_STEPS
        if steps < MIN_STEPS:
            skipped = f"a trial is {steps} steps, too short to probe"
    if skipped is not None:
        study.set_user_attr(PROBE_ATTR, {"skipped": skipped})
        return dims
    assert lr is not None
    try:
        test = range_test(advised, job.dataset, job.model_name, float(lr.low or 0) / SPAN,
                          float(lr.high or 0) * SPAN, device=device, seed=job.seed or 0,
                          threads=threads, cache_dir=cache_dir, memory_budget=memory_budget,
                          pretrained=job.pretrained, data_fraction=job.data_fraction,
                          image_size=job.trial_image_size)
        moved, finding = decide(test, lr)
    except Exception as error:  # the probe is advice about advice: never fail the job for it
        log.warning("job %d: the learning-rate probe failed: %s", job.id, error,
                    extra={"job_id": job.id})
        study.set_user_attr(PROBE_ATTR, {"error": str(error).splitlines()[0][:300]})
        return dims
    new_dims = [moved if d.key == "learning_rate" else d for d in dims]
    if finding["moved"] or moved.high != lr.high:
        space = [moved.model_dump(mode="json") if d.get("key") == "learning_rate" else d
                 for d in job.search_space]
        values: dict[str, Any] = {"search_space": space}
        if finding["moved"]:  # the explanation says what the probe changed, and why
            values["recommendation"] = _explained(job.recommendation, finding)
        rows.update_advice(job.id, values)
    study.set_user_attr(PROBE_ATTR, finding)
    log.info("job %d: learning-rate probe: %s", job.id, finding["reason"],
             extra={"job_id": job.id})
    return new_dims
