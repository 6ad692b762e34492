"""The container files, checked without Docker (no daemon, and no `docker compose`, on the
machines the tests run on): the compose file against the Compose Specification's JSON schema
(vendored in check-jsonschema, so offline) and its structure as YAML, the Dockerfile's
promises. Where Docker is available, `docker compose config` and `docker build .` check the
rest."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]


def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def validate_compose(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "check_jsonschema", "--builtin-schema",
                           "vendor.compose-spec", str(path)],
                          capture_output=True, text=True, timeout=60)


def test_compose_file_follows_the_compose_specification(tmp_path: Path) -> None:
    checked = validate_compose(ROOT / "docker-compose.yml")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    # The same check rejects a typo in a service (so a pass above means something).
    broken = tmp_path / "docker-compose.yml"
    broken.write_text((ROOT / "docker-compose.yml").read_text()
                      .replace("stop_grace_period:", "stop_grace_periode:"))
    assert validate_compose(broken).returncode == 1


def test_compose_has_postgres_api_and_workers_with_a_named_volume() -> None:
    spec = compose()
    assert set(spec["services"]) == {"db", "api", "worker", "storage-proxy"}
    assert "pgdata" in spec["volumes"]
    db = spec["services"]["db"]
    assert db["image"].startswith("postgres:")
    assert "pgdata:/var/lib/postgresql/data" in db["volumes"]


def test_every_long_running_service_has_a_healthcheck_and_waits_for_its_dependency() -> None:
    services = compose()["services"]
    assert "pg_isready" in " ".join(services["db"]["healthcheck"]["test"])
    assert "/healthz" in " ".join(services["api"]["healthcheck"]["test"])
    assert services["worker"]["healthcheck"] == {"disable": True}
    assert services["api"]["depends_on"]["db"]["condition"] == "service_healthy"
    assert services["worker"]["depends_on"]["api"]["condition"] == "service_healthy"


def test_api_serves_on_all_interfaces_and_workers_are_replicated() -> None:
    services = compose()["services"]
    command = services["api"]["command"]
    assert command[:1] == ["serve"] and command[command.index("--host") + 1] == "0.0.0.0"
    assert services["worker"]["command"][:1] == ["worker"]
    assert services["worker"]["deploy"]["replicas"] == 2
    text = (ROOT / "docker-compose.yml").read_text()
    assert re.search(r"#\s+resources:\s*\n\s*#\s+reservations:\s*\n\s*#\s+devices:", text), \
        "the GPU reservation block is there, commented"
    assert re.search(r"#\s+device_ids: \[\"0\"\]", text), "a GPU is pinned per service"


def test_api_and_workers_share_one_postgresql_url() -> None:
    services = compose()["services"]
    urls = {services[name]["environment"]["HPADVISOR_DATABASE_URL"] for name in ("api", "worker")}
    assert len(urls) == 1
    (url,) = urls
    assert url.startswith("postgresql+psycopg://hpadvisor:") and url.endswith("@db:5432/hpadvisor")
    assert services["api"]["image"] == services["worker"]["image"]


def test_dockerfile_is_non_root_with_healthcheck_entrypoint_and_torch_arguments() -> None:
    text = (ROOT / "Dockerfile").read_text()
    assert re.search(r"^ARG BASE_IMAGE=python:3\.11-slim$", text, re.M)
    assert re.search(r'^ARG TORCH_SPEC="torch==2\.14\.1 torchvision==0\.29\.1"$', text, re.M)
    assert re.search(r"^ARG TORCH_INDEX_URL=", text, re.M)
    users = re.findall(r"^USER (\S+)$", text, re.M)
    assert users and users[-1] not in ("root", "0")
    assert re.search(r"^HEALTHCHECK .*\n.*/healthz", text, re.M)
    assert re.search(r'^ENTRYPOINT \["hpadvisor"\]$', text, re.M)


def test_dockerignore_keeps_the_context_small() -> None:
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert {".git", ".venv", "tests", "*.db"} <= set(ignored)


def test_the_storage_proxy_is_an_opt_in_profile_on_the_same_database() -> None:
    services = compose()["services"]
    proxy = services["storage-proxy"]
    assert proxy["profiles"] == ["proxy"]
    assert proxy["command"][:1] == ["storage-proxy"]
    assert proxy["environment"]["HPADVISOR_DATABASE_URL"] == \
        services["worker"]["environment"]["HPADVISOR_DATABASE_URL"]
    assert "wait_server_ready" in " ".join(proxy["healthcheck"]["test"])
    assert services["worker"]["environment"]["HPADVISOR_STORAGE"] == "${HPADVISOR_STORAGE:-}"
