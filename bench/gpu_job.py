"""One tuning job end to end, through real processes: `hpadvisor serve`, `hpadvisor worker`
with a `[[datasets]]` folder, a job posted over HTTP, polled until it ends.

The folder is generated here (class-tinted noise JPEGs, as bench/trial_runner.py makes them),
so nothing is fetched. On a GPU this is the CUDA path as a user meets it: a torchvision model at
224 px, bf16 autocast and channels_last in the trial runner. It prints one line (or the job's
figures as JSON with ``--json``) and exits 1 when the job does not succeed.

    python bench/gpu_job.py --device cuda --model resnet18 --size 224 --images 2000
    python bench/gpu_job.py --device cpu --model resnet18 --size 32 --images 200   # a rehearsal
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent


def _make_jpeg_folder():
    """bench/trial_runner.py's folder maker, loaded by path (bench/ is not a package)."""
    spec = importlib.util.spec_from_file_location("trial_runner_bench",
                                                  ROOT / "bench" / "trial_runner.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.make_jpeg_folder


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait(predicate, seconds: float, what: str, logs: list[Path]) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.5)
    tails = "\n".join(f"--- {log.name}\n{log.read_text()[-3000:]}" for log in logs)
    raise SystemExit(f"gpu_job: {what} not within {seconds:.0f} s\n{tails}")


def most_at_once(trials: list[dict]) -> int:
    """The most trials that were running at the same moment (from their start and end)."""
    edges = []
    for trial in trials:
        if trial.get("datetime_start") and trial.get("datetime_complete"):
            edges += [(trial["datetime_start"], 1), (trial["datetime_complete"], -1)]
    running = most = 0
    for _, step in sorted(edges, key=lambda edge: (edge[0], edge[1])):
        running += step
        most = max(most, running)
    return most


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", choices=("cuda", "cpu"), default="cuda")
    parser.add_argument("--model", default="resnet18")
    parser.add_argument("--size", type=int, default=224, help="training resolution")
    parser.add_argument("--images", type=int, default=2000, help="JPEGs to generate")
    parser.add_argument("--trials", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds for the job")
    parser.add_argument("--worker-args", default="",
                        help="more flags for the worker, e.g. '--gpus 0 --slots 2' for the pool")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as directory:
        work = Path(directory)
        folder = _make_jpeg_folder()(work / "jpegs", args.images, side=96, classes=10)
        config = work / "worker.toml"
        config.write_text(f'[[datasets]]\nname = "gpujpegs"\npath = "{folder}"\n'
                          f'format = "folder"\nhorizontal_flip_ok = true\n'
                          f"image_size = {args.size}\n")
        database = f"sqlite:///{work / 'hpadvisor.db'}"
        env = {**os.environ, "HPADVISOR_DATABASE_URL": database, "HPADVISOR_API_KEYS": "",
               "HPADVISOR_CACHE_DIR": str(work / "cache"), "PYTHONPATH": os.pathsep.join(
                   filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
        cli = [sys.executable, "-m", "api.cli"]
        subprocess.run([*cli, "db", "upgrade"], env=env, check=True, capture_output=True)
        port = _free_port()
        logs = [work / "serve.log", work / "worker.log"]
        with logs[0].open("wb") as out:
            server = subprocess.Popen([*cli, "serve", "--port", str(port)], env=env,
                                      stdout=out, stderr=subprocess.STDOUT)
        with logs[1].open("wb") as out:
            device = [] if "--gpus" in args.worker_args else ["--device", args.device]
            worker = subprocess.Popen([*cli, "worker", "--config", str(config), *device,
                                       "--poll", "0.5", *args.worker_args.split()], env=env,
                                      stdout=out, stderr=subprocess.STDOUT)
        client = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30.0)
        started = time.monotonic()
        try:
            def healthy() -> bool:
                try:
                    return client.get("/healthz").status_code == 200
                except httpx.HTTPError:
                    return False

            _wait(healthy, 60, "the API", logs)

            def offered() -> bool:
                names = [d["name"] for d in client.get("/v1/datasets").json()]
                return "gpujpegs" in names

            _wait(offered, 300, "the worker's offer of the folder (decoded once)", logs)
            decoded_s = time.monotonic() - started
            body = {"objective": "image-classification", "dataset": "gpujpegs",
                    "model": {"name": args.model},
                    "training": {"batch_size": args.batch_size, "epochs": args.epochs},
                    "n_trials": args.trials, "sampler": "tpe", "pruner": "none", "seed": 0}
            response = client.post("/v1/jobs", json=body)
            if response.status_code != 201:
                raise SystemExit(f"gpu_job: POST /v1/jobs answered {response.status_code}: "
                                 f"{response.text[:500]}")
            job_id = response.json()["id"]
            submitted = time.monotonic()

            def final() -> bool:
                state = client.get(f"/v1/jobs/{job_id}").json()["state"]
                return state in ("succeeded", "failed", "cancelled")

            _wait(final, args.timeout, f"job {job_id}", logs)
            job_s = time.monotonic() - submitted
            job = client.get(f"/v1/jobs/{job_id}").json()
            trials = client.get(f"/v1/jobs/{job_id}/trials", params={"limit": 100}).json()
        finally:
            worker.terminate()
            server.terminate()
            for process in (worker, server):
                try:
                    process.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    process.kill()
        states = [t["state"] for t in trials["items"]]
        overlap = most_at_once(trials["items"])
        slots = sorted({t["user_attrs"].get("slot") for t in trials["items"]} - {None})
        epochs = sum(len(t.get("intermediate_values") or {}) for t in trials["items"])
        figures = {
            "device": args.device, "model": args.model, "size": args.size,
            "images": args.images, "state": job["state"], "trials": states,
            "best": (job.get("best") or {}).get("value"), "epochs_trained": epochs,
            "offer_s": round(decoded_s, 1), "job_s": round(job_s, 1),
            "most_trials_at_once": overlap, "slots": slots,
            "error": job.get("error"),
        }
        if args.json:
            print(json.dumps(figures))
        else:
            print(f"job {job['state']}: {args.model} at {args.size} px on {args.device}, "
                  f"{len(states)} trials ({', '.join(states)}), best {figures['best']}, "
                  f"{epochs} epochs in {job_s:.0f} s (folder offered after {decoded_s:.0f} s), "
                  f"at most {overlap} trials at once"
                  + (f" on slots {', '.join(slots)}" if slots else "")
                  + (f", error: {job.get('error')}" if job.get("error") else ""))
        if job["state"] != "succeeded":
            for log in logs:
                print(f"--- {log.name}\n{log.read_text()[-4000:]}", file=sys.stderr)
        return 0 if job["state"] == "succeeded" else 1


if __name__ == "__main__":
    sys.exit(main())
