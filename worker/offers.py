"""What this worker host offers: recorded in the database so the API accepts only jobs that
some worker can run."""

from __future__ import annotations

import dataclasses
import socket

from worker import registry
from worker.objectives import registered_objectives
from worker.store import make_engine, make_sessionmaker, session_scope


def offer_everything(url: str, config_path: str | None = None) -> list[str]:
    """Register user data sets from the worker config, then record every objective and data
    set this host can run. Returns their names."""
    from worker import trainer

    if config_path:
        trainer.register_datasets_from_config(config_path)
    host = socket.gethostname()
    engine = make_engine(url)
    try:
        with session_scope(make_sessionmaker(engine)) as session:
            for name in registered_objectives():
                registry.record_offer(session, "objective", name, host)
            for name in trainer.dataset_names():
                profile = dataclasses.asdict(trainer.dataset_profile(name))
                registry.record_offer(session, "dataset", name, host, profile)
    finally:
        engine.dispose()
    return [*registered_objectives(), *trainer.dataset_names()]
