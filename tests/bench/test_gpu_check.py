"""bench/gpu_check.sh on a machine without a GPU says so in one line and exits 0, and
bench/gpu_job.py (its end-to-end check) runs a folder job through real processes on the CPU."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

BENCH = Path(__file__).resolve().parents[2] / "bench"


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the no-GPU answer")
def test_without_a_gpu_it_says_so_in_one_line_and_exits_0() -> None:
    run = subprocess.run(["bash", str(BENCH / "gpu_check.sh")], capture_output=True, text=True,
                         timeout=60, env={**os.environ, "PYTHON": sys.executable})
    assert run.returncode == 0, run.stderr
    assert run.stdout.splitlines() == [
        "gpu_check: no CUDA GPU here (torch.cuda.is_available() is false); nothing checked"]


@pytest.mark.slow
def test_the_end_to_end_job_check_runs_a_folder_job_on_the_cpu() -> None:
    run = subprocess.run(
        [sys.executable, str(BENCH / "gpu_job.py"), "--device", "cpu", "--size", "32",
         "--images", "120", "--trials", "1", "--epochs", "1", "--batch-size", "32",
         "--timeout", "120", "--model", "small_cnn"],
        capture_output=True, text=True, timeout=200)
    assert run.returncode == 0, run.stdout + run.stderr
    assert run.stdout.startswith("job succeeded: small_cnn at 32 px on cpu, 1 trials (complete)")
