"""Recommendations per second, in process, for a spread of profiles.

    .venv/bin/python bench/advisor.py [--n 2000]

Prints the time per recommendation beside the cost of validating the request alone (the floor
any pydantic-based answer pays), so the ratio shows what the rules themselves cost.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

# Run as a script, this folder comes first on sys.path and this file's name would shadow the
# advisor package.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).parent.resolve()]

from advisor import recommend
from advisor.schemas import RecommendationRequest

PROFILES = [
    {"model": {"name": "resnet50"}, "training": {"batch_size": 1024}},
    {"model": {"name": "MobileNetV2_x0_25"}, "training": {"batch_size": 256}},
    {"model": {"name": "vit_b_16"}, "training": {"batch_size": 4096, "epochs": 300}},
    {"model": {"name": "efficientnet_b0"}, "dataset": {"num_train_images": 20000},
     "training": {"pretrained": True}},
    {"model": {"params_millions": 3.2}, "training": {"batch_size": 64}},
]


def per_call(fn, n: int) -> float:
    start = time.perf_counter()
    for i in range(n):
        fn(PROFILES[i % len(PROFILES)])
    return (time.perf_counter() - start) / n


def main() -> None:
    parser = argparse.ArgumentParser(description="advisor throughput")
    parser.add_argument("--n", type=int, default=2000)
    args = parser.parse_args()
    per_call(recommend, 50)  # warm caches
    validate = per_call(RecommendationRequest.model_validate, args.n)
    full = per_call(recommend, args.n)
    print(f"{'':<24}{'ms/call':>10}{'calls/s':>12}")
    print(f"{'validate request only':<24}{validate * 1e3:>10.3f}{1 / validate:>12,.0f}")
    print(f"{'recommend':<24}{full * 1e3:>10.3f}{1 / full:>12,.0f}")
    print(f"recommend / validate = {full / validate:.1f}x; goal < 1 ms per recommendation: "
          f"{'met' if full < 1e-3 else 'NOT met'}")


if __name__ == "__main__":
    main()
