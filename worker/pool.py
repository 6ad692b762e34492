"""One worker command, every GPU of the host: a pool of trial slots, each a child worker
process pinned to its device, restarted if it dies, all stopped by one SIGTERM.

`hpadvisor worker --gpus all` (or `--gpus 0,1,3`) starts one slot per GPU, each with
`CUDA_VISIBLE_DEVICES` set to its GPU and `--device cuda` (`--slots N` with `--gpus`: N slots
on each GPU); `--slots N` alone starts N slots on the worker's `--device` (on a machine without
GPUs, the CPU: how the tests run it), each with a share of the cores as its torch threads
unless `--threads` says otherwise, and with an equal share of the host's default memory budget
unless `HPADVISOR_MEMORY_BUDGET` says otherwise. Every slot is an ordinary
`hpadvisor worker` with the pool's other options, so it claims, trains, checkpoints and offers
exactly as a worker started by hand; its slot name (`gpu1`, `cpu0`) travels in
`HPADVISOR_SLOT` and is recorded on each trial it runs (user attribute `slot`) and in the job's
progress.

The supervisor is Python's `subprocess`: it watches its slots, logs a slot that dies (its slot,
GPU, pid and exit status) and starts it again (after a pause that grows while it keeps dying
young); the trial the dead slot held is failed by the heartbeat and resumed from its checkpoint
by any worker, so the job loses no trial. A slot that exits 0 (`--once`: nothing left) is done;
one that exits 2 (bad configuration) stops the pool with that status. SIGTERM (or SIGINT) is
passed to every slot, each finishes (or checkpoints) its trial, and the pool exits once all
have; a second signal is passed on too (the slots then stop their trials at the next epoch).
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from types import FrameType

from worker.settings import default_memory_budget

log = logging.getLogger("hpadvisor.worker")

#: A slot that dies younger than this counts as crashing: its restart waits longer each time.
YOUNG_S = 30.0
MAX_PAUSE_S = 60.0
#: The variable naming a slot to its worker process.
SLOT_ENV = "HPADVISOR_SLOT"
#: The variable giving a slot its share of the host's memory (`Pool.share_memory`).
MEMORY_ENV = "HPADVISOR_MEMORY_BUDGET"


@dataclass
class Slot:
    """One child worker: its name, the GPU it is pinned to (None: CPU) and its process."""

    name: str
    gpu: str | None
    process: subprocess.Popen[bytes] | None = None
    started: float = 0.0
    crashes: int = 0  # deaths in a row, each younger than YOUNG_S
    restart_at: float = 0.0
    done: bool = False

    def where(self) -> str:
        return f"GPU {self.gpu}" if self.gpu is not None else "the CPU"


def parse_gpus(value: str, visible: int) -> list[str]:
    """`all` or a comma-separated list of GPU indices, checked against the `visible` count;
    ValueError naming what is wrong."""
    if value.strip() == "all":
        if visible < 1:
            raise ValueError("all: no CUDA GPU is visible here (use --slots N on the CPU)")
        return [str(index) for index in range(visible)]
    ids = [part.strip() for part in value.split(",") if part.strip()]
    if not ids or not all(part.isdigit() for part in ids):
        raise ValueError(f"{value!r}: give 'all' or GPU indices such as 0,1,3")
    if len(set(ids)) != len(ids):
        raise ValueError(f"{value!r}: a GPU is named twice")
    missing = [part for part in ids if int(part) >= visible]
    if missing:
        raise ValueError(f"{value!r}: no GPU {', '.join(missing)} here ({visible} visible)")
    return ids


@dataclass
class Pool:
    """The slots and their supervisor. `command` is the worker command each slot runs (without
    the pool's own flags); `env` the environment they start from."""

    command: Sequence[str]
    slots: list[Slot]
    env: dict[str, str] = field(default_factory=lambda: dict(os.environ))
    poll_s: float = 0.2
    signals: int = 0
    status: int = 0
    #: Each slot's memory budget in bytes, handed to it in `MEMORY_ENV` (None: the slots read
    #: the user's own `HPADVISOR_MEMORY_BUDGET`).
    memory_share: int | None = None

    def share_memory(self, budget: int | None) -> None:
        """Without a budget of the user's, each slot gets an equal part of the default one."""
        if budget is None:
            self.memory_share = default_memory_budget() // len(self.slots)

    @classmethod
    def of(cls, command: Sequence[str], gpus: list[str] | None, per_device: int) -> Pool:
        """`per_device` slots on each GPU in `gpus`, or on the worker's `--device` without."""
        if gpus:
            return cls(command, [Slot(f"gpu{gpu}" + (f"-{index}" if per_device > 1 else ""), gpu)
                                 for gpu in gpus for index in range(per_device)])
        return cls(command, [Slot(f"slot{index}", None) for index in range(per_device)])

    def start(self, slot: Slot) -> None:
        env = {**self.env, SLOT_ENV: slot.name}
        if self.memory_share is not None:
            env[MEMORY_ENV] = str(self.memory_share)
        command = list(self.command)
        if slot.gpu is not None:
            env["CUDA_VISIBLE_DEVICES"] = slot.gpu
            command += ["--device", "cuda"]
        # Its own session: a Ctrl-C in the terminal reaches the pool alone, which passes it on
        # once (two signals would stop the trials at their next epoch).
        slot.process = subprocess.Popen(command, env=env, start_new_session=True)
        slot.started = time.monotonic()
        log.info("slot %s started on %s (pid %d)", slot.name, slot.where(), slot.process.pid,
                 extra={"slot": slot.name})

    def forward(self, signum: int, _frame: FrameType | None = None) -> None:
        """Pass a stop signal to every running slot; from now on none is restarted."""
        self.signals += 1
        log.info("signal %d: passed to %d slots%s", signum, len(self.running()),
                 "" if self.signals > 1 else " (each finishes its trial; again to stop them now)")
        for slot in self.running():
            assert slot.process is not None
            slot.process.send_signal(signal.SIGTERM)

    def running(self) -> list[Slot]:
        return [slot for slot in self.slots if slot.process is not None
                and slot.process.poll() is None]

    def watch(self, slot: Slot) -> None:
        """React to a slot that exited: done, fatal, or dead (restart it after a pause)."""
        assert slot.process is not None
        code = slot.process.returncode
        pid, slot.process = slot.process.pid, None
        if self.signals or code == 0:
            slot.done = True
            return
        if code == 2:  # the worker refused its configuration: restarting cannot help
            log.error("slot %s (pid %d) refused its configuration (exit 2); stopping the pool",
                      slot.name, pid, extra={"slot": slot.name})
            self.status = 2
            slot.done = True
            self.forward(signal.SIGTERM)
            return
        young = time.monotonic() - slot.started < YOUNG_S
        slot.crashes = slot.crashes + 1 if young else 1
        pause = min(MAX_PAUSE_S, 0.5 * 2 ** (slot.crashes - 1)) if young else 0.0
        slot.restart_at = time.monotonic() + pause
        log.warning("slot %s on %s (pid %d) died with exit status %d; restarting it in %.1f s "
                    "(its trial is re-run from its checkpoint)", slot.name, slot.where(), pid,
                    code, pause, extra={"slot": slot.name})

    def run(self) -> int:
        """Start every slot, supervise until all are done; the pool's exit status."""
        previous = {sig: signal.signal(sig, self.forward) for sig in (signal.SIGTERM,
                                                                     signal.SIGINT)}
        try:
            for slot in self.slots:
                self.start(slot)
            while not all(slot.done for slot in self.slots):
                for slot in self.slots:
                    if slot.process is not None and slot.process.poll() is not None:
                        self.watch(slot)
                    elif (slot.process is None and not slot.done and not self.signals
                          and time.monotonic() >= slot.restart_at):
                        self.start(slot)
                    elif slot.process is None and not slot.done and self.signals:
                        slot.done = True  # was waiting to restart when the stop came
                time.sleep(self.poll_s)
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        log.info("all %d slots stopped", len(self.slots))
        return self.status

