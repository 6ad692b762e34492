"""What this worker process offers, gathered from its own registries: the objectives it has,
the trial runner's data sets (built-in and from its `--config`) and the weights on this
machine. Recorded twice: as the live `Offer` that routes jobs (`worker.offers`) and as the
per-host names and data-set profiles the API lists (`registered_names`)."""

from __future__ import annotations

import socket

from worker import registry
from worker.objectives import registered_objectives
from worker.offers import Offer
from worker.schemas import BUILTIN_OBJECTIVE
from worker.store import make_engine, make_sessionmaker, session_scope


def this_process(device: str = "auto") -> Offer:
    """What this process can run now."""
    from worker import trainer  # torch: worker processes only

    if device == "auto":
        import torch

        device = "cuda" if torch.cuda.is_available() else "cpu"
    return Offer(objectives=tuple(sorted(registered_objectives())),
                 datasets=tuple(trainer.dataset_names()),
                 weights=tuple(sorted(trainer.available_weights())), device=device)


def register_config(config_path: str) -> None:
    """Register the worker config's `[[datasets]]` and `[[weights]]` in this process."""
    from worker import trainer

    trainer.register_datasets_from_config(config_path)
    trainer.register_weights_from_config(config_path)


def record_profiles(url: str, host: str | None = None) -> list[str]:
    """Record in `registered_names` every objective and data set (with its profile) this process
    offers, for the API's lists; returns what is offered, in words."""
    from worker import trainer

    weights = trainer.available_weights()
    host = host or socket.gethostname()
    engine = make_engine(url)
    try:
        with session_scope(make_sessionmaker(engine)) as session:
            for name in registered_objectives():
                profile = registry.weights_profile(weights) if name == BUILTIN_OBJECTIVE else None
                registry.record_offer(session, "objective", name, host, profile)
            for name in trainer.dataset_names():
                profile = trainer.dataset_profile(name).model_dump()
                registry.record_offer(session, "dataset", name, host, profile)
    finally:
        engine.dispose()
    return [*registered_objectives(), *trainer.dataset_names(),
            *(f"{key} (pretrained weights)" for key in weights)]
