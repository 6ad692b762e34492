"""The PyTorch trial runner: data sets, models and `run_trial` for one hyperparameter config.

Plain torch + numpy (scikit-learn for the digits data, PIL for image folders); no Optuna here.
The Optuna worker calls `run_trial` and prunes by raising from its `report` callback::

    from worker.trainer import run_trial

    result = run_trial({"learning_rate": 0.5, "epochs": 3, "crop_scale": [0.35, 1.0]},
                       "digits", "small_cnn", device="cpu", seed=0, threads=1)
    print(result.val_accuracy, result.curves()["val_accuracy"])
"""

from worker.trainer.config import TrialConfig
from worker.trainer.datasets import (
    DatasetProfile,
    LoadedDataset,
    dataset_names,
    dataset_profile,
    load_dataset,
    register_dataset,
    register_datasets_from_config,
)
from worker.trainer.loop import EpochResult, TrialResult, run_trial
from worker.trainer.models import build_model, model_names, model_params_millions

__all__ = [
    "DatasetProfile",
    "EpochResult",
    "LoadedDataset",
    "TrialConfig",
    "TrialResult",
    "build_model",
    "dataset_names",
    "dataset_profile",
    "load_dataset",
    "model_names",
    "model_params_millions",
    "register_dataset",
    "register_datasets_from_config",
    "run_trial",
]
