"""An image folder larger than the memory budget: decoded once per host into its cache, shared
by the host's processes, then streamed from disk in shuffled windows, with the process's
resident memory under the budget (measured in real processes)."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from worker.trainer.datasets import load_dataset, register_datasets_from_config
from worker.trainer.disk_images import DiskImages
from worker.trainer.image_folder import read_image_folder
from worker.trainer.run import Batches, run_trial

ROOT = Path(__file__).resolve().parents[2]


def make_bars(root: Path, classes: int = 4, per_class: int = 40, side: int = 16) -> Path:
    """`classes` classes of noisy PNGs, each class a bright bar at its own height; every image
    unique (its noise)."""
    rng = np.random.default_rng(1)
    for label in range(classes):
        folder = root / f"bar_{label}"
        folder.mkdir(parents=True, exist_ok=True)
        for index in range(per_class):
            pixels = rng.integers(0, 90, (side, side, 3))
            rows = slice(label * side // classes, (label + 1) * side // classes)
            pixels[rows] += 150
            Image.fromarray(pixels.clip(0, 255).astype(np.uint8)).save(folder / f"{index}.png")
    return root


def register(root: Path, name: str, folder: Path, side: int) -> None:
    config = root / f"{name}.json"
    config.write_text(json.dumps({"datasets": [{
        "name": name, "path": str(folder), "format": "folder", "horizontal_flip_ok": False,
        "image_size": side}]}))
    register_datasets_from_config(config)


def digest(image: torch.Tensor) -> str:
    return hashlib.sha1(image.contiguous().numpy().tobytes()).hexdigest()


@pytest.fixture
def bars(tmp_path: Path) -> Path:
    folder = make_bars(tmp_path / "bars")
    register(tmp_path, "bars", folder, 16)
    return tmp_path / "cache"


def test_a_folder_over_the_budget_stays_on_disk_and_an_epoch_sees_each_image_once(bars):
    image_bytes = 16 * 16 * 3
    resident = load_dataset("bars", bars)
    on_disk = load_dataset("bars", bars, memory_budget=40 * image_bytes)  # data: 160 images
    assert isinstance(on_disk.x_train, DiskImages) and isinstance(on_disk.x_val, DiskImages)
    assert isinstance(resident.x_train, torch.Tensor)
    assert on_disk.x_train.shape == tuple(resident.x_train.shape) == (128, 3, 16, 16)
    assert torch.equal(on_disk.x_val[0:32], resident.x_val)
    assert (on_disk.mean, on_disk.std) == (resident.mean, resident.std)
    label_of = {digest(image): int(label)
                for image, label in zip(resident.x_train, resident.y_train, strict=True)}

    batches = Batches.place(on_disk.x_train, on_disk.y_train, torch.device("cpu"), None, seed=3)
    epochs = [list(batches.epoch(torch.Generator(), 12, 128 // 12)) for _ in range(2)]
    for epoch in epochs:
        seen = [(digest(image), int(label))
                for images, labels in epoch for image, label in zip(images, labels, strict=True)]
        assert all(len(labels) == 12 for _, labels in epoch) and len(epoch) == 10
        assert len({image for image, _ in seen}) == 120  # no image twice in an epoch
        assert all(label_of[image] == label for image, label in seen)  # labels travel along
        assert len(set(epoch[0][1].tolist())) > 1  # a batch mixes classes
    assert [digest(i) for i in epochs[0][0][0]] != [digest(i) for i in epochs[1][0][0]]


def test_a_trial_streamed_from_disk_learns_and_resumes_where_it_stopped(bars):
    data = load_dataset("bars", bars, memory_budget=40 * 16 * 16 * 3)
    config = {"epochs": 3, "batch_size": 16, "learning_rate": 0.05, "weight_decay": 5e-4}
    saved: dict[int, dict] = {}
    whole = run_trial(config, data, "small_cnn", device="cpu", threads=1, seed=5,
                      save=lambda epoch, capture: saved.setdefault(epoch, capture()))
    resumed = run_trial(config, data, "small_cnn", device="cpu", threads=1, seed=5,
                        resume=saved[1])
    assert resumed.curves() == whole.curves()
    assert whole.best_val_accuracy > 0.5  # four classes: chance is 0.25


MEASURE = """
import json, sys
from pathlib import Path
import torch
from worker.dataset_profile import DatasetProfile
from worker.trainer.datasets import LoadedDataset, dataset_profile
from worker.trainer.datasets import register_datasets_from_config
from worker.trainer.disk_images import WINDOW_SHARE
from worker.trainer.run import EVAL_BATCH_SIZE, run_trial

def peak_while(run):
    # the process's peak resident memory while `run` runs (Linux resets the high-water mark
    # when 5 is written to clear_refs)
    with open("/proc/self/clear_refs", "w") as clear:
        clear.write("5")
    run()
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) * 1024 for line in status if line.startswith("VmHWM"))

config, cache, side = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3])
register_datasets_from_config(config)
trial = {"epochs": 1, "batch_size": 32, "learning_rate": 0.05}
num_val = dataset_profile("large").num_val
measured = []
for budget in [None if arg == "none" else int(arg) for arg in sys.argv[4:]]:
    # What training itself takes, measured first: the same model, batch, image size and
    # evaluation batch (the whole validation part here) on a small in-memory set, stored as
    # the cache stores images (NHWC, seen as NCHW).
    evaluated = min(num_val, EVAL_BATCH_SIZE) if budget is None else min(
        num_val, EVAL_BATCH_SIZE, int(budget * WINDOW_SHARE) // (side * side * 3))
    profile = DatasetProfile(name="warm", num_train=256, num_val=evaluated, num_classes=4,
                             image_size=side, channels=3, horizontal_flip_ok=False)
    x = torch.randint(0, 256, (256 + evaluated, side, side, 3), dtype=torch.uint8)
    x = x.permute(0, 3, 1, 2)
    y = torch.arange(256 + evaluated) % 4
    warm = LoadedDataset(profile, x[:256], y[:256], x[256:], y[256:])
    run_trial(trial, warm, "small_cnn", device="cpu", threads=2)
    training = peak_while(lambda: run_trial(trial, warm, "small_cnn", device="cpu", threads=2))
    results = []
    large = peak_while(lambda: results.append(run_trial(
        trial, "large", "small_cnn", device="cpu", threads=2, cache_dir=cache,
        memory_budget=budget)))
    measured.append({"training": training, "peak": large, "accuracy": results[0].val_accuracy})
print(json.dumps(measured))
"""


def test_resident_memory_stays_under_the_budget_while_training_from_a_larger_cache(tmp_path):
    side = 48
    large = make_bars(tmp_path / "large", per_class=500, side=side)  # 2000 images, 14 MB
    config = tmp_path / "worker.json"
    config.write_text(json.dumps({"datasets": [
        {"name": "large", "path": str(large), "format": "folder", "horizontal_flip_ok": False,
         "image_size": side}]}))
    cache = tmp_path / "cache"
    data_bytes = 2000 * side * side * 3
    read_image_folder(large, 3, side, cache_dir=cache)  # decoded here, not in the measurement
    budget = data_bytes // 3

    # One process measures the streamed trial, then the same trial holding the images (the
    # control). glibc serves large blocks from mmap and returns them when freed, so that the
    # resident memory follows what is live (its sliding threshold otherwise keeps freed
    # evaluation batches in the heap, tens of MB of noise).
    run = subprocess.run([sys.executable, "-c", MEASURE, str(config), str(cache), str(side),
                          str(budget), "none"], cwd=ROOT, capture_output=True, text=True,
                         timeout=300, env={**os.environ, "MALLOC_MMAP_THRESHOLD_": "65536"})
    assert run.returncode == 0, run.stderr[-3000:]
    streamed, in_memory = json.loads(run.stdout.strip().splitlines()[-1])
    # the peak while training on the large folder, over the peak of the same training on the
    # small set: what holding the large folder's images costs
    assert streamed["peak"] - streamed["training"] < budget, streamed
    assert streamed["accuracy"] > 0.5  # it learnt from the streamed images
    assert in_memory["peak"] - in_memory["training"] > data_bytes * 0.9, in_memory


def test_a_jobs_first_decode_shows_in_its_progress(tmp_path: Path, monkeypatch) -> None:
    from api.cli.jobs import progress_line
    from worker import jobs, local_offer, loop
    from worker.job_rows import JobRows
    from worker.offers import Offer
    from worker.schemas import BUILTIN_OBJECTIVE, JobRequest
    from worker.settings import Settings
    from worker.store import make_engine, make_sessionmaker, upgrade
    from worker.store.optuna_rdb import cached, make_storage
    from worker.trainer import folder_cache

    monkeypatch.setattr(folder_cache, "PROGRESS_EVERY_S", 0.0)
    monkeypatch.setattr(folder_cache, "DECODE_BLOCK", 16)
    register(tmp_path, "bars-progress", make_bars(tmp_path / "bars", per_class=40), 16)
    url = f"sqlite:///{tmp_path / 'jobs.db'}"
    upgrade(url)
    local_offer.record_profiles(url)
    engine, rdb = make_engine(url), make_storage(url)
    with make_sessionmaker(engine)() as session:
        job = jobs.create_job(session, cached(rdb), JobRequest.model_validate({
            "dataset": "bars-progress", "model": {"name": "small_cnn"}, "n_trials": 1,
            "pruner": "none", "training": {"batch_size": 32, "epochs": 1}}))
    written: list[dict] = []
    write = JobRows.write_progress

    def spy(self: JobRows, job_id: int, progress: dict) -> str:
        written.append(dict(progress))
        return write(self, job_id, progress)

    monkeypatch.setattr(JobRows, "write_progress", spy)
    loop.Worker(url, loop.WorkerOptions(poll_s=0.01, threads=1),
                settings=Settings(probe=False, cache_dir=tmp_path / "cache"),
                offer=Offer(objectives=(BUILTIN_OBJECTIVE,), datasets=("bars-progress",))).run(
                    once=True)
    decoding = [p["decoding"] for p in written if "decoding" in p]
    assert [d["done"] for d in decoding] == list(range(16, 160, 16))
    assert all(d["total"] == 160 and d["images_per_s"] > 0 for d in decoding)
    assert "decoding" not in written[-1]  # gone once the decode is done
    line = progress_line({"id": job.id, "state": "running", "n_trials": 1,
                          "progress": {"trial": 1, "decoding": decoding[0]}})
    assert f"decoding images 16/160 ({decoding[0]['images_per_s']}/s)" in line
    rdb.engine.dispose()
    engine.dispose()


def test_two_processes_of_a_host_preparing_a_folder_decode_it_once(tmp_path: Path) -> None:
    """`hpadvisor prepare` twice at once (two workers' hosts would do the same when a job
    starts): one decodes, under the cache's lock, the other opens what it wrote."""
    folder = make_bars(tmp_path / "bars", per_class=150, side=32)
    config = tmp_path / "worker.toml"
    config.write_text(f'[[datasets]]\nname = "bars"\npath = "{folder}"\nformat = "folder"\n'
                      'horizontal_flip_ok = false\nimage_size = 32\n')
    env = {**os.environ, "HPADVISOR_CACHE_DIR": str(tmp_path / "cache")}
    processes = [subprocess.Popen([sys.executable, "-m", "api.cli", "prepare", "--config",
                                   str(config), "--json"], cwd=ROOT, env=env, text=True,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE)
                 for _ in range(2)]
    runs = [process.communicate(timeout=120) for process in processes]
    assert [process.returncode for process in processes] == [0, 0], runs
    answers = [json.loads(out) for out, _ in runs]
    assert sorted(answer["decoded_now"] for answer in answers) == [False, True]
    assert answers[0]["cache"] == answers[1]["cache"] and answers[0]["images"] == 600
    shown = next(err for (_, err), answer in zip(runs, answers, strict=True)
                 if answer["decoded_now"])
    assert "images decoded 600/600 (" in shown  # progress on stderr, JSON on stdout
    images, _ = read_image_folder(folder, 3, 32, cache_dir=tmp_path / "cache")
    assert images.shape == (600, 3, 32, 32)


def test_the_slots_of_a_pool_share_the_default_memory_budget(tmp_path: Path) -> None:
    from worker.pool import Pool
    from worker.settings import default_memory_budget

    seen = tmp_path / "budget"
    report = [sys.executable, "-c", "import os, sys; open(sys.argv[1], 'w').write("
              "os.environ.get('HPADVISOR_MEMORY_BUDGET', 'unset'))", str(seen)]
    pool = Pool.of(report, None, 4)
    pool.share_memory(None)
    pool.start(pool.slots[0])
    assert pool.slots[0].process is not None and pool.slots[0].process.wait(timeout=30) == 0
    assert int(seen.read_text()) == pytest.approx(default_memory_budget() / 4, rel=0.2)
    given = Pool.of(report, None, 4)
    given.env.pop("HPADVISOR_MEMORY_BUDGET", None)
    given.share_memory(8 << 30)  # the user's own budget: each slot reads it as it is
    given.start(given.slots[0])
    assert given.slots[0].process is not None and given.slots[0].process.wait(timeout=30) == 0
    assert seen.read_text() == "unset"
