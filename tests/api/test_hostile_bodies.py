"""Bodies built to hurt: too large, nested deep enough to exhaust a recursive parser, not JSON at
all. Each must get a 4xx in the API's problem shape, and the server must stay up."""

from __future__ import annotations

import pytest

from servers import LiveServer

#: Body handling happens before any database is touched: SQLite's server is enough.
pytestmark = [pytest.mark.slow,
              pytest.mark.parametrize("live_server", ["sqlite"], indirect=True)]

BODY_PATHS = ("/v1/recommendations", "/v1/jobs", "/v1/diagnoses")
JSON = {"content-type": "application/json"}


def _assert_client_error(response, what: str) -> None:
    assert 400 <= response.status_code < 500, (what, response.status_code, response.text[:300])
    assert response.json()["detail"], what


@pytest.mark.parametrize("depth", [100, 5_000, 200_000])
@pytest.mark.parametrize("opener", ["[", '{"a":'])
def test_deeply_nested_json_is_4xx(live_server: LiveServer, depth: int, opener: str) -> None:
    closer = "]" if opener == "[" else "}"
    nested = (opener * depth + "1" + closer * depth).encode()
    inside = ('{"model": {"name": "resnet50"}, "training": ' + nested.decode() + "}").encode()
    with live_server.client() as http:
        for path in BODY_PATHS:
            for body in (nested, inside):
                _assert_client_error(http.post(path, content=body, headers=JSON),
                                     f"{path} depth {depth}")
        assert http.get("/healthz").status_code == 200


@pytest.mark.parametrize(("content_type", "body"), [
    ("text/plain", b'{"model": {"name": "resnet50"}}'),
    ("application/x-www-form-urlencoded", b"model=resnet50&batch_size=256"),
    ("multipart/form-data; boundary=x", b'--x\r\nContent-Disposition: form-data; name="a"\r\n'
     b"\r\n1\r\n--x--\r\n"),
    ("application/xml", b"<model><name>resnet50</name></model>"),
    ("application/json", b"\xff\xfe\x00garbage"),
    ("application/json", b"\x00" * 64),
    ("application/json; charset=latin-1", '{"model": {"name": "résnet"}}'.encode("latin-1")),
    ("application/json", b'{"model": {"name": "resnet50"}, "model": 5}'),
    ("application/json", b"NaN"),
    ("application/json", b'{"model": {"name": "resnet50"}} trailing'),
    ("", b'{"model": {"name": "resnet50"}'),
])
def test_bodies_that_are_not_json_objects_are_4xx(live_server: LiveServer, content_type: str,
                                                  body: bytes) -> None:
    headers = {"content-type": content_type} if content_type else {}
    with live_server.client() as http:
        for path in BODY_PATHS:
            _assert_client_error(http.post(path, content=body, headers=headers),
                                 f"{path} {content_type}")


def test_too_large_bodies_are_413_on_every_body_endpoint(live_server: LiveServer) -> None:
    huge = b'{"train_accuracy": [' + b"0.5," * (300_000) + b'0.5]}'  # 1.2 MB
    with live_server.client() as http:
        for path in BODY_PATHS:
            response = http.post(path, content=huge, headers=JSON)
            assert response.status_code == 413, path
            assert response.json()["detail"][0]["type"] == "too_large"
        assert http.get("/healthz").status_code == 200


@pytest.mark.parametrize(("path", "body", "loc"), [
    ("/v1/recommendations", {"model": {"name": "resnet50"}, "use_evidence": 0},
     ["body", "use_evidence"]),
    ("/v1/recommendations", {"model": {"name": "resnet50"}, "training": {"batch_size": "256"}},
     ["body", "training", "batch_size"]),
    ("/v1/recommendations", {"model": {"name": "resnet50"}, "training": {"pretrained": "yes"}},
     ["body", "training", "pretrained"]),
    ("/v1/recommendations", {"model": {"params_millions": "25"}},
     ["body", "model", "params_millions"]),
    ("/v1/recommendations", {"model": {"name": "resnet50"}, "training": {"epochs": 90.5}},
     ["body", "training", "epochs"]),
    ("/v1/diagnoses", {"train_accuracy": [0.5], "val_accuracy": [0.4], "val_loss": [False]},
     ["body", "val_loss", 0]),
    ("/v1/diagnoses", {"train_accuracy": ["0.5"], "val_accuracy": [0.4]},
     ["body", "train_accuracy", 0]),
    ("/v1/jobs", {"dataset": "digits", "model": {"name": "small_cnn"}, "n_trials": "2"},
     ["body", "n_trials"]),
    ("/v1/jobs", {"dataset": "digits", "model": {"name": "small_cnn"}, "use_evidence": 1},
     ["body", "use_evidence"]),
])
def test_a_value_of_the_wrong_type_is_422_naming_the_field(
        live_server: LiveServer, path: str, body: dict[str, object], loc: list[object]) -> None:
    """No lax coercion: a client that sends 0 for false or "256" for 256 has a bug to hear of."""
    with live_server.client() as http:
        response = http.post(path, json=body)
    assert response.status_code == 422, response.text
    assert loc in [problem["loc"] for problem in response.json()["detail"]], response.text


def test_whole_floats_and_ints_are_numbers_of_either_kind(live_server: LiveServer) -> None:
    """JSON has one number type: 128.0 is a batch size, 25 a size in millions."""
    with live_server.client() as http:
        response = http.post("/v1/recommendations", json={
            "model": {"name": "resnet50", "params_millions": 25},
            "training": {"batch_size": 128.0, "epochs": 90.0}})
        assert response.status_code == 200, response.text
        assert response.json()["hyperparameters"]["batch_size"] == 128


@pytest.mark.parametrize(("method", "path", "allowed"), [
    ("OPTIONS", "/v1/jobs", "GET, POST"),
    ("PUT", "/v1/jobs", "GET, POST"),
    ("OPTIONS", "/v1/evidence/1", "GET, DELETE"),
    ("PATCH", "/v1/recommendations", "POST"),
])
def test_405_allow_lists_every_method_of_the_path(live_server: LiveServer, method: str,
                                                  path: str, allowed: str) -> None:
    with live_server.client() as http:
        response = http.request(method, path)
    assert response.status_code == 405
    assert response.headers["allow"] == allowed
    assert response.json() == {"detail": "Method Not Allowed"}
