"""`hpadvisor submit` and `hpadvisor jobs` as subprocesses against a real server."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from servers import LiveServer, free_port

# The command line talks HTTP only, so one backend is enough (the server tests cover both).
pytestmark = [pytest.mark.slow, pytest.mark.parametrize("live_server", ["sqlite"], indirect=True)]


def hpadvisor(*args: str, server: LiveServer | None = None,
              key: str | None = "k1") -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HPADVISOR_")}
    env["HPADVISOR_URL"] = server.url if server else f"http://127.0.0.1:{free_port()}"
    if key:
        env["HPADVISOR_API_KEY"] = key
    return subprocess.run([sys.executable, "-m", "api.cli", *args], capture_output=True,
                          text=True, env=env, timeout=60)


def test_submit_prints_the_job_id_and_jobs_shows_it(live_server: LiveServer) -> None:
    submitted = hpadvisor("submit", "--model", "resnet20", "--dataset", "digits", "--trials",
                          "7", "--batch-size", "128", "--epochs", "15", "--tune",
                          "learning_rate,momentum", server=live_server)
    assert submitted.returncode == 0, submitted.stderr
    job_id = int(submitted.stdout.strip())
    shown = hpadvisor("jobs", str(job_id), "--json", server=live_server, key=None)
    job = json.loads(shown.stdout)
    assert shown.returncode == 0 and job["n_trials"] == 7 and job["tune"] == [
        "learning_rate", "momentum"]
    line = hpadvisor("jobs", str(job_id), server=live_server, key=None).stdout
    assert f"job {job_id}" in line and "queued" in line and "trial 0/7" in line
    listed = hpadvisor("jobs", "--state", "queued", server=live_server, key=None)
    assert listed.returncode == 0 and f"job {job_id} " in listed.stdout


def test_watch_returns_when_the_job_is_final(live_server: LiveServer) -> None:
    job_id = hpadvisor("submit", "--model", "small_cnn", "--dataset", "shapes", "--json",
                       server=live_server)
    job = json.loads(job_id.stdout)
    with live_server.client() as http:
        http.post(f"/v1/jobs/{job['id']}/cancel").raise_for_status()
    watched = hpadvisor("jobs", str(job["id"]), "--watch", server=live_server)
    assert watched.returncode == 0 and "cancelled" in watched.stdout


@pytest.mark.parametrize(("args", "flag"), [
    (("--trials", "0"), "--trials"),
    (("--sampler", "grid"), "--sampler"),
    (("--dataset", "cifar10"), "--dataset"),
    (("--model", "resnet21"), "--model"),
    (("--tune", "learning_rate,dropout"), "--tune"),
])
def test_refused_submit_exits_2_naming_the_flag(live_server: LiveServer, args: tuple[str, ...],
                                                 flag: str) -> None:
    base = {"--model": "resnet20", "--dataset": "digits"}
    base.update(dict(zip(args[::2], args[1::2], strict=True)))
    result = hpadvisor("submit", *[x for pair in base.items() for x in pair], server=live_server)
    assert result.returncode == 2
    assert f"hpadvisor: error: {flag}:" in result.stderr and "Traceback" not in result.stderr


def test_missing_key_exits_2_and_unknown_job_exits_2(live_server: LiveServer) -> None:
    no_key = hpadvisor("submit", "--model", "resnet20", "--dataset", "digits",
                       server=live_server, key=None)
    unknown = hpadvisor("jobs", "987654", server=live_server)
    assert no_key.returncode == 2 and "--api-key" in no_key.stderr
    assert unknown.returncode == 2 and "no job with id 987654" in unknown.stderr


def test_unreachable_service_exits_1_with_one_line(live_server: LiveServer) -> None:
    for args in (("jobs",), ("submit", "--model", "resnet20", "--dataset", "digits")):
        result = hpadvisor(*args)
        assert result.returncode == 1
        assert result.stderr.count("\n") == 1 and "cannot reach the service" in result.stderr
