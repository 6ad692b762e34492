"""Fixtures shared by the worker tests."""

from __future__ import annotations

import threading

import pytest
from optuna.storages import InMemoryStorage, run_grpc_proxy_server

from servers import free_port


@pytest.fixture(scope="module")
def proxy_url() -> str:
    """A real Optuna gRPC storage proxy over an in-memory storage, in a thread."""
    port = free_port()
    threading.Thread(target=run_grpc_proxy_server, args=(InMemoryStorage(),),
                     kwargs={"host": "127.0.0.1", "port": port}, daemon=True).start()
    return f"grpc://127.0.0.1:{port}"
