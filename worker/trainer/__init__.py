"""The PyTorch trial runner: data sets, models and `run_trial` for one hyperparameter config.

torch, torchvision and timm (scikit-learn for the digits data); no Optuna here. The Optuna
worker calls `run_trial` and prunes by raising from its `report` callback::

    from worker.trainer import run_trial

    result = run_trial({"learning_rate": 0.5, "epochs": 3, "crop_scale": [0.35, 1.0]},
                       "digits", "small_cnn", device="cpu", seed=0, threads=1)
    print(result.val_accuracy, result.curves()["val_accuracy"])

Models are built by name (`worker.trainer.model_names.resolve_model`: torchvision's, timm's and
the small built-in nets); pretrained weights come only from local files
(`worker.trainer.weights`).
"""

from worker.trainer.config import KEYS, TrialConfig, check_applicable
from worker.trainer.datasets import (
    DatasetProfile,
    LoadedDataset,
    dataset_names,
    dataset_profile,
    load_dataset,
    register_dataset,
    register_datasets_from_config,
)
from worker.trainer.model_names import ModelRef, UnknownModel, model_names, resolve_model
from worker.trainer.models import (
    BuiltModel,
    build,
    build_model,
    describe_model,
    model_params_millions,
)
from worker.trainer.run import EpochResult, TrialResult, run_trial
from worker.trainer.weights import (
    available_weights,
    find_weights,
    register_weights_from_config,
    where_weights_are_looked_for,
)

__all__ = [
    "KEYS",
    "BuiltModel",
    "DatasetProfile",
    "EpochResult",
    "LoadedDataset",
    "ModelRef",
    "TrialConfig",
    "TrialResult",
    "UnknownModel",
    "available_weights",
    "build",
    "build_model",
    "check_applicable",
    "dataset_names",
    "dataset_profile",
    "describe_model",
    "find_weights",
    "load_dataset",
    "model_names",
    "model_params_millions",
    "register_dataset",
    "register_datasets_from_config",
    "register_weights_from_config",
    "resolve_model",
    "run_trial",
    "where_weights_are_looked_for",
]
