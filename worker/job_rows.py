"""The job row's unit of work: every write a worker makes to a job's row (claims, progress,
finishing), and the undos a lost database leaves owed.

Workers coordinate through three atomic updates on the row (see `worker.loop`): the `seeded`
flag, `trials_claimed` and `retries`. Each method here is one transaction through `_begin`, the
one session helper (as Optuna's RDB storage has `_create_scoped_session`), so a write is whole
or not at all.

Some writes are undone when what follows them cannot happen: a claim whose trial never starts
is returned, a seed flag whose advisor trial was never enqueued is cleared. If a lost database
cuts that off, the undo is *owed* and made when the database answers again
(`settle_owed`); otherwise the job would end a trial short, or without the advisor's trial.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, load_only, sessionmaker

from advisor.schemas import EvidenceRecord
from worker.failures import database_error
from worker.offers import Need, Offer
from worker.states import ACTIVE_STATES, JobState
from worker.store.models import Evidence, Job, utcnow

Undo = Callable[[], None]


class JobRows:
    """The writes of one worker (named `worker_name` on the rows it touches) to the job table.

    Lifecycle of one trial's claim: `claim` -> (`undone_if_database_lost(return_claim)` around
    the trial's start) -> `trial_started` once Optuna made the trial RUNNING -> `write_progress`
    per epoch; `return_claim` again when `worker.trial_run` gives a trial back, `fail` when the
    job itself breaks.
    """

    def __init__(self, sessions: sessionmaker[Session], worker_name: str) -> None:
        self.sessions = sessions
        self.worker_name = worker_name
        #: Undos a lost database interrupted, made by `settle_owed` when it answers again.
        self.owed: list[Undo] = []
        #: The undo of the write in progress, until its follow-up has happened.
        self.pending_undo: Undo | None = None

    @contextmanager
    def _begin(self) -> Iterator[Session]:
        """One transaction: committed when the block ends, rolled back when it raises."""
        with self.sessions.begin() as session:
            yield session

    # --- reads ---------------------------------------------------------------------------------

    def load(self, job_id: int) -> Job | None:
        with self.sessions() as session:
            return session.get(Job, job_id)

    def active_ids(self, offer: Offer | None = None) -> list[int]:
        """The jobs with work left (queued or running), oldest first; with `offer`, only those
        it can run (its objective, data set and, fine-tuning, weights)."""
        with self.sessions() as session:
            jobs = session.scalars(
                select(Job).where(Job.state.in_(ACTIVE_STATES)).order_by(Job.id)
                .options(load_only(Job.id, Job.objective, Job.dataset, Job.model_name,
                                   Job.request)))
            return [job.id for job in jobs if offer is None or offer.can_run(Need.of(job))]

    # --- the atomic steps --------------------------------------------------------------------

    def win_seed(self, job_id: int) -> bool:
        """Flip the job's `seeded` flag; whether this worker flipped it (exactly one does)."""
        with self._begin() as session:
            return session.execute(update(Job).where(Job.id == job_id, Job.seeded.is_(False))
                                   .values(seeded=True, heartbeat_at=utcnow())).rowcount == 1

    def unseed(self, job_id: int) -> None:
        with self._begin() as session:
            session.execute(update(Job).where(Job.id == job_id).values(seeded=False))

    def claim(self, job_id: int) -> Job | None:
        """Take one trial of the job's budget, atomically across all workers; the job as it
        stands after the claim, or None when no budget is left."""
        with self._begin() as session:
            return session.scalars(
                update(Job)
                .where(Job.id == job_id, Job.state.in_(ACTIVE_STATES),
                       Job.trials_claimed < Job.n_trials + Job.retries)
                .values(trials_claimed=Job.trials_claimed + 1, state="running",
                        started_at=func.coalesce(Job.started_at, utcnow()),
                        worker=self.worker_name, heartbeat_at=utcnow())
                .returning(Job)
            ).one_or_none()

    def return_claim(self, job_id: int) -> None:
        with self._begin() as session:
            session.execute(update(Job).where(Job.id == job_id)
                            .values(trials_claimed=Job.trials_claimed - 1))

    def count_retry(self, job_id: int) -> None:
        """One more trial on the budget: a dead worker's trial is re-run."""
        with self._begin() as session:
            session.execute(update(Job).where(Job.id == job_id)
                            .values(retries=Job.retries + 1))

    def write_progress(self, job_id: int, progress: dict[str, Any]) -> str:
        """Store the progress line and return the job's state (to notice cancellation)."""
        with self._begin() as session:
            state = session.scalar(update(Job).where(Job.id == job_id)
                                   .values(progress=progress, heartbeat_at=utcnow(),
                                           worker=self.worker_name)
                                   .returning(Job.state))
        return str(state)

    def update_advice(self, job_id: int, values: dict[str, Any]) -> None:
        """Store what the learning-rate probe moved: the search space, the recommendation."""
        with self._begin() as session:
            session.execute(update(Job).where(Job.id == job_id).values(**values))

    def fail(self, job_id: int, reason: str) -> None:
        """Fail an active job with `reason`."""
        with self._begin() as session:
            session.execute(update(Job).where(Job.id == job_id,
                                              Job.state.in_(ACTIVE_STATES))
                            .values(state="failed", finished_at=utcnow(), error=reason))

    def finish(self, job_id: int, state: JobState, error: str | None) -> bool:
        """End an active job in `state` (succeeded or failed); whether this worker ended it
        (exactly one does)."""
        with self._begin() as session:
            return session.execute(
                update(Job).where(Job.id == job_id, Job.state.in_(ACTIVE_STATES))
                .values(state=state, finished_at=utcnow(), error=error)).rowcount == 1

    def store_result(self, job_id: int, result: dict[str, Any],
                     evidence: EvidenceRecord | None) -> None:
        """The finished job's result, and its evidence record for later recommendations, in
        one transaction."""
        with self._begin() as session:
            session.execute(update(Job).where(Job.id == job_id).values(result=result))
            if evidence is not None:
                session.add(Evidence.from_record(evidence))

    # --- undos a lost database leaves owed ----------------------------------------------------

    @contextmanager
    def undone_if_database_lost(self, undo: Undo) -> Iterator[None]:
        """Run the block after a write that `undo` reverts. If a lost database cuts the block
        off while the undo is still pending (`trial_started` clears it: from then on the
        trial's own failure handling applies), owe the undo until the database answers."""
        self.pending_undo = undo
        try:
            yield
        except Exception as error:
            if self.pending_undo is not None and database_error(error) is not None:
                self.owed.append(self.pending_undo)
            raise
        finally:
            self.pending_undo = None

    def trial_started(self) -> None:
        """The claim became a RUNNING trial: its return is no longer pending."""
        self.pending_undo = None

    def run_or_owe(self, steps: list[Undo]) -> None:
        """Make `steps` in order; those a lost database cuts off are owed (then it raises)."""
        for done, step in enumerate(steps):
            try:
                step()
            except Exception as error:
                if database_error(error) is not None:
                    self.owed.extend(steps[done:])
                raise

    def settle_owed(self) -> None:
        """Make the owed undos; raises while the database is still down."""
        while self.owed:
            self.owed[0]()
            self.owed.pop(0)
