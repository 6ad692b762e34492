"""The advisor over HTTP against a real server: recommendations, diagnoses, catalog, rules."""

from __future__ import annotations

import pytest

from advisor import HYPERPARAMETER_KEYS
from servers import LiveServer

pytestmark = pytest.mark.slow

CONTRACT_KEYS = {"optimizer", "momentum", "learning_rate", "lr_schedule", "warmup_epochs",
                 "epochs", "weight_decay", "no_bias_decay", "label_smoothing", "crop_scale",
                 "crop_ratio", "mixup_alpha", "cutmix_alpha", "batch_size"}
PROFILE = {"model": {"name": "resnet50"},
           "dataset": {"num_train_images": 1281167, "num_classes": 1000, "image_size": 224},
           "training": {"batch_size": 1024, "num_gpus": 8, "goal": "accuracy"}}


def test_recommendation_has_every_key_explained(live_server: LiveServer) -> None:
    with live_server.client() as http:
        response = http.post("/v1/recommendations", json={**PROFILE, "use_evidence": True})
    assert response.status_code == 200
    body = response.json()
    assert CONTRACT_KEYS <= set(body["hyperparameters"]) == set(HYPERPARAMETER_KEYS)
    assert {e["key"] for e in body["explanations"]} == set(HYPERPARAMETER_KEYS)
    assert all(e["rule"] and e["reason"] and e["sources"] for e in body["explanations"])
    assert body["hyperparameters"]["learning_rate"] == pytest.approx(0.4)
    assert body["search_space"] and isinstance(body["warnings"], list)


def test_unknown_model_is_422_naming_model_name_with_close_names(live_server: LiveServer) -> None:
    with live_server.client() as http:
        response = http.post("/v1/recommendations", json={"model": {"name": "resnet5O"}})
    assert response.status_code == 422
    [problem] = response.json()["detail"]
    assert problem["loc"] == ["body", "model", "name"]
    assert "resnet50" in problem["ctx"]["suggestions"] and "resnet50" in problem["msg"]


@pytest.mark.parametrize(("body", "loc"), [
    ({"model": {}}, ["body", "model"]),
    ({"model": {"name": "resnet50"}, "training": {"batch_size": 0}},
     ["body", "training", "batch_size"]),
    ({"model": {"name": "resnet50"}, "training": {"goal": "speed"}}, ["body", "training", "goal"]),
    ({"model": {"name": "resnet50"}, "colour": "red"}, ["body", "colour"]),
])
def test_bad_profile_is_422_naming_the_field(live_server: LiveServer, body: dict[str, object],
                                              loc: list[str]) -> None:
    with live_server.client() as http:
        response = http.post("/v1/recommendations", json=body)
    assert response.status_code == 422
    assert loc in [problem["loc"] for problem in response.json()["detail"]]


def test_diagnosis_of_a_widening_gap_is_overfitting(live_server: LiveServer) -> None:
    curves = {"train_accuracy": [0.5, 0.7, 0.85, 0.95, 0.99, 0.999],
              "val_accuracy": [0.48, 0.6, 0.64, 0.65, 0.64, 0.63],
              "config": {"weight_decay": 1e-4, "label_smoothing": 0.0}}
    with live_server.client() as http:
        response = http.post("/v1/diagnoses", json=curves)
        mismatched = http.post("/v1/diagnoses", json={"train_accuracy": [0.5],
                                                      "val_accuracy": [0.5, 0.6]})
    assert response.status_code == 200
    assert response.json()["state"] == "overfitting" and response.json()["changes"]
    assert mismatched.status_code == 422


def test_models_filter_by_family_and_refuse_unknown_families(live_server: LiveServer) -> None:
    with live_server.client(key=None) as http:
        resnets = http.get("/v1/models", params={"family": "resnet"}).json()
        every = http.get("/v1/models").json()
        unknown = http.get("/v1/models", params={"family": "resnot"})
    assert resnets and {m["family"] for m in resnets} == {"resnet"}
    assert len(every) > len(resnets) and {"name", "params_millions", "kind"} <= set(every[0])
    assert unknown.status_code == 422
    assert unknown.json()["detail"][0]["loc"] == ["query", "family"]
    assert "resnet" in unknown.json()["detail"][0]["ctx"]["suggestions"]


def test_rules_list_ids_keys_stages_and_sources(live_server: LiveServer) -> None:
    with live_server.client(key=None) as http:
        rules = http.get("/v1/rules").json()
    by_id = {rule["id"]: rule for rule in rules}
    assert "lr.linear_scaling" in by_id
    assert "learning_rate" in by_id["lr.linear_scaling"]["sets"]
    assert all(rule["sources"] and rule["summary"] for rule in rules if rule["kind"] == "rule")


def test_registry_lists_the_built_ins(live_server: LiveServer) -> None:
    with live_server.client(key=None) as http:
        objectives = http.get("/v1/objectives").json()
        datasets = {d["name"]: d for d in http.get("/v1/datasets").json()}
        health = http.get("/healthz").json()
        docs = http.get("/docs")
        openapi = http.get("/openapi.json").json()
    assert "image-classification" in [o["name"] for o in objectives]
    assert datasets["digits"]["num_train"] == 1437 and not datasets["digits"]["horizontal_flip_ok"]
    assert datasets["shapes"]["channels"] == 3 and datasets["shapes"]["horizontal_flip_ok"]
    assert health == {"status": "ok", "database": "ok"}
    assert docs.status_code == 200 and "/v1/jobs/{job_id}/cancel" in openapi["paths"]
