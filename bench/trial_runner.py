"""Benchmark: the trial runner's training loop against two simpler loops, same model and data.

* ours - `worker.trainer.run_trial` (data on the device, batched crop + flip, channels_last on
  CPU, bfloat16 autocast on CUDA); its `images_per_second` counts training steps only.
* (a) - a per-image `torch.utils.data.Dataset` + `DataLoader` (batch 128, shuffle, drop_last,
  no worker processes) doing the same random-resized-crop + flip per image, the model in the
  default memory format, as a typical training script would. (a+cl) is the same loop with the
  model and batches in channels_last, to show where the difference comes from.
* (b) - a bare hand-written on-device loop: permutation slicing, the runner's batched crop + flip
  ops, channels_last, SGD at a constant rate; nothing else.

All loops train with SGD (momentum 0.9), batch 128, the same crop scale and the same number of
epochs; only training steps are timed (evaluation excluded).

    python bench/trial_runner.py --epochs 2 --model resnet20 --dataset digits --threads 2

``--folder`` is the real-model case: a generated folder of JPEGs (``--images`` of 96 px, ten
classes) trained at ``--size`` px by a torchvision model (default resnet18):

* ours - the folder registered as a user data set would be: decoded once into the uint8 cache
  (the first decode and the cached re-open are timed too, in images/s), then `run_trial`;
* (ref) - a torchvision-reference-style loop: `ImageFolder` with per-image `RandomResizedCrop`
  + `RandomHorizontalFlip` + `ToTensor` + `Normalize`, a `DataLoader` with ``--workers``
  worker processes, the model in the default memory format;
* (bare) - a bare on-device loop on the pre-decoded uint8 tensor: permutation slicing, the
  runner's batched crop and flip, normalisation, channels_last, SGD at a constant rate.

    python bench/trial_runner.py --folder --images 2000 --size 64 --epochs 1 --threads 2
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

# Run as a script, this folder comes first on sys.path, and bench/advisor.py would shadow the
# advisor package (which the trial runner's model lookup imports).
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).parent.resolve()]

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset

from worker.trainer import build_model, load_dataset, run_trial
from worker.trainer.augment import random_horizontal_flip, random_resized_crop
from worker.trainer.datasets import DatasetProfile, LoadedDataset
from worker.trainer.image_folder import read_image_folder

BATCH_SIZE = 128
CROP_SCALE = (0.35, 1.0)
CROP_RATIO = (3 / 4, 4 / 3)
LEARNING_RATE = 0.05


class PerImageCropFlip(Dataset):
    """Per-image random-resized-crop (integer box, bilinear resize) and horizontal flip."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, flip: bool, seed: int) -> None:
        self.images, self.labels, self.flip = images, labels, flip
        self.generator = torch.Generator().manual_seed(seed)

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        image = self.images[index]
        size = image.shape[-1]
        draws = torch.rand(5, generator=self.generator).tolist()
        area = CROP_SCALE[0] + (CROP_SCALE[1] - CROP_SCALE[0]) * draws[0]
        log_low, log_high = torch.log(torch.tensor(CROP_RATIO)).tolist()
        aspect = float(torch.exp(torch.tensor(log_low + (log_high - log_low) * draws[1])))
        width = max(1, min(size, round(size * (area * aspect) ** 0.5)))
        height = max(1, min(size, round(size * (area / aspect) ** 0.5)))
        top, left = int(draws[2] * (size - height + 1)), int(draws[3] * (size - width + 1))
        crop = image[:, top : top + height, left : left + width].unsqueeze(0)
        image = F.interpolate(crop, size=(size, size), mode="bilinear", align_corners=False)[0]
        if self.flip and draws[4] < 0.5:
            image = image.flip(-1)
        return image, self.labels[index]


def _autocast(device: torch.device) -> contextlib.AbstractContextManager:
    if device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def _synchronise(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def _sgd_step(model, optimizer, images, labels, device) -> None:
    with _autocast(device):
        logits = model(images)
    loss = F.cross_entropy(logits.float(), labels)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()


def _fresh_model(args, data, device, memory_format):
    torch.manual_seed(0)
    profile = data.profile
    model = build_model(args.model, profile.num_classes, profile.channels)
    model = model.to(device, memory_format=memory_format).train()
    optimizer = torch.optim.SGD(model.parameters(), lr=LEARNING_RATE, momentum=0.9,
                                weight_decay=5e-4)
    return model, optimizer


def bench_ours(args, data, device) -> float:
    config = {"epochs": args.epochs, "batch_size": BATCH_SIZE, "learning_rate": LEARNING_RATE,
              "crop_scale": list(CROP_SCALE), "crop_ratio": list(CROP_RATIO)}
    result = run_trial(config, data, args.model, device=device.type, seed=0)
    return result.images_per_second


def _floats(images: torch.Tensor) -> torch.Tensor:
    return images.float() / 255.0 if images.dtype == torch.uint8 else images


def bench_dataloader(args, data, device, channels_last: bool) -> float:
    memory_format = torch.channels_last if channels_last else torch.contiguous_format
    model, optimizer = _fresh_model(args, data, device, memory_format)
    dataset = PerImageCropFlip(_floats(data.x_train), data.y_train,
                               data.profile.horizontal_flip_ok, 0)
    loader = DataLoader(dataset, batch_size=BATCH_SIZE, shuffle=True, drop_last=True,
                        pin_memory=device.type == "cuda")
    images_seen, started = 0, time.perf_counter()
    for _ in range(args.epochs):
        for images, labels in loader:
            images = images.to(device, non_blocking=True).contiguous(memory_format=memory_format)
            _sgd_step(model, optimizer, images, labels.to(device, non_blocking=True), device)
            images_seen += len(labels)
    _synchronise(device)
    return images_seen / (time.perf_counter() - started)


def bench_bare(args, data, device) -> float:
    model, optimizer = _fresh_model(args, data, device, torch.channels_last)
    x, y = _floats(data.x_train).to(device), data.y_train.to(device)
    generator = torch.Generator(device=device).manual_seed(0)
    flip = data.profile.horizontal_flip_ok
    steps = len(y) // BATCH_SIZE
    started = time.perf_counter()
    for _ in range(args.epochs):
        order = torch.randperm(len(y), generator=generator, device=device)
        for step in range(steps):
            index = order[step * BATCH_SIZE : (step + 1) * BATCH_SIZE]
            images = random_resized_crop(x[index], CROP_SCALE, CROP_RATIO, generator)
            if flip:
                images = random_horizontal_flip(images, generator)
            images = images.contiguous(memory_format=torch.channels_last)
            _sgd_step(model, optimizer, images, y[index], device)
    _synchronise(device)
    return steps * BATCH_SIZE * args.epochs / (time.perf_counter() - started)


def bench_device(args, device: torch.device) -> None:
    """Run every loop `args.rounds` times, interleaved, and print the best rate of each.

    The best of interleaved rounds is the figure least disturbed by other processes on a
    shared machine; the median is printed beside it.
    """
    data = load_dataset(args.dataset)
    loops = {
        "ours (run_trial)": lambda: bench_ours(args, data, device),
        "(a) Dataset+DataLoader, per-image aug": lambda: bench_dataloader(args, data, device,
                                                                          False),
        "(a+cl) same, channels_last": lambda: bench_dataloader(args, data, device, True),
        "(b) bare on-device loop": lambda: bench_bare(args, data, device),
    }
    rates = interleaved(loops, args.rounds)
    print(f"\n{device.type}: {args.model} on {args.dataset} ({len(data.y_train)} train images), "
          f"batch {BATCH_SIZE}, {args.epochs} epochs x {args.rounds} rounds, "
          f"{torch.get_num_threads()} threads")
    print_rates(rates)


def interleaved(loops: dict[str, Callable[[], float]], rounds: int) -> dict[str, list[float]]:
    """Each loop's images/s in every round, the loops taking turns within a round."""
    rates: dict[str, list[float]] = {name: [] for name in loops}
    for _ in range(rounds):
        for name, loop in loops.items():
            rates[name].append(loop())
    return rates


def print_rates(rates: dict[str, list[float]]) -> None:
    """Best and median per loop, then the first loop (ours) over each of the others."""
    best = {name: max(values) for name, values in rates.items()}
    for name, values in rates.items():
        print(f"  {name:<40} best {best[name]:8.1f}  median {statistics.median(values):8.1f}"
              " images/s")
    names = list(rates)
    for other in names[1:]:
        print(f"  ours / {other.split()[0]:<7}= {best[names[0]] / best[other]:.2f}x")


# --- the real-model case: a JPEG folder ----------------------------------------------------------

def make_jpeg_folder(root: Path, images: int, side: int = 96, classes: int = 10) -> Path:
    """`images` JPEGs of `side` px in `classes` folders: noise tinted by class, so decoding and
    augmenting cost what they cost on photos (the accuracy is beside the point here)."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    tints = rng.integers(40, 215, (classes, 3))
    for index in range(images):
        label = index % classes
        folder = root / f"class_{label:02d}"
        folder.mkdir(parents=True, exist_ok=True)
        noise = rng.integers(-40, 40, (side, side, 3))
        pixels = np.clip(tints[label] + noise, 0, 255).astype(np.uint8)
        Image.fromarray(pixels).save(folder / f"{index:05d}.jpg", quality=90)
    return root


def time_decoding(root: Path, size: int) -> tuple[float, float, torch.Tensor, torch.Tensor]:
    """(first decode, cached re-open) in images/s, and the decoded images and labels; the
    imports (PIL, torchvision's folder listing) are warmed up on a one-class folder first."""
    with tempfile.TemporaryDirectory() as cache:
        warm = make_jpeg_folder(Path(cache) / "warm-up", 4, classes=1)
        read_image_folder(warm, 3, size, progress=lambda done, total: None,
                          cache_dir=Path(cache))
        started = time.perf_counter()
        images, labels = read_image_folder(root, 3, size, progress=lambda done, total: None,
                                           cache_dir=Path(cache))
        first = len(labels) / (time.perf_counter() - started)
        started = time.perf_counter()
        images, labels = read_image_folder(root, 3, size, cache_dir=Path(cache))
        reopen = len(labels) / (time.perf_counter() - started)
    return first, reopen, images, labels


def folder_dataset(images: torch.Tensor, labels: torch.Tensor, size: int) -> LoadedDataset:
    """Every image for training (as the reference loop trains on all); 256 for the untimed
    per-epoch evaluation."""
    classes = int(labels.max()) + 1
    profile = DatasetProfile(name="jpeg-folder", num_train=len(labels), num_val=256,
                             num_classes=classes, image_size=size, channels=3,
                             horizontal_flip_ok=True, description="generated JPEGs")
    return LoadedDataset(profile, images, labels, images[:256], labels[:256])


def bench_folder_ours(args, data, device) -> float:
    config = {"epochs": args.epochs, "batch_size": BATCH_SIZE, "learning_rate": LEARNING_RATE,
              "crop_scale": list(CROP_SCALE), "crop_ratio": list(CROP_RATIO),
              "weight_decay": 5e-4, "no_bias_decay": False, "lr_schedule": "constant"}
    return run_trial(config, data, args.model, device=device.type, seed=0).images_per_second


def bench_folder_reference(args, root: Path, data, device) -> float:
    """torchvision's references/classification/train.py, reduced to its training loop."""
    from torchvision import datasets, transforms

    mean, std = list(data.mean), list(data.std)
    transform = transforms.Compose([
        transforms.RandomResizedCrop(args.size, scale=CROP_SCALE, ratio=CROP_RATIO,
                                     antialias=True),
        transforms.RandomHorizontalFlip(),
        transforms.ToTensor(),
        transforms.Normalize(mean, std),
    ])
    folder = datasets.ImageFolder(str(root), transform=transform)
    loader = DataLoader(folder, batch_size=BATCH_SIZE, shuffle=True, drop_last=True,
                        num_workers=args.workers, pin_memory=device.type == "cuda",
                        persistent_workers=False)
    model, optimizer = _fresh_model(args, data, device, torch.contiguous_format)
    images_seen, started = 0, time.perf_counter()
    for _ in range(args.epochs):
        for images, labels in loader:
            images = images.to(device, non_blocking=True)
            _sgd_step(model, optimizer, images, labels.to(device, non_blocking=True), device)
            images_seen += len(labels)
    _synchronise(device)
    return images_seen / (time.perf_counter() - started)


def bench_folder_bare(args, data, device) -> float:
    model, optimizer = _fresh_model(args, data, device, torch.channels_last)
    x, y = data.x_train.to(device), data.y_train.to(device)
    mean = torch.tensor(data.mean, device=device).view(1, -1, 1, 1)
    std = torch.tensor(data.std, device=device).view(1, -1, 1, 1)
    generator = torch.Generator(device=device).manual_seed(0)
    steps = len(y) // BATCH_SIZE
    started = time.perf_counter()
    for _ in range(args.epochs):
        order = torch.randperm(len(y), generator=generator, device=device)
        for step in range(steps):
            index = order[step * BATCH_SIZE : (step + 1) * BATCH_SIZE]
            images = x[index].float().div_(255.0)
            images = random_resized_crop(images, CROP_SCALE, CROP_RATIO, generator)
            images = random_horizontal_flip(images, generator)
            images = ((images - mean) / std).contiguous(memory_format=torch.channels_last)
            _sgd_step(model, optimizer, images, y[index], device)
    _synchronise(device)
    return steps * BATCH_SIZE * args.epochs / (time.perf_counter() - started)


def bench_folder(args, device: torch.device) -> None:
    with tempfile.TemporaryDirectory() as directory:
        root = make_jpeg_folder(Path(directory) / "jpegs", args.images)
        first, reopen, images, labels = time_decoding(root, args.size)
        data = folder_dataset(images, labels, args.size)
        loops = {
            "ours (cache + run_trial)": lambda: bench_folder_ours(args, data, device),
            f"(ref) ImageFolder+DataLoader({args.workers} workers)":
                lambda: bench_folder_reference(args, root, data, device),
            "(bare) on-device loop on uint8": lambda: bench_folder_bare(args, data, device),
        }
        rates = interleaved(loops, args.rounds)
    print(f"\n{device.type}: {args.model} at {args.size} px on {args.images} generated 96 px "
          f"JPEGs, batch {BATCH_SIZE}, {args.epochs} epochs x {args.rounds} rounds, "
          f"{torch.get_num_threads()} threads")
    print(f"  first decode into the uint8 cache        {first:8.1f} images/s")
    print(f"  cached re-open                           {reopen:8.1f} images/s")
    print_rates(rates)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--model", default="resnet20")
    parser.add_argument("--dataset", default="digits")
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto",
                        help="auto: CPU, and CUDA too when available")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--rounds", type=int, default=3, help="interleaved repetitions")
    parser.add_argument("--folder", action="store_true",
                        help="the real-model case: a generated JPEG folder (see the docstring)")
    parser.add_argument("--images", type=int, default=2000, help="--folder: JPEGs to generate")
    parser.add_argument("--size", type=int, default=64, help="--folder: training resolution")
    parser.add_argument("--workers", type=int, default=2,
                        help="--folder: DataLoader worker processes of the reference loop")
    args = parser.parse_args()
    if args.folder and args.model == "resnet20":
        args.model = "resnet18"
    if args.threads:
        torch.set_num_threads(args.threads)
    devices = [args.device] if args.device != "auto" else ["cpu"] + (
        ["cuda"] if torch.cuda.is_available() else [])
    for device in devices:
        (bench_folder if args.folder else bench_device)(args, torch.device(device))


if __name__ == "__main__":
    main()
