"""What this worker host offers: recorded in the database so the API accepts only jobs that
some worker can run."""

from __future__ import annotations

import socket

from worker import registry
from worker.objectives import registered_objectives
from worker.schemas import BUILTIN_OBJECTIVE
from worker.store import make_engine, make_sessionmaker, session_scope


def offer_everything(url: str, config_path: str | None = None) -> list[str]:
    """Register user data sets and weights from the worker config, then record every objective,
    data set and model with local pretrained weights this host offers. Returns their names."""
    from worker import trainer

    if config_path:
        trainer.register_datasets_from_config(config_path)
        trainer.register_weights_from_config(config_path)
    weights = trainer.available_weights()
    host = socket.gethostname()
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
