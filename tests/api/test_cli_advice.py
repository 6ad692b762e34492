"""`hpadvisor recommend`, `diagnose` and `rules`, run as a user would run them."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from advisor import HYPERPARAMETER_KEYS


def hpadvisor(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "api.cli", *args], capture_output=True,
                          text=True, input=stdin, timeout=60)


def test_recommend_json_is_complete_and_explained():
    run = hpadvisor("recommend", "--model", "resnet50", "--batch-size", "1024", "--json")
    assert run.returncode == 0, run.stderr
    rec = json.loads(run.stdout)
    assert set(HYPERPARAMETER_KEYS) <= set(rec["hyperparameters"])
    assert rec["hyperparameters"]["learning_rate"] == pytest.approx(0.4)
    assert {e["key"] for e in rec["explanations"]} == set(HYPERPARAMETER_KEYS)


def test_recommend_table_shows_value_rule_and_reason():
    run = hpadvisor("recommend", "--model", "MobileNetV2_x0_25", "--batch-size", "256")
    assert run.returncode == 0, run.stderr
    assert "crop.small_model" in run.stdout and "[0.2, 1.0]" in run.stdout
    assert "wd.model_size" in run.stdout and "small network" in run.stdout


@pytest.mark.parametrize(("args", "field"), [
    (["--model", "resnet51"], "--model"),
    (["--model", "resnet50", "--batch-size", "0"], "training.batch_size"),
    (["--model", "resnet50", "--goal", "fastest"], "training.goal"),
    (["--model", "resnet50", "--optimizer", "adagrad"], "training.optimizer"),
    (["--model", "resnet50", "--pretraining", "clip"], "training.pretraining"),
    ([], "--model"),
])
def test_recommend_bad_input_exits_2_naming_the_field(args, field):
    run = hpadvisor("recommend", *args)
    assert run.returncode == 2
    assert field in run.stderr
    assert "Traceback" not in run.stderr


def test_the_kind_of_pretraining_changes_the_advice():
    def advice(*flags: str) -> dict:
        run = hpadvisor("recommend", "--model", "vit_b_16", "--num-images", "1281167",
                        "--batch-size", "1024", "--epochs", "100", *flags, "--json")
        assert run.returncode == 0, run.stderr
        return json.loads(run.stdout)

    mae = advice("--pretraining", "self-supervised")  # implies --pretrained
    supervised = advice("--pretraining", "supervised-21k")
    rate = next(e for e in mae["explanations"] if e["key"] == "learning_rate")
    assert "fine-tuning self-supervised weights" in rate["reason"]  # it implies --pretrained
    assert mae["hyperparameters"]["optimizer"] == "adamw"  # MAE / BEiT fine-tuning
    assert supervised["hyperparameters"]["optimizer"] == "sgd"  # ViT's own 21k lineage
    assert mae["hyperparameters"]["weight_decay"] == pytest.approx(0.05)


def test_unknown_model_suggests_close_names():
    run = hpadvisor("recommend", "--model", "resnet51")
    assert "resnet50" in run.stderr


def test_diagnose_csv_overfitting_names_state_and_changes(tmp_path):
    path = tmp_path / "curves.csv"
    path.write_text("epoch,train_acc,val_acc\n1,0.5,0.45\n2,0.8,0.7\n3,0.97,0.74\n4,0.99,0.75\n")
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"weight_decay": 1e-4, "label_smoothing": 0.0}))
    run = hpadvisor("diagnose", str(path), "--config", str(config))
    assert run.returncode == 0, run.stderr
    assert "state: overfitting" in run.stdout
    assert "raise weight_decay from 1e-4 to 3e-4" in run.stdout


def test_diagnose_json_from_stdin():
    curves = {"train_accuracy": [0.4, 0.5, 0.55], "val_accuracy": [0.5, 0.6, 0.62]}
    run = hpadvisor("diagnose", "-", "--json", stdin=json.dumps(curves))
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout)["state"] == "underfitting"


@pytest.mark.parametrize("content", ["not json or csv", '{"train_accuracy": [0.1]}',
                                     "epoch,train_acc\n1,0.5\n"])
def test_diagnose_bad_file_exits_2(tmp_path, content):
    path = tmp_path / "bad.txt"
    path.write_text(content)
    run = hpadvisor("diagnose", str(path))
    assert run.returncode == 2, run.stdout
    assert "Traceback" not in run.stderr


def test_diagnose_missing_file_exits_2():
    run = hpadvisor("diagnose", "/nonexistent/curves.csv")
    assert run.returncode == 2 and "cannot read" in run.stderr


def test_rules_json_is_what_get_v1_rules_answers():
    from fastapi.testclient import TestClient

    from api.app import create_app
    from worker.settings import Settings

    run = hpadvisor("rules", "--json")
    assert run.returncode == 0, run.stderr
    answer = TestClient(create_app(Settings(warm_trainer=False))).get("/v1/rules").json()
    assert json.loads(run.stdout) == answer
    assert {entry["kind"] for entry in answer} == {"rule", "advice", "diagnosis"}
