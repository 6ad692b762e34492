"""Settings from the environment, key comparison, and an open server when no keys are set."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest

from api.app import create_app
from api.security import key_matches
from api.settings import DEFAULT_DATABASE_URL, Settings
from worker.store import upgrade


def test_settings_read_keys_url_and_body_limit_from_the_environment() -> None:
    settings = Settings.from_env({"HPADVISOR_API_KEYS": " k1, ,k2 ",
                                  "HPADVISOR_MAX_BODY_BYTES": "2048",
                                  "HPADVISOR_DATABASE_URL": "postgresql+psycopg://u@h/db"})
    assert settings.api_keys == ("k1", "k2") and settings.max_body_bytes == 2048
    assert settings.database_url == "postgresql+psycopg://u@h/db"
    assert Settings.from_env({}) == Settings(database_url=DEFAULT_DATABASE_URL)


@pytest.mark.parametrize("raw", ["lots", "0", "-5"])
def test_bad_body_limit_is_refused_naming_the_variable(raw: str) -> None:
    with pytest.raises(ValueError, match="HPADVISOR_MAX_BODY_BYTES"):
        Settings.from_env({"HPADVISOR_MAX_BODY_BYTES": raw})


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
