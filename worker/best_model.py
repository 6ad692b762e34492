"""The job's best trained model, handed back: a plain `state_dict` in safetensors and a JSON
that says what it is, both in Optuna's artifact store.

A trial of the built-in objective that completes as the best of its study so far (highest
value; on a tie, the lower trial number, as the job's result picks) uploads its final weights
and the description (`keep_if_best`) and names them in its user attribute `model_file`. When
the job ends, `sweep` keeps the best trial's files, removes every other trial's model and any
checkpoint left, and the job's result names the kept files (`result["model"]`), which
`GET /v1/jobs/{id}/model` and `hpadvisor jobs ID --save-model DIR` fetch.

The weights load without hpadvisor: `torchvision.models.get_model(name, num_classes=N)` (or
`timm.create_model(name, num_classes=N)`), then `load_state_dict(safetensors.torch.load_file(
path))`; the inputs are what the JSON says (size, channels, mean and std on [0, 1] pixels).
"""

from __future__ import annotations

import json
import logging
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import optuna
from optuna.artifacts import upload_artifact
from optuna.trial import FrozenTrial, TrialState

from worker.checkpoints import ArtifactStore, checkpoint_ids, remove_quietly

if TYPE_CHECKING:
    from worker.trainer.run import TrialResult

log = logging.getLogger("hpadvisor.worker")

#: The trial user attribute naming its model files: {"weights": id, "meta": id}.
MODEL_FILE_ATTR = "model_file"
WEIGHTS_NAME = "model.safetensors"
META_NAME = "model.json"


def _beats(value: float, number: int, others: list[FrozenTrial]) -> bool:
    """Whether (value, number) is the best among `others` (complete trials) by the job's rule."""
    return all(other.value is None or (value, -number) > (other.value, -other.number)
               for other in others if other.number != number)


@dataclass(frozen=True)
class TrialMeta:
    """What the trial trained: its Optuna trial and the job's names and configuration."""

    trial: optuna.Trial
    dataset: str
    model: str  # torchvision:resnet18, timm:..., or a built-in's name
    pretrained: bool
    config: dict[str, Any]


def describe(ctx: TrialMeta, result: TrialResult, job_id: int | None) -> dict[str, Any]:
    """What the weights are and how to feed them."""
    library, _, name = ctx.model.rpartition(":")
    from worker.trainer import dataset_profile

    profile = dataset_profile(ctx.dataset)
    how = {"torchvision": f"torchvision.models.get_model({name!r}, num_classes="
                          f"{profile.num_classes})",
           "timm": f"timm.create_model({name!r}, num_classes={profile.num_classes}"
                   f"{', in_chans=' + str(result.channels) if result.channels != 3 else ''})"}
    return {
        "job_id": job_id, "trial": ctx.trial.number, "value": float(result.val_accuracy),
        "metric": "val_accuracy", "model": ctx.model, "library": library or "hpadvisor",
        "name": name, "build": how.get(library, f"worker.trainer.build_model({name!r}, "
                                                f"{profile.num_classes}, {result.channels})"),
        "dataset": ctx.dataset, "num_classes": profile.num_classes,
        "classes_note": "class indices in sorted folder-name order (torchvision's ImageFolder) "
                        "for image folders",
        "channels": result.channels, "input_size": result.input_size,
        "image_size": profile.image_size, "mean": result.mean, "std": result.std,
        "normalisation": "pixels / 255, then (x - mean) / std per channel",
        "pretrained": ctx.pretrained, "config": ctx.config,
        "weights_file": WEIGHTS_NAME, "format": "safetensors state_dict",
    }


def keep_if_best(ctx: TrialMeta, result: TrialResult, store: ArtifactStore) -> bool:
    """Upload the trial's final weights and description when it is the study's best so far;
    whether it did."""
    if result.module is None:
        return False
    study = ctx.trial.study
    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    if not _beats(float(result.val_accuracy), ctx.trial.number, complete):
        return False
    from safetensors.torch import save_file

    job_id = study.user_attrs.get("hpadvisor_job_id")
    tensors = {key: value.detach().to("cpu").contiguous()
               for key, value in result.module.state_dict().items()}
    meta = describe(ctx, result, int(job_id) if job_id is not None else None)
    with tempfile.TemporaryDirectory() as directory:
        weights, description = Path(directory) / WEIGHTS_NAME, Path(directory) / META_NAME
        save_file(tensors, str(weights), metadata={"format": "pt", "model": ctx.model})
        description.write_text(json.dumps(meta, indent=2), encoding="utf-8")
        ids = {"weights": upload_artifact(artifact_store=store, file_path=str(weights),
                                          study_or_trial=ctx.trial,
                                          mimetype="application/octet-stream"),
               "meta": upload_artifact(artifact_store=store, file_path=str(description),
                                       study_or_trial=ctx.trial, mimetype="application/json")}
    ctx.trial.set_user_attr(MODEL_FILE_ATTR, ids)
    return True


def model_ids(trial: FrozenTrial) -> dict[str, str] | None:
    files = trial.user_attrs.get(MODEL_FILE_ATTR)
    if isinstance(files, dict) and all(isinstance(files.get(k), str) for k in ("weights", "meta")):
        return {"weights": files["weights"], "meta": files["meta"]}
    return None


def sweep(store: ArtifactStore, trials: list[FrozenTrial],
          best: FrozenTrial | None) -> dict[str, Any] | None:
    """At the job's end: keep the best trial's model files, remove every other trial's model
    and every checkpoint; the kept files (None when the best trial saved none)."""
    kept = model_ids(best) if best is not None else None
    doomed = set(checkpoint_ids(trials))
    for trial in trials:
        files = model_ids(trial)
        if files is not None and files != kept:
            doomed.update(files.values())
    remove_quietly(store, sorted(doomed - set((kept or {}).values())))
    if kept is None or best is None:
        return None
    return {"trial_number": best.number, **kept}

