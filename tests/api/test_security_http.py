"""API keys on mutating endpoints, the body size limit, and no 500s for anything a client sends."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from servers import LiveServer

pytestmark = pytest.mark.slow

JOB = {"dataset": "digits", "model": {"name": "small_cnn"}, "n_trials": 3}
PROFILE = {"model": {"name": "resnet50"}}


@pytest.mark.parametrize(("method", "path", "body"), [
    ("POST", "/v1/jobs", JOB),
    ("POST", "/v1/recommendations", PROFILE),
    ("POST", "/v1/diagnoses", {"train_accuracy": [0.5], "val_accuracy": [0.4]}),
    ("POST", "/v1/jobs/1/cancel", None),
])
def test_mutating_endpoints_need_a_valid_key(live_server: LiveServer, method: str, path: str,
                                              body: object) -> None:
    for key in (None, "k2", "k1x", ""):
        with live_server.client(key=key) as http:
            response = http.request(method, path, json=body)
        assert response.status_code == 401, (key, response.text)
        assert response.json()["detail"][0]["loc"] == ["header", "authorization"]
        assert response.headers["www-authenticate"] == "Bearer"


def test_with_the_key_a_job_is_created_and_reads_are_open(live_server: LiveServer) -> None:
    with live_server.client() as http:
        created = http.post("/v1/jobs", json=JOB)
    assert created.status_code == 201
    with live_server.client(key=None) as http:
        for path in ("/v1/jobs", f"/v1/jobs/{created.json()['id']}", "/v1/models", "/v1/rules",
                     "/v1/datasets", "/v1/objectives", "/healthz"):
            assert http.get(path).status_code == 200, path


def test_huge_bodies_are_413_announced_or_streamed(live_server: LiveServer) -> None:
    huge = b'{"model": {"name": "' + b"x" * (2 << 20) + b'"}}'

    def chunks() -> Iterator[bytes]:
        for start in range(0, len(huge), 64 << 10):
            yield huge[start:start + (64 << 10)]

    with live_server.client() as http:
        announced = http.post("/v1/recommendations", content=huge,
                              headers={"content-type": "application/json"})
        streamed = http.post("/v1/recommendations", content=chunks(),
                             headers={"content-type": "application/json"})
        small = http.post("/v1/recommendations", json=PROFILE)
    assert announced.status_code == 413 and streamed.status_code == 413
    assert announced.json()["detail"][0]["loc"] == ["body"]
    assert small.status_code == 200


@pytest.mark.parametrize("body", [
    b"", b"{", b"null", b"[]", b"42", b'"text"', b'{"model": null}', b'{"model": {"name": 5}}',
    b'{"model": {"name": "resnet50"}, "training": {"epochs": 1e400}}',
    b'{"model": {"name": "\\u0000"}}', b'{"model": {"params_millions": -1}}',
    b'{"model": {"name": "resnet50"}, "dataset": {"num_classes": 99999999999999999999999}}',
    '{"model": {"name": "résnet50 ✓"}}'.encode(),
])
def test_odd_bodies_get_4xx_never_500(live_server: LiveServer, body: bytes) -> None:
    with live_server.client() as http:
        for path in ("/v1/recommendations", "/v1/jobs", "/v1/diagnoses"):
            response = http.post(path, content=body, headers={"content-type": "application/json"})
            assert 400 <= response.status_code < 500, (path, body, response.text)
            assert response.json()["detail"]
