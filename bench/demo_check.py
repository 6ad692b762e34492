"""The README demo, as a new user runs it: does the first trial come within 3 points of the job's
best? (issue 13)

`hpadvisor submit --model resnet20 --dataset digits --trials 8 --epochs 15` at the CLI's default
batch (256) and at 32, 128 and 512: each job is run in process exactly as a worker runs it
(`bench/seeded_search.run_study`, variant "advisor": the advisor's configuration enqueued first,
TPE over the advisor's region, the worker's median pruner), on all 1,437 training images of
digits. Prints, per batch, the advised rate, the first trial's accuracy, the job's best and the
gap in points.

    .venv/bin/python bench/demo_check.py [--batches 32 128 256 512] [--trials 8] [--epochs 15]
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).parent.resolve()]
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import argparse
import importlib.util
import json
from concurrent.futures import ProcessPoolExecutor, as_completed
from typing import Any

_spec = importlib.util.spec_from_file_location(
    "seeded_search", Path(__file__).resolve().parent / "seeded_search.py")
assert _spec is not None and _spec.loader is not None
seeded_search = importlib.util.module_from_spec(_spec)
sys.modules["seeded_search"] = seeded_search
_spec.loader.exec_module(seeded_search)

DIGITS_TRAIN = 1437


def one_job(batch: int, trials: int, epochs: int, seed: int) -> dict[str, Any]:
    settings = seeded_search.Settings(trials=trials, epochs=epochs, train_images=DIGITS_TRAIN,
                                      model="resnet20", batch_size=batch, pruner="median")
    key = seeded_search.StudyKey("digits", "advisor", seed)
    out = seeded_search.run_study(key, settings, [])
    values = [v for v in out["values"] if v is not None]
    first = out["values"][0]
    best = max(values) if values else None
    return {"batch": batch, "advised": out["advised"], "first": first, "best": best,
            "gap_points": None if first is None or best is None else 100 * (best - first),
            "values": out["values"], "states": out["states"],
            "params": out["params"], "seconds": out["seconds"]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, nargs="+", default=[32, 128, 256, 512])
    parser.add_argument("--trials", type=int, default=8)
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--json", metavar="PATH")
    args = parser.parse_args()
    rows: list[dict[str, Any]] = []
    with ProcessPoolExecutor(max_workers=args.workers) as pool:
        futures = [pool.submit(one_job, batch, args.trials, args.epochs, args.seed)
                   for batch in args.batches]
        for future in as_completed(futures):
            rows.append(future.result())
            row = rows[-1]
            print(f"batch {row['batch']} done: first {row['first']}, best {row['best']}",
                  file=sys.stderr, flush=True)
            if args.json:  # written as each job ends, so a cut-off run keeps what it has
                Path(args.json).write_text(json.dumps(rows, indent=1) + "\n")
    rows.sort(key=lambda row: row["batch"])
    print(f"{'batch':>5} {'advised lr':>10} {'first':>6} {'best':>6} {'gap':>6}")
    for row in rows:
        first = "-" if row["first"] is None else f"{row['first']:.3f}"
        best = "-" if row["best"] is None else f"{row['best']:.3f}"
        gap = "-" if row["gap_points"] is None else f"{row['gap_points']:.1f}"
        print(f"{row['batch']:>5} {row['advised']['learning_rate']:>10.3g} {first:>6} "
              f"{best:>6} {gap:>6}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
