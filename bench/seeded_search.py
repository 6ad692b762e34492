"""Benchmark: does advisor-seeded search find good models in fewer trials? (issue 6, part 4)

Four ways to spend the same trial budget tuning learning_rate, weight_decay and
label_smoothing of a small ResNet (default resnet8, batch 128) on the built-in `digits` and
`shapes` data sets:

* (a) random - Optuna's RandomSampler over a generic wide space (learning_rate 1e-4..10 log,
  weight_decay 1e-6..1e-2 log, label_smoothing 0..0.3); every other key at the trial runner's
  generic defaults (SGD momentum 0.9, cosine, no warmup, random-resized-crop 0.08-1 and a
  horizontal flip where the data set allows it).
* (b) tpe - Optuna's TPESampler (Optuna's defaults, as the worker uses it) over the same space.
* (c) advisor - TPE over the advisor's search space with the advisor's configuration enqueued as
  the first trial and the keys it does not tune at the advisor's values: exactly what a job
  does (`worker.jobs.advise`, `worker.search`).
* (d) calibrated - as (c), but the recommendation and its space are calibrated with evidence
  records from the (c) studies of the *other* seeds (leave-one-out): each of those studies used
  a different seed and a different random training subset. The records are built by
  `worker.results.summarise` + `evidence_record`, the worker's own code, over a throw-away
  in-memory SQLite session.

Seed s fixes the training subset (`--train-images` drawn from the data set's training split
with seed s; the validation split is always the whole one), the sampler's seed and the trials'
training seeds (1000 s + trial number), so every variant of seed s sees the same data and a
run is deterministic. Every variant prunes with the worker's MedianPruner
(`worker.search.make_pruner("median", ...)`); a pruned or failed trial counts against the
budget and contributes no accuracy. A trial's value is the last epoch's validation accuracy, as
in the worker's built-in objective (`worker.objectives.image_classification`).

Studies run sequentially inside themselves (TPE learns from every finished trial) and in
parallel across `--workers` processes, one thread each (the best throughput on 2 cores, see
/work/shared/MEASUREMENTS.md); (d) starts when its data set's (c) studies are done. Optuna
storage is in memory.

Printed per data set, medians over seeds: the best validation accuracy after 1, 5, 10, 20
trials, and how many trials each variant needs to reach the accuracy (a) reaches with its whole
budget on the same seed (">N" when the median run never does). The issue's goal: (c) needs at
most 1/3 of (a)'s trials, (d) no more than (c).

    .venv/bin/python bench/seeded_search.py             # full: 2 data sets, 3 seeds, 20 trials
    .venv/bin/python bench/seeded_search.py --quick     # digits, 2 seeds, 6 trials, 2 epochs
    .venv/bin/python bench/seeded_search.py --datasets digits --seeds 3 --trials 20 --json
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import json
import math
import multiprocessing
import os
import statistics
import sys
import time
from concurrent.futures import Future, ProcessPoolExecutor, wait
from pathlib import Path
from typing import Any

# Run as a script, this folder comes first on sys.path and bench/advisor.py would shadow the
# advisor package.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).parent.resolve()]

import optuna
from optuna.trial import FrozenTrial, TrialState
from sqlalchemy import create_engine
from sqlalchemy.orm import Session

from advisor.schemas import (
    EvidenceRecord,
    ModelSpec,
    Recommendation,
    SearchDimension,
)
from worker import jobs, registry, results
from worker.jobs import ADVISOR_TRIAL_ATTR, ADVISOR_TRIAL_ROLE
from worker.objectives import CONFIG_ATTR, TrialContext, image_classification
from worker.schemas import JobRequest, JobTraining
from worker.search import (
    advisor_params,
    make_pruner,
    make_sampler,
    suggest,
    trial_config,
    tuned_dimensions,
)
from worker.store.models import Base, Job

VARIANTS = {
    "random": "(a) random, wide space",
    "tpe": "(b) TPE, wide space",
    "advisor": "(c) TPE, advisor space, advice first",
    "calibrated": "(d) as (c), calibrated by evidence",
    "probed": "(e) as (c), after the lr probe",
}
TUNED = ["learning_rate", "weight_decay", "label_smoothing"]
WIDE_SPACE = [
    SearchDimension(key="learning_rate", type="float", low=1e-4, high=10.0, log=True),
    SearchDimension(key="weight_decay", type="float", low=1e-6, high=1e-2, log=True),
    SearchDimension(key="label_smoothing", type="float", low=0.0, high=0.3),
]
CHECKPOINTS = (1, 5, 10, 20)
FULL = {"datasets": ["digits"], "seeds": 3, "trials": 20, "epochs": 3}
QUICK = {"datasets": ["digits"], "seeds": 2, "trials": 6, "epochs": 2}
TRAIN_IMAGES = {"full": 800, "quick": 500}


@dataclasses.dataclass(frozen=True)
class Settings:
    """What every study of one benchmark run shares."""

    trials: int
    epochs: int
    train_images: int
    model: str = "resnet8"
    batch_size: int = 32
    pruner: str = "none"


@dataclasses.dataclass(frozen=True)
class StudyKey:
    dataset: str
    variant: str
    seed: int

    def label(self) -> str:
        return f"{self.dataset} {self.variant} seed {self.seed}"


# --- data: a seeded training subset of a built-in data set ---------------------------------------

def subset_name(dataset: str, seed: int) -> str:
    return f"{dataset}-bench-s{seed}"


def register_subset(dataset: str, seed: int, train_images: int) -> str:
    """Register `train_images` training images of `dataset` drawn with `seed` (all of its
    validation images) under their own name, so the worker's code sees a data set like any."""
    import numpy as np

    from worker import trainer

    name = subset_name(dataset, seed)
    base = trainer.dataset_profile(dataset)
    size = min(train_images, base.num_train)
    profile = base.model_copy(update={
        "name": name, "num_train": size,
        "description": f"{size} training images of {dataset}, seed {seed}"})

    def load() -> trainer.LoadedDataset:
        full = trainer.load_dataset(dataset)
        rng = np.random.default_rng(seed)
        keep = np.sort(rng.choice(base.num_train, size=size, replace=False))
        return dataclasses.replace(full, profile=profile, x_train=full.x_train[keep],
                                   y_train=full.y_train[keep])

    if name not in trainer.dataset_names():
        trainer.register_dataset(name, load, profile)
    return name


# --- the worker's own pieces, outside a database ------------------------------------------------

@functools.cache
def scratch_session() -> Session:
    """An in-memory SQLite session with our tables: `registry` and `results` read from it."""
    engine = create_engine("sqlite://")
    Base.metadata.create_all(engine)
    return Session(engine)


def job_request(name: str, settings: Settings, seed: int) -> JobRequest:
    return JobRequest(dataset=name, model=ModelSpec(name=settings.model),
                      training=JobTraining(batch_size=settings.batch_size,
                                            epochs=settings.epochs),
                      n_trials=settings.trials, sampler="tpe", pruner=settings.pruner, seed=seed,
                      tune=TUNED)


def advise(request: JobRequest, evidence: list[EvidenceRecord]) -> Recommendation:
    """`worker.jobs.advise` (the profile a job gets: the model's real size, the data set's
    profile), with `evidence` handed to the advisor as the API does for calibrated advice."""
    data = registry.find_dataset(scratch_session(), request.dataset)
    assert data is not None, request.dataset
    return jobs.advise(request, data, evidence)


def generic_config(settings: Settings) -> dict[str, Any]:
    """The wide-space variants' fixed keys: the trial runner's defaults (crop 0.08-1, flip where
    allowed, SGD momentum 0.9, cosine, no warmup), at the benchmark's epochs and batch."""
    return {"epochs": settings.epochs, "batch_size": settings.batch_size}


def evidence_from(study: optuna.Study, request: JobRequest, rec: Recommendation,
                  space: list[SearchDimension], job_id: int) -> EvidenceRecord | None:
    """The record the worker writes when this study's job ends (`worker.results`)."""
    job = Job(id=job_id, dataset=request.dataset, model_name=rec.model,
              request=request.model_dump(mode="json"), recommendation=rec.model_dump(mode="json"),
              search_space=[d.model_dump(mode="json") for d in space], tune=TUNED)
    trials = study.get_trials(deepcopy=False)
    complete = [t for t in trials if t.state == TrialState.COMPLETE and t.value is not None]
    result = results.summarise(study, job, trials, complete, timed_out=False)
    return results.evidence_record(scratch_session(), job, complete, result)


# --- one study ---------------------------------------------------------------------------------

def progress(key: StudyKey, n_trials: int, started: float):
    """Print a line per finished trial; stop this worker when the benchmark process is gone."""
    parent = os.getppid()

    def callback(study: optuna.Study, trial: FrozenTrial) -> None:
        if os.getppid() != parent:
            raise SystemExit(f"{key.label()}: the benchmark process ended; stopping")
        done = [t.value for t in study.get_trials(deepcopy=False)
                if t.state == TrialState.COMPLETE and t.value is not None]
        value = "-" if trial.value is None else f"{trial.value:.4f}"
        best = f"{max(done):.4f}" if done else "-"
        print(f"[{key.label()}] trial {trial.number + 1}/{n_trials} "
              f"{trial.state.name.lower()} {value}, best so far {best} "
              f"({time.perf_counter() - started:.0f} s)", file=sys.stderr, flush=True)
    return callback


def study_setup(key: StudyKey, settings: Settings, evidence: list[EvidenceRecord]):
    """(sampler name, dimensions, fixed configuration, recommendation or None, request)."""
    name = register_subset(key.dataset, key.seed, settings.train_images)
    request = job_request(name, settings, key.seed)
    if key.variant in ("random", "tpe"):
        return key.variant, WIDE_SPACE, generic_config(settings), None, request
    rec = advise(request, evidence if key.variant == "calibrated" else [])
    dims = tuned_dimensions([d.model_dump() for d in rec.search_space], TUNED)
    if key.variant == "probed":  # what a worker does before the first trial (worker.probe)
        from worker import probe

        lr = next(d for d in dims if d.key == "learning_rate")
        test = probe.range_test(rec.hyperparameters, name, settings.model,
                                float(lr.low or 0) / probe.SPAN,
                                float(lr.high or 0) * probe.SPAN, seed=key.seed, threads=1)
        moved, finding = probe.decide(test, lr)
        dims = [moved if d.key == "learning_rate" else d for d in dims]
        PROBE_FINDINGS[key] = finding
    return "tpe", dims, dict(rec.hyperparameters), rec, request


#: What the probe found, per probed study (filled in the process that ran it).
PROBE_FINDINGS: dict[StudyKey, dict[str, Any]] = {}


def run_study(key: StudyKey, settings: Settings,
              evidence: list[dict[str, Any]]) -> dict[str, Any]:
    """Run one study in this process; return its trials (and, for (c), its evidence record)."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    records = [EvidenceRecord.model_validate(r) for r in evidence]
    sampler, dims, fixed, rec, request = study_setup(key, settings, records)
    study = optuna.create_study(direction="maximize",
                                sampler=make_sampler(sampler, key.seed),
                                pruner=make_pruner(settings.pruner, settings.epochs,
                                                   settings.trials))
    if rec is not None:
        study.enqueue_trial(advisor_params(dims),
                            user_attrs={ADVISOR_TRIAL_ATTR: ADVISOR_TRIAL_ROLE})

    def objective(trial: optuna.Trial) -> float:
        config = trial_config(fixed, suggest(trial, dims))
        trial.set_user_attr(CONFIG_ATTR, config)
        ctx = TrialContext(trial=trial, config=config, dataset=request.dataset,
                           model=settings.model, device="cpu",
                           seed=1000 * key.seed + trial.number, threads=1)
        return image_classification(ctx)

    started = time.perf_counter()
    study.optimize(objective, n_trials=settings.trials, catch=(Exception,),
                   callbacks=[progress(key, settings.trials, started)])
    out = study_summary(study, dims, rec, records)
    out["seconds"] = time.perf_counter() - started
    if key in PROBE_FINDINGS:
        out["probe"] = PROBE_FINDINGS[key]
    if key.variant == "advisor" and rec is not None:
        record = evidence_from(study, request, rec, dims, job_id=key.seed + 1)
        out["evidence"] = record.model_dump(mode="json") if record else None
    return out


def study_summary(study: optuna.Study, dims: list[SearchDimension], rec: Recommendation | None,
                  records: list[EvidenceRecord]) -> dict[str, Any]:
    trials = study.get_trials(deepcopy=False)
    values = [t.value if t.state == TrialState.COMPLETE else None for t in trials]
    complete = [t for t in trials if t.state == TrialState.COMPLETE and t.value is not None]
    best = max(complete, key=lambda t: t.value or 0.0) if complete else None
    out: dict[str, Any] = {
        "values": values, "states": [t.state.name.lower() for t in trials],
        "params": [t.params for t in trials],
        "best_params": best.params if best else None,
        "space": {d.key: [d.low, d.high] for d in dims},
        "evidence_used": [str(r.job_id) for r in records],
    }
    if rec is not None:
        out["advised"] = advisor_params(dims)
        lr = rec.explanation("learning_rate")
        out["learning_rate_reason"] = lr.reason
    return out


# --- scheduling --------------------------------------------------------------------------------

def run_all(datasets: list[str], seeds: list[int], settings: Settings,
            workers: int, variants: list[str] | None = None) -> dict[StudyKey, dict[str, Any]]:
    """Every study, `workers` at a time; (d) of a data set once all its (c) studies are done."""
    variants = variants or list(VARIANTS)
    done: dict[StudyKey, dict[str, Any]] = {}
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        pending: dict[Future[dict[str, Any]], StudyKey] = {}
        first_wave = [v for v in ("advisor", "probed", "random", "tpe") if v in variants]
        for variant in first_wave:
            for dataset in datasets:
                for seed in seeds:
                    key = StudyKey(dataset, variant, seed)
                    pending[pool.submit(run_study, key, settings, [])] = key
        waiting = set(datasets) if "calibrated" in variants else set()
        while pending:
            finished, _ = wait(pending, return_when="FIRST_COMPLETED")
            for future in finished:
                done[pending.pop(future)] = future.result()
            for dataset in [d for d in waiting if all(
                    StudyKey(d, "advisor", s) in done for s in seeds)]:
                waiting.discard(dataset)
                for seed in seeds:
                    evidence = [done[StudyKey(dataset, "advisor", s)]["evidence"]
                                for s in seeds if s != seed]
                    key = StudyKey(dataset, "calibrated", seed)
                    pending[pool.submit(run_study, key, settings,
                                        [e for e in evidence if e])] = key
    return done


# --- figures -----------------------------------------------------------------------------------

def best_so_far(values: list[float | None]) -> list[float]:
    best, out = 0.0, []
    for value in values:
        best = max(best, value or 0.0)
        out.append(best)
    return out


def trials_to_reach(values: list[float | None], target: float) -> float:
    """1-based trial count at which the best so far reaches `target`; inf when never."""
    return next((n + 1 for n, b in enumerate(best_so_far(values)) if b >= target - 1e-9),
                math.inf)


def checkpoints(trials: int) -> list[int]:
    return [c for c in CHECKPOINTS if c < trials] + [trials]


def dataset_figures(done: dict[StudyKey, dict[str, Any]], dataset: str,
                    seeds: list[int], trials: int) -> dict[str, Any]:
    targets = {s: best_so_far(done[StudyKey(dataset, "random", s)]["values"])[-1] for s in seeds}
    present = [v for v in VARIANTS if all(StudyKey(dataset, v, s) in done for s in seeds)]
    #: The best accuracy any variant found on each seed: what "within 3 points" is judged by.
    best_found = {s: max(best_so_far(done[StudyKey(dataset, v, s)]["values"])[-1]
                         for v in present) for s in seeds}
    rows: dict[str, Any] = {}
    for variant in present:
        runs = {s: done[StudyKey(dataset, variant, s)] for s in seeds}
        curves = {s: best_so_far(r["values"]) for s, r in runs.items()}
        reach = [trials_to_reach(r["values"], targets[s]) for s, r in runs.items()]
        rows[variant] = {
            "best_after": {str(c): statistics.median(curves[s][c - 1] for s in seeds)
                           for c in checkpoints(trials)},
            "trials_to_target": statistics.median(reach),
            "trials_to_target_per_seed": reach,
            "first_trial": statistics.median(curves[s][0] for s in seeds),
            "first_within_3_points": sum(curves[s][0] >= best_found[s] - 0.03 for s in seeds),
            "pruned": sum(r["states"].count("pruned") for r in runs.values()),
            "seconds": sum(r["seconds"] for r in runs.values()),
            "best_learning_rate": statistics.median(
                r["best_params"]["learning_rate"] for r in runs.values() if r["best_params"]),
            "per_seed": {str(s): {k: v for k, v in r.items() if k != "evidence"}
                         for s, r in runs.items()},
        }
    return {"targets": {str(s): t for s, t in targets.items()}, "variants": rows,
            "best_found": {str(s): b for s, b in best_found.items()}}


def finite(value: Any) -> Any:
    """`value` with every infinite count (never reached) as None, for JSON."""
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [finite(v) for v in value]
    return None if isinstance(value, float) and math.isinf(value) else value


def reach_text(value: float, trials: int) -> str:
    return f">{trials}" if math.isinf(value) else f"{value:g}"


def print_table(dataset: str, fig: dict[str, Any], settings: Settings, seeds: list[int]) -> None:
    cols = checkpoints(settings.trials)
    print(f"\n{dataset}: {settings.model}, {settings.train_images} training images per seed, "
          f"batch {settings.batch_size}, {settings.epochs} epochs/trial, {settings.trials} "
          f"trials, seeds {', '.join(map(str, seeds))}; pruner {settings.pruner} in every "
          "variant; medians over seeds")
    head = "".join(f"{'@' + str(c):>8}" for c in cols)
    print(f"  {'variant':<38}{head}  {'trials to (a)@' + str(settings.trials):>16}"
          f"  {'best lr':>8}  {'pruned':>6}  {'time':>6}")
    for variant, label in VARIANTS.items():
        if variant not in fig["variants"]:
            continue
        row = fig["variants"][variant]
        accs = "".join(f"{row['best_after'][str(c)]:>8.4f}" for c in cols)
        reach = reach_text(row["trials_to_target"], settings.trials)
        per_seed = ",".join(reach_text(r, settings.trials)
                            for r in row["trials_to_target_per_seed"])
        print(f"  {label:<38}{accs}  {reach + ' (' + per_seed + ')':>16}"
              f"  {row['best_learning_rate']:>8.3g}  {row['pruned']:>6}"
              f"  {row['seconds']:>5.0f}s")
    targets = ", ".join(f"{t:.4f}" for t in fig["targets"].values())
    print(f"  target = (a)'s best after {settings.trials} trials, per seed: {targets}")
    for variant in ("advisor", "probed", "calibrated"):
        if variant in fig["variants"]:
            within = fig["variants"][variant]["first_within_3_points"]
            print(f"  {variant}: trial 0 within 3 points of the best found (any variant) on "
                  f"{within} of {len(seeds)} seeds")
    print_goal(fig, settings.trials)
    print_advice(fig)


def print_goal(fig: dict[str, Any], trials: int) -> None:
    rows = fig["variants"]
    if "calibrated" not in rows:
        a, c = rows["random"]["trials_to_target"], rows["advisor"]["trials_to_target"]
        print(f"  (c) vs (a): {reach_text(c, trials)} vs {reach_text(a, trials)} trials to "
              f"(a)@{trials}")
        return
    a, c, d = (rows[v]["trials_to_target"] for v in ("random", "advisor", "calibrated"))
    third = "met" if c <= a / 3 else "not met"
    print(f"  goal (c) <= 1/3 of (a)'s trials: {reach_text(c, trials)} vs "
          f"{reach_text(a, trials)} -> {third}; (d) no worse than (c): "
          f"{reach_text(d, trials)} vs {reach_text(c, trials)} -> "
          f"{'met' if d <= c else 'not met'}")


def print_advice(fig: dict[str, Any]) -> None:
    for variant in ("advisor", "calibrated", "probed"):
        if variant not in fig["variants"]:
            continue
        for seed, run in fig["variants"][variant]["per_seed"].items():
            advised = run["advised"]
            lr_space = run["space"]["learning_rate"]
            used = f", evidence from jobs {'+'.join(run['evidence_used'])}" if run[
                "evidence_used"] else ""
            first = run["values"][0]
            first_text = "pruned" if first is None else f"{first:.4f}"
            print(f"  {variant} seed {seed}: advised lr {advised['learning_rate']:.3g} "
                  f"wd {advised['weight_decay']:.3g} ls {advised['label_smoothing']:.3g} "
                  f"(space lr {lr_space[0]:.3g}..{lr_space[1]:.3g}){used}; first trial "
                  f"{first_text}; best lr {run['best_params']['learning_rate']:.3g}")
            if run.get("probe"):
                print(f"    probe: {run['probe'].get('reason')}")


# --- command line ------------------------------------------------------------------------------

def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="digits only, 2 seeds, 6 trials, 2 epochs, 500 images (< 3 min)")
    parser.add_argument("--datasets", nargs="+", choices=["shapes", "digits"])
    parser.add_argument("--seeds", type=int, help="number of seeds (0..n-1); full: 3")
    parser.add_argument("--trials", type=int, help="trials per study; full: 20")
    parser.add_argument("--epochs", type=int, help="epochs per trial; full: 4")
    parser.add_argument("--train-images", type=int,
                        help="training images drawn per seed; full: 1000, quick: 500")
    parser.add_argument("--model", default="resnet8")
    parser.add_argument("--variants", nargs="+", choices=list(VARIANTS),
                        help="which variants to run (default: all; (d) needs (c))")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--pruner", choices=["none", "median"], default="none",
                        help="the same pruner in every variant (median: the worker's)")
    parser.add_argument("--workers", type=int, default=2,
                        help="parallel study processes, one thread each (default 2)")
    parser.add_argument("--json", nargs="?", const="-", metavar="PATH",
                        help="the figures as JSON: on stdout instead of the tables, or "
                        "written to PATH besides them")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    preset = QUICK if args.quick else FULL
    datasets = args.datasets or preset["datasets"]
    seeds = list(range(args.seeds or preset["seeds"]))
    settings = Settings(trials=args.trials or preset["trials"],
                        epochs=args.epochs or preset["epochs"],
                        train_images=args.train_images
                        or TRAIN_IMAGES["quick" if args.quick else "full"],
                        model=args.model, batch_size=args.batch_size, pruner=args.pruner)
    started = time.perf_counter()
    done = run_all(datasets, seeds, settings, args.workers, args.variants)
    wall = time.perf_counter() - started
    figures = {d: dataset_figures(done, d, seeds, settings.trials) for d in datasets}
    if args.json:
        data = finite({"settings": dataclasses.asdict(settings), "seeds": seeds,
                       "wall_seconds": wall, "datasets": figures})
        if args.json == "-":
            print(json.dumps(data, indent=1))
            return 0
        Path(args.json).write_text(json.dumps(data, indent=1) + "\n")
    for dataset in datasets:
        print_table(dataset, figures[dataset], settings, seeds)
    print(f"\nwall time {wall:.0f} s ({args.workers} worker processes, 1 thread each)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
