"""Smoke test of bench/seeded_search.py: every variant runs through the worker's own code
(advice, evidence records from the (c) studies, calibrated advice) and the table comes out.

Tiny on purpose (2 seeds x 2 trials x 1 epoch on 128 images): it guards the wiring, not the
figures, which live in bench/RESULTS.md.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "bench" / "seeded_search.py"


@pytest.mark.slow
def test_tiny_run_prints_the_table_for_every_variant() -> None:
    run = subprocess.run(
        [sys.executable, str(SCRIPT), "--datasets", "digits", "--seeds", "2", "--trials", "2",
         "--epochs", "1", "--train-images", "128"],
        capture_output=True, text=True, timeout=120, check=True)
    out = run.stdout
    for label in ("(a) random", "(b) TPE", "(c) TPE, advisor space", "(d) as (c), calibrated"):
        assert label in out
    assert "trials to (a)@2" in out
    assert "evidence from jobs 2" in out and "evidence from jobs 1" in out
    assert "[digits calibrated seed 1] trial 2/2" in run.stderr
