"""Key comparison, and an open server when no keys are set (the settings themselves:
tests/worker/test_environment_settings.py)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx

from api.app import create_app
from api.security import key_matches
from worker.settings import Settings
from worker.store import upgrade


def test_keys_match_exactly() -> None:
    assert key_matches("k2", ("k1", "k2"))
    assert not key_matches("k", ("k1",)) and not key_matches("k1 ", ("k1",))
    assert not key_matches("k1", ())


def test_without_keys_mutating_endpoints_are_open(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'open.db'}"
    upgrade(url)
    app = create_app(Settings(database_url=url, warm_trainer=False))

    async def scenario() -> tuple[int, int]:
        async with app.router.lifespan_context(app), httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url="http://test") as http:
            created = await http.post("/v1/jobs", json={"dataset": "digits",
                                                        "model": {"name": "small_cnn"}})
            cancelled = await http.post(f"/v1/jobs/{created.json()['id']}/cancel")
            return created.status_code, cancelled.status_code

    assert asyncio.run(scenario()) == (201, 200)
