"""Prometheus metrics, computed from the database at scrape time.

Workers are separate processes on separate hosts, so no in-process counter or histogram could
hold their numbers; the database already does. Each scrape runs the three aggregate queries of
`worker.stats`:

* ``hpadvisor_jobs{state}`` - tuning jobs by state;
* ``hpadvisor_trials{state}`` - trials of hpadvisor's studies by state;
* ``hpadvisor_trial_duration_seconds{state}`` - a histogram of finished trials' durations.
  Finished trials never change, so the buckets, ``_count`` and ``_sum`` only grow, as a
  Prometheus histogram's must.

Every process of the API answers the same numbers, so it does not matter which one a scrape
reaches. The process's own CPU and memory come from prometheus-client's standard process
collector.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry, ProcessCollector, generate_latest
from prometheus_client.core import GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy.orm import Session, sessionmaker

from worker.stats import BUCKETS, jobs_by_state, trial_durations, trials_by_state


class StoreCollector(Collector):
    """Collects the job and trial metrics from the database on each scrape."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self.sessions = sessions

    def collect(self) -> Iterator[Metric]:
        with self.sessions() as session:
            jobs = jobs_by_state(session)
            trials = trials_by_state(session)
            try:
                durations = trial_durations(session)
            except NotImplementedError:
                durations = {}
        gauge = GaugeMetricFamily("hpadvisor_jobs", "Tuning jobs by state.", labels=["state"])
        for state, n in jobs.items():
            gauge.add_metric([state], n)
        yield gauge
        gauge = GaugeMetricFamily("hpadvisor_trials", "Trials of hpadvisor's studies by state.",
                                  labels=["state"])
        for state, n in trials.items():
            gauge.add_metric([state], n)
        yield gauge
        histogram = HistogramMetricFamily(
            "hpadvisor_trial_duration_seconds",
            "Wall time of finished trials, start to finish, by final state.", labels=["state"])
        for state in ("complete", "pruned", "fail"):
            cumulative, count, total = durations.get(state, ([0] * len(BUCKETS), 0, 0.0))
            histogram.add_metric(
                [state], [(_bound(b), n) for b, n in zip(BUCKETS, cumulative, strict=True)]
                + [("+Inf", count)], sum_value=total)
        yield histogram


def _bound(value: float) -> str:
    return f"{value:g}"


def make_registry(sessions: sessionmaker[Session]) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(StoreCollector(sessions))
    ProcessCollector(registry=registry)
    return registry


def render(registry: CollectorRegistry) -> bytes:
    return generate_latest(registry)
