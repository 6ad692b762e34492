"""Fixtures for the advisor's tests: where the guidance documents are."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def guidance_dir() -> Path:
    """The guidance the rules cite: shared/guidance beside the checkout (as in CI), or
    HPADVISOR_GUIDANCE_DIR."""
    candidates = [os.environ.get("HPADVISOR_GUIDANCE_DIR", ""), REPO.parent / "shared/guidance",
                  "/work/shared/guidance"]
    for candidate in candidates:
        if candidate and Path(candidate).is_dir():
            return Path(candidate)
    pytest.fail("guidance documents not found: set HPADVISOR_GUIDANCE_DIR")
