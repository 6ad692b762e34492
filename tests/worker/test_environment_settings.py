"""The settings: every ``HPADVISOR_*`` variable by its name, read when asked, not at import."""

from __future__ import annotations

import os

import pytest

from worker.settings import DEFAULT_DATABASE_URL, Settings


@pytest.fixture
def environ(monkeypatch: pytest.MonkeyPatch):
    """A clean ``HPADVISOR_*`` environment; the test sets what it needs."""
    for name in list(os.environ):
        if name.startswith("HPADVISOR_"):
            monkeypatch.delenv(name)

    def set_env(**variables: str) -> None:
        for name, value in variables.items():
            monkeypatch.setenv(name, value)
    return set_env


def test_settings_read_keys_url_and_body_limit_from_the_environment(environ) -> None:
    assert Settings.from_env() == Settings(database_url=DEFAULT_DATABASE_URL)
    environ(HPADVISOR_API_KEYS=" k1, ,k2 ", HPADVISOR_MAX_BODY_BYTES="2048",
            HPADVISOR_DATABASE_URL="postgresql+psycopg://u@h/db")
    settings = Settings.from_env()
    assert settings.api_keys == ("k1", "k2") and settings.max_body_bytes == 2048
    assert settings.database_url == "postgresql+psycopg://u@h/db"


@pytest.mark.parametrize("raw", ["lots", "0", "-5"])
def test_bad_body_limit_is_refused_naming_the_variable(environ, raw: str) -> None:
    environ(HPADVISOR_MAX_BODY_BYTES=raw)
    with pytest.raises(ValueError, match="HPADVISOR_MAX_BODY_BYTES"):
        Settings.from_env()


def test_worker_settings_keep_their_variable_names(environ) -> None:
    defaults = Settings.from_env()
    assert (defaults.heartbeat_s, defaults.grace_s, defaults.progress_s, defaults.db_retries,
            defaults.proxy_wait_s, defaults.storage) == (10, 30, 1.0, 10, 30.0, None)
    environ(HPADVISOR_HEARTBEAT_S="1", HPADVISOR_PROGRESS_S="0", HPADVISOR_DB_RETRIES="3",
            HPADVISOR_PROXY_WAIT_S="1", HPADVISOR_STORAGE="grpc://h:13000")
    settings = Settings.from_env()
    assert settings.grace_s == 3  # three heartbeats unless given
    assert (settings.progress_s, settings.db_retries, settings.proxy_wait_s) == (0.0, 3, 1.0)
    assert settings.storage == "grpc://h:13000"
    environ(HPADVISOR_GRACE_S="4")
    assert Settings.from_env().grace_s == 4


def test_probe_and_cache_settings_reach_the_worker(environ, tmp_path) -> None:
    from worker.loop import Worker

    assert (Settings.from_env().probe, Settings.from_env().cache_dir) == (True, None)
    environ(HPADVISOR_PROBE="0", HPADVISOR_CACHE_DIR=str(tmp_path / "cache"),
            HPADVISOR_MEMORY_BUDGET="1.5G")
    settings = Settings.from_env()
    assert (settings.probe, settings.cache_dir) == (False, tmp_path / "cache")
    assert settings.memory_budget == 1536 * 2**20
    worker = Worker(f"sqlite:///{tmp_path / 'jobs.db'}", settings=settings)
    # handed to every trial's context
    assert (worker.trials.cache_dir, worker.trials.memory_budget) == (
        tmp_path / "cache", 1536 * 2**20)


@pytest.mark.parametrize(("raw", "amount"), [("4096", 4096), ("64K", 64 << 10),
                                             ("512mb", 512 << 20), ("8GiB", 8 << 30)])
def test_a_memory_budget_is_bytes_with_an_optional_unit(environ, raw: str, amount: int) -> None:
    environ(HPADVISOR_MEMORY_BUDGET=raw)
    assert Settings.from_env().memory_budget == amount


@pytest.mark.parametrize("raw", ["lots", "0", "-1G"])
def test_a_bad_memory_budget_is_refused_naming_the_variable(environ, raw: str) -> None:
    environ(HPADVISOR_MEMORY_BUDGET=raw)
    with pytest.raises(ValueError, match="HPADVISOR_MEMORY_BUDGET"):
        Settings.from_env()


@pytest.mark.parametrize(("raw", "on"), [("", False), ("0", False), ("no", False),
                                         ("false", False), ("1", True), ("yes", True)])
def test_flags_are_on_unless_empty_or_off(environ, raw: str, on: bool) -> None:
    environ(HPADVISOR_LOG_JSON=raw, HPADVISOR_WARM_TRAINER=raw)
    settings = Settings.from_env()
    assert settings.log_json is on
    assert settings.warm_trainer is (on or raw == "")  # unset or empty: the default, on


def test_the_client_reads_its_url_and_key(environ) -> None:
    assert Settings.from_env().url == "http://127.0.0.1:8000"
    environ(HPADVISOR_URL="http://api:8000", HPADVISOR_API_KEY="k1")
    settings = Settings.from_env()
    assert (settings.url, settings.api_key) == ("http://api:8000", "k1")
