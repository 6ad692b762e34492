"""Trial checkpoints in Optuna's artifact store, so a trial cut off resumes instead of
starting again.

A running trial saves its whole state (`worker.trainer.run.capture_state`) at an epoch end once
`every_s` seconds of training have passed since its last save (`HPADVISOR_CHECKPOINT_S`), as
one file uploaded with `optuna.artifacts.upload_artifact`; the trial's user attribute
`checkpoint` names it (artifact id and epoch) and the previous one is removed from the store.
When the trial is cut off (its worker killed, a signal past its grace, the database lost),
Optuna's retry callback re-queues a copy that inherits the user attributes, so the copy finds
the pointer, downloads the state and goes on from the epoch after it, on whichever worker
reaches the store. The epochs it restores are reported to the new trial once, so the pruner
sees one history. A finished trial removes its checkpoints; the job's end sweeps any left.

The store is `open_artifact_store(HPADVISOR_ARTIFACTS)`: a folder (default
`./hpadvisor-artifacts`, Optuna's `FileSystemArtifactStore`; shared storage for many hosts),
or `s3://BUCKET` / `gs://BUCKET` through Optuna's Boto3 and GCS stores.
"""

from __future__ import annotations

import logging
import tempfile
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import optuna
from optuna.artifacts import (
    Boto3ArtifactStore,
    FileSystemArtifactStore,
    GCSArtifactStore,
    download_artifact,
    upload_artifact,
)
from optuna.artifacts.exceptions import ArtifactNotFound

from worker.failures import database_error

log = logging.getLogger("hpadvisor.worker")

#: The trial user attribute naming its last checkpoint: {"artifact_id": ..., "epoch": n}.
CHECKPOINT_ATTR = "checkpoint"

ArtifactStore = FileSystemArtifactStore | Boto3ArtifactStore | GCSArtifactStore


def open_artifact_store(location: str) -> ArtifactStore:
    """Optuna's artifact store at `location`: `s3://BUCKET`, `gs://BUCKET` or a folder (made
    if missing). ValueError naming what is wrong."""
    for scheme, store in (("s3://", Boto3ArtifactStore), ("gs://", GCSArtifactStore)):
        if location.startswith(scheme):
            bucket = location.removeprefix(scheme)
            if not bucket or "/" in bucket.rstrip("/"):
                raise ValueError(f"artifacts: {location!r}: name a bucket alone "
                                 f"({scheme}BUCKET); Optuna's store keys files by id in it")
            try:
                return store(bucket.rstrip("/"))
            except ImportError as error:
                raise ValueError(f"artifacts: {location!r} needs {error.name} installed") from None
    folder = Path(location).expanduser()
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise ValueError(f"artifacts: cannot use the folder {str(folder)!r}: "
                         f"{error.strerror}") from None
    return FileSystemArtifactStore(str(folder))


def remove_quietly(store: ArtifactStore, artifact_ids: Iterable[str]) -> None:
    """Remove artifacts; one already gone (or a store that refuses) is logged, not raised."""
    for artifact_id in artifact_ids:
        try:
            store.remove(artifact_id)
        except ArtifactNotFound:
            pass
        except Exception as error:
            log.warning("artifact %s not removed: %s", artifact_id, str(error).splitlines()[0])


def checkpoint_ids(trials: Iterable[optuna.trial.FrozenTrial]) -> set[str]:
    """The checkpoint artifacts the trials' user attributes name."""
    found = set()
    for trial in trials:
        pointer = trial.user_attrs.get(CHECKPOINT_ATTR)
        if isinstance(pointer, dict) and isinstance(pointer.get("artifact_id"), str):
            found.add(pointer["artifact_id"])
    return found


class TrialCheckpoints:
    """One running trial's checkpoints: what it resumes from, what it saves, what it removes."""

    def __init__(self, store: ArtifactStore, trial: optuna.Trial, every_s: float,
                 load: Callable[[Path], dict[str, Any]],
                 dump: Callable[[dict[str, Any], Path], None]) -> None:
        """`load`/`dump` read and write a state file (torch.load / torch.save: the worker side
        passes them, so this module does not import torch)."""
        self.store, self.trial, self.every_s = store, trial, every_s
        self.load, self.dump = load, dump
        self.started = time.monotonic()
        self.last_saved = self.started
        #: Artifacts this trial holds: what it inherited, then what it saved.
        self.held: list[str] = []

    def resume_state(self) -> dict[str, Any] | None:
        """The state the trial this one retries last saved, or None (nothing saved, or the
        file is gone: then it starts from zero, which is logged)."""
        pointer = self.trial.user_attrs.get(CHECKPOINT_ATTR)
        if not isinstance(pointer, dict) or not isinstance(pointer.get("artifact_id"), str):
            return None
        artifact_id = pointer["artifact_id"]
        self.held.append(artifact_id)
        with tempfile.TemporaryDirectory() as directory:
            path = Path(directory) / "state.pt"
            try:
                download_artifact(artifact_store=self.store, file_path=str(path),
                                  artifact_id=artifact_id)
                state = self.load(path)
            except Exception as error:
                log.warning("trial %d: checkpoint %s not read (%s); starting from zero",
                            self.trial.number, artifact_id, str(error).splitlines()[0])
                return None
        log.info("trial %d: resuming from the checkpoint at epoch %s", self.trial.number,
                 pointer.get("epoch"), extra={"trial": self.trial.number})
        return state

    def save(self, epoch: int, capture: Callable[[], dict[str, Any]]) -> None:
        """At an epoch end: save the state when `every_s` has passed since the last save."""
        if time.monotonic() - self.last_saved < self.every_s:
            return
        try:
            with tempfile.TemporaryDirectory() as directory:
                path = Path(directory) / f"trial-{self.trial.number}-epoch-{epoch}.pt"
                self.dump(capture(), path)
                artifact_id = upload_artifact(artifact_store=self.store, file_path=str(path),
                                              study_or_trial=self.trial)
        except Exception as error:  # training goes on; the last good checkpoint stands
            if database_error(error) is not None:
                raise
            log.warning("trial %d: checkpoint at epoch %d not saved: %s", self.trial.number,
                        epoch, str(error).splitlines()[0], extra={"trial": self.trial.number})
            return
        self.trial.set_user_attr(CHECKPOINT_ATTR, {"artifact_id": artifact_id, "epoch": epoch})
        remove_quietly(self.store, self.held)
        self.held = [artifact_id]
        self.last_saved = time.monotonic()

    def discard(self) -> None:
        """The trial finished: its checkpoints are no longer needed."""
        remove_quietly(self.store, self.held)
        self.held = []
