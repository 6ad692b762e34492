"""bench/gpu_check.sh on a machine without a GPU says so in one line and exits 0 (its checks
run where a GPU is lent; `bench/gpu_job.py --device cpu` rehearses the end-to-end one)."""

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

