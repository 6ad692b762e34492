"""What a worker offers, and which jobs it can therefore run.

Each worker process records its `Offer` (objectives, data sets, models it holds pretrained
weights for, device kind) in the `worker_offers` table and keeps it alive with a heartbeat
(`OfferHeartbeat`); a worker that stops deletes its row, one that is killed lets it expire
after the grace period. Jobs are routed by it:

* a worker claims only the jobs its own offer covers (`Offer.can_run`), so no trial is ever
  failed for lack of the data, the weights or the objective;
* the API refuses a job that needs a data set, objective or weights no live worker offers, and
  a job whose capable workers have all gone says what it waits for (`waiting_for`).

The data-set profiles the API lists stay in `registered_names`, per host. What this process
offers is gathered by `worker.local_offer`; nothing here imports torch: the API reads offers too.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

from pydantic import BaseModel, ConfigDict
from sqlalchemy import delete, select
from sqlalchemy.orm import Session, sessionmaker

from worker.failures import database_error
from worker.schemas import BUILTIN_OBJECTIVE
from worker.store.models import Job, WorkerOffer

log = logging.getLogger("hpadvisor.worker")


class Need(BaseModel):
    """What a job needs of a worker: its objective, its data set and, when it fine-tunes, local
    pretrained weights for its model."""

    model_config = ConfigDict(frozen=True)

    objective: str
    dataset: str
    weights: str | None = None  # the model key (torchvision:resnet18, ...)

    @classmethod
    def of(cls, job: Job) -> Need:
        weights = job.model_name if job.objective == BUILTIN_OBJECTIVE and job.pretrained else None
        return cls(objective=job.objective, dataset=job.dataset, weights=weights)

    def parts(self) -> list[tuple[str, str]]:
        """(kind, name) of each thing needed: objective, data set, weights."""
        found = [("objective", self.objective), ("data set", self.dataset)]
        if self.weights is not None:
            found.append(("pretrained weights for", self.weights))
        return found


class Offer(BaseModel):
    """What one worker process can run."""

    model_config = ConfigDict(frozen=True)

    objectives: tuple[str, ...]
    datasets: tuple[str, ...]
    weights: tuple[str, ...] = ()
    device: str = "cpu"

    def has(self, kind: str, name: str) -> bool:
        held = {"objective": self.objectives, "data set": self.datasets,
                "pretrained weights for": self.weights}[kind]
        return name in held

    def can_run(self, need: Need) -> bool:
        return all(self.has(kind, name) for kind, name in need.parts())


def describe(parts: Iterable[tuple[str, str]]) -> str:
    return " and ".join(f"{kind} {name!r}" for kind, name in parts)


def missing_parts(need: Need, offers: Iterable[Offer]) -> list[tuple[str, str]] | None:
    """None when one of `offers` can run the job; else what no single offer covers: the parts
    nobody offers, or all of them when each is offered but by different workers."""
    offers = list(offers)
    if any(offer.can_run(need) for offer in offers):
        return None
    nobody = [(kind, name) for kind, name in need.parts()
              if not any(offer.has(kind, name) for offer in offers)]
    return nobody or need.parts()


def live_offers(session: Session, now: datetime | None = None) -> list[Offer]:
    """The offers of the workers whose heartbeat has not expired."""
    now = now or datetime.now(UTC)
    rows = session.scalars(select(WorkerOffer).where(WorkerOffer.expires_at > now))
    return [Offer(objectives=tuple(row.objectives), datasets=tuple(row.datasets),
                  weights=tuple(row.weights), device=row.device) for row in rows]


def waiting_for(job: Job, offers: Iterable[Offer]) -> str | None:
    """For a job with work left that no live worker can run: what it waits for, in words."""
    missing = missing_parts(Need.of(job), offers)
    if missing is None:
        return None
    return f"waiting for a worker that offers {describe(missing)}"


# --- the worker side: keeping the offer alive ----------------------------------------------

class OfferHeartbeat:
    """Keeps one worker's row in `worker_offers` alive: written at `start`, its expiry moved
    `grace_s` ahead every `interval_s` by a daemon thread (beats through long trials), deleted
    at `stop`. A beat the database refuses is logged and tried again at the next interval."""

    def __init__(self, sessions: sessionmaker[Session], name: str, offer: Offer,
                 interval_s: float, grace_s: float) -> None:
        self.sessions, self.name, self.offer = sessions, name, offer
        self.interval_s, self.grace_s = interval_s, grace_s
        self.host = name.rsplit(":", 1)[0]
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def beat(self) -> None:
        now = datetime.now(UTC)
        with self.sessions.begin() as session:
            row = session.get(WorkerOffer, self.name)
            if row is None:
                row = WorkerOffer(name=self.name, host=self.host, started_at=now)
                session.add(row)
            row.device = self.offer.device
            row.objectives = list(self.offer.objectives)
            row.datasets = list(self.offer.datasets)
            row.weights = list(self.offer.weights)
            row.seen_at = now
            row.expires_at = now + timedelta(seconds=self.grace_s)

    def start(self) -> None:
        """The first beat, then the thread. A database that is unreachable now is waited for
        like any lost database: the offer is recorded at the next beat that gets through (the
        worker's loop waits for the database meanwhile); any other error is raised."""
        try:
            self.beat()
        except Exception as error:
            if database_error(error) is None:
                raise
            log.warning("could not record this worker's offer yet (%s); trying again every "
                        "%.0f s", str(error).splitlines()[0], self.interval_s)
        self._thread = threading.Thread(target=self._run, name="offer-heartbeat", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                self.beat()
            except Exception as error:  # the worker's loop handles a lost database
                log.debug("offer heartbeat: %s", error)

    def stop(self) -> None:
        """Stop beating and withdraw the offer (best effort: an unreachable database lets it
        expire instead)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        try:
            with self.sessions.begin() as session:
                session.execute(delete(WorkerOffer).where(WorkerOffer.name == self.name))
        except Exception as error:
            log.warning("could not withdraw this worker's offer (%s); it expires in %.0f s",
                        str(error).splitlines()[0], self.grace_s)
