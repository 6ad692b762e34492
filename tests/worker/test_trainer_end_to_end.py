"""`hpadvisor submit` for real models on a user's image folder, run by a real `hpadvisor worker`
process: torchvision's resnet18 and timm's vit_tiny from scratch, resnet18 fine-tuned from a
local weights file (backbone loaded, head replaced), and fine-tuning refused without weights."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch
import torchvision
from optuna.trial import TrialState
from PIL import Image

from processes import start_worker, study, wait_all
from servers import fresh_database, run_server

pytestmark = pytest.mark.slow

COLOURS = [(200, 40, 40), (40, 40, 200), (40, 180, 40)]


def make_photos(root, per_class=10):
    rng = np.random.default_rng(0)
    for label, colour in enumerate(COLOURS):
        folder = root / f"kind_{label}"
        folder.mkdir(parents=True)
        for index in range(per_class):
            size = (48 + 8 * (index % 3), 40)
            pixels = np.clip(np.array(colour) + rng.integers(-30, 30, (size[1], size[0], 3)),
                             0, 255).astype(np.uint8)
            Image.fromarray(pixels).save(folder / f"{index}.jpg", quality=90)


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    """An image folder and a resnet18 weights file declared in a worker config; the API on a
    SQLite file after a worker offered them."""
    directory = tmp_path_factory.mktemp("real-models")
    make_photos(directory / "photos")
    torch.manual_seed(0)
    torch.save(torchvision.models.resnet18().state_dict(), directory / "resnet18-imagenet.pth")
    config = directory / "worker.toml"
    config.write_text('[[datasets]]\nname = "photos"\npath = "photos"\nformat = "folder"\n'
                      'horizontal_flip_ok = true\nimage_size = 32\n\n'
                      '[[weights]]\nmodel = "resnet18"\npath = "resnet18-imagenet.pth"\n')
    env = {"HPADVISOR_CACHE_DIR": str(directory / "cache"),
           "TORCH_HOME": str(directory / "torch-home"), "HF_HUB_CACHE": str(directory / "hf"),
           "HF_HUB_OFFLINE": "1"}
    with fresh_database("sqlite", directory) as url:
        wait_all([start_worker(url, directory, "--once", "--config", str(config), **env)])
        with run_server(url, directory) as server:
            yield server, url, directory, config, env


def hpadvisor(server, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HPADVISOR_")}
    env.update(HPADVISOR_URL=server.url, HPADVISOR_API_KEY=server.api_key)
    return subprocess.run([sys.executable, "-m", "api.cli", *args], capture_output=True,
                          text=True, env=env, timeout=120)


def submit(server, *args: str) -> int:
    done = hpadvisor(server, "submit", "--dataset", "photos", "--trials", "4", "--epochs", "2",
                     "--batch-size", "8", "--seed", "0", *args)
    assert done.returncode == 0, done.stderr
    return int(done.stdout.strip())


def test_torchvision_timm_and_fine_tuned_jobs_run_to_success_on_cpu(stack):
    server, url, directory, config, env = stack
    scratch = submit(server, "--model", "resnet18")
    timm_job = submit(server, "--model", "vit_tiny_patch16_224")
    tuned = submit(server, "--model", "resnet18", "--pretrained")
    wait_all([start_worker(url, directory, "--once", "--config", str(config), **env)],
             timeout=600)
    with server.client() as client:
        details = {job: client.get(f"/v1/jobs/{job}").json() for job in (scratch, timm_job,
                                                                          tuned)}
    for job, detail in details.items():
        assert detail["state"] == "succeeded", (job, detail.get("error"))
        trials = study(url, job).trials
        assert len([t for t in trials if t.state in (TrialState.COMPLETE,
                                                     TrialState.PRUNED)]) == 4
    assert details[scratch]["model"] == "torchvision:resnet18"
    assert details[scratch]["recommendation"]["params_millions"] == pytest.approx(11.18, abs=0.01)
    assert details[timm_job]["model"] == "timm:vit_tiny_patch16_224"
    assert any("built for 32 px" in w for w in details[timm_job]["recommendation"]["warnings"])
    first = study(url, tuned).trials[0].user_attrs["model"]["pretrained"]
    assert first["path"] == str(directory / "resnet18-imagenet.pth")
    assert first["source"] == "config"
    assert first["replaced"] == ["fc.weight", "fc.bias"]  # the head, for the folder's 3 classes
    assert first["loaded"] == len(torchvision.models.resnet18().state_dict()) - 2
    assert "pretrained" not in study(url, scratch).trials[0].user_attrs["model"]
    assert json.dumps(details[tuned]["request"]["training"]["pretrained"]) == "true"
    # The worker's HPADVISOR_CACHE_DIR (its settings) is where the folder was decoded to.
    assert list((directory / "cache").glob("*/images.npy"))


def test_fine_tuning_without_local_weights_is_refused_at_submission(stack):
    server, *_ = stack
    refused = hpadvisor(server, "submit", "--dataset", "photos", "--model",
                        "mobilenet_v3_small", "--pretrained", "--trials", "2")
    assert refused.returncode != 0
    assert "no worker has local pretrained weights for 'mobilenet_v3_small'" in refused.stderr
    assert "never downloaded" in refused.stderr
