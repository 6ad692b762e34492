"""Benchmark: training batches from an image folder held in memory against the same folder
streamed from its cache on disk, with a memory budget a third of the decoded size.

A generated folder of JPEGs (``--images`` of ``--size`` px, ten classes) is decoded once into
its cache; then, in this process, one after the other:

* in memory - `load_folder` with a budget the data fit in: the images as one uint8 tensor;
* streamed (warm) - `load_folder` with a budget of a third of the decoded size: `DiskImages`,
  read in windows of a quarter of the budget; the file is in the page cache;
* streamed (cold) - the same after each epoch's file pages are dropped from the page cache
  (``posix_fadvise(DONTNEED)``), so every window is read from the disk.

Each arm runs ``--epochs`` epochs of the trainer's batch source (`Batches.epoch`) with the
trainer's batched augmentation (random-resized crop, flip, normalisation) on ``--device``, and
with ``--model`` (default small_cnn) a full `run_trial` too. Figures are images/s per arm, the
median over epochs, and the ratio against the in-memory arm measured in the same process.

    python bench/streamed_data.py --images 20000 --size 64 --epochs 3 --threads 2
    python bench/streamed_data.py --json ...
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).parent.resolve()]
sys.path.append(str(Path(__file__).parent))  # after the packages: bench/advisor.py shadows none

import numpy as np
import torch
from trial_runner import make_jpeg_folder

from worker.dataset_profile import DatasetProfile
from worker.trainer.config import TrialConfig
from worker.trainer.disk_images import DiskImages
from worker.trainer.image_folder import load_folder
from worker.trainer.run import BatchAugmenter, Batches, Normaliser, resolve_device, run_trial

CLASSES = 10


def drop_page_cache(data) -> None:
    if isinstance(data.x_train, DiskImages):
        fd = os.open(data.x_train.cache.images_file, os.O_RDONLY)
        try:
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)


def pipeline_rate(data, device: torch.device, epochs: int, cold: bool) -> list[float]:
    """Images/s of the batch source plus the batched augmentation, per epoch."""
    config = TrialConfig.from_mapping({"batch_size": 128, "crop_scale": [0.35, 1.0]})
    mean = torch.tensor(data.mean, device=device).view(1, -1, 1, 1)
    std = torch.tensor(data.std, device=device).view(1, -1, 1, 1)
    augment = BatchAugmenter(config, True, CLASSES, torch.Generator(device=device).manual_seed(0),
                             np.random.default_rng(0), Normaliser(mean, std))
    batches = Batches.place(data.x_train, data.y_train, device, None, seed=0, batch_size=128)
    steps = len(data.y_train) // 128
    rates = []
    for _ in range(epochs):
        if cold:
            drop_page_cache(data)
        started = time.perf_counter()
        for images, labels in batches.epoch(augment.generator, 128, steps):
            augment(images, labels)
        if device.type == "cuda":
            torch.cuda.synchronize()
        rates.append(steps * 128 / (time.perf_counter() - started))
    return rates


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=20000)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--model", default="small_cnn")
    parser.add_argument("--json", action="store_true", help="one JSON object on stdout")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    figures: dict[str, object] = {"images": args.images, "size": args.size,
                                  "epochs": args.epochs, "device": str(device),
                                  "threads": args.threads}
    with tempfile.TemporaryDirectory() as scratch:
        root = make_jpeg_folder(Path(scratch) / "folder", args.images, args.size)
        cache = Path(scratch) / "cache"
        profile = DatasetProfile(name="bench", num_train=1, num_val=1, num_classes=CLASSES,
                                 image_size=args.size, channels=3, horizontal_flip_ok=True)
        started = time.perf_counter()
        resident = load_folder(root, profile, 0.2, cache_dir=cache, memory_budget=1 << 40,
                               progress=lambda done, total: None)
        figures["first_decode_images_per_s"] = args.images / (time.perf_counter() - started)
        decoded = args.images * args.size * args.size * 3
        budget = decoded // 3
        streamed = load_folder(root, profile, 0.2, cache_dir=cache, memory_budget=budget)
        figures["decoded_mb"] = decoded / 2**20
        figures["budget_mb"] = budget / 2**20
        arms = {"in memory": (resident, False), "streamed (warm)": (streamed, False),
                "streamed (cold)": (streamed, True)}
        pipeline = {name: statistics.median(pipeline_rate(data, device, args.epochs, cold))
                    for name, (data, cold) in arms.items()}
        figures["pipeline_images_per_s"] = pipeline
        training = {}
        if args.model:
            trial = {"epochs": args.epochs, "batch_size": 128, "learning_rate": 0.05}
            for name, (data, cold) in arms.items():
                if cold:
                    drop_page_cache(data)  # the first epoch cold; later ones as the cache has it
                result = run_trial(trial, data, args.model, device=str(device),
                                   threads=args.threads)
                training[name] = statistics.median(e.images_per_second for e in result.history)
            figures["training_images_per_s"] = training
    if args.json:
        print(json.dumps(figures))
        return
    print(f"{args.images} images of {args.size} px ({figures['decoded_mb']:.0f} MB decoded), "
          f"budget {figures['budget_mb']:.0f} MB, {device}, {args.threads} threads; "
          f"first decode {figures['first_decode_images_per_s']:.0f} images/s")
    base_pipe = pipeline["in memory"]
    print(f"{'arm':<18}{'batches+augment':>18}{'ratio':>8}"
          + (f"{'training ' + args.model:>24}{'ratio':>8}" if training else ""))
    for name in arms:
        line = f"{name:<18}{pipeline[name]:>14.0f} i/s{pipeline[name] / base_pipe:>7.2f}x"
        if training:
            line += (f"{training[name]:>20.0f} i/s"
                     f"{training[name] / training['in memory']:>7.2f}x")
        print(line)


if __name__ == "__main__":
    main()
