"""Recommendations answered as ready-made JSON, and the evidence they are calibrated with.

`advisor.recommend` is a pure function of the profile and the evidence records it is given
(about 0.5-1 ms of rule evaluation and explanation building), so the service keeps the JSON of
the last `MAX_PROFILES` (profile, evidence version) pairs; errors are never cached.

Evidence changes only when a study ends, so `EvidenceCache` re-reads the records only when the
`evidence` table changed (its row count, newest id and newest timestamp), and checks that at
most every `EVIDENCE_TTL_S` seconds: a study that ended less than that ago may be missed by one
request. A request therefore usually touches no database at all.
"""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Hashable
from dataclasses import dataclass, field

from sqlalchemy.orm import Session, sessionmaker

from advisor import EvidenceRecord, RecommendationRequest, recommend
from worker.evidence import evidence_version, recent_records

MAX_PROFILES = 1024
EVIDENCE_TTL_S = 1.0
PROFILE_FIELDS = {"model", "dataset", "training"}


@dataclass(frozen=True, eq=False)
class EvidenceSnapshot:
    """Records as of one version of the evidence table; hashed and compared by version."""

    version: Hashable
    records: tuple[EvidenceRecord, ...] = field(default=())

    def __hash__(self) -> int:
        return hash(self.version)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, EvidenceSnapshot) and other.version == self.version


NO_EVIDENCE = EvidenceSnapshot(version=None)


class EvidenceCache:
    """The newest evidence records, re-read only when the table changed."""

    def __init__(self, sessions: sessionmaker[Session], ttl_s: float = EVIDENCE_TTL_S) -> None:
        self._sessions = sessions
        self._ttl_s = ttl_s
        self._lock = threading.Lock()
        self._snapshot = NO_EVIDENCE
        self._checked = -float("inf")

    def snapshot(self) -> EvidenceSnapshot:
        with self._lock:
            if time.monotonic() - self._checked < self._ttl_s:
                return self._snapshot
            with self._sessions() as session:
                version = evidence_version(session)
                if version != self._snapshot.version:
                    self._snapshot = EvidenceSnapshot(version, tuple(recent_records(session)))
            self._checked = time.monotonic()
            return self._snapshot


@functools.lru_cache(maxsize=MAX_PROFILES)
def _recommendation_json(profile_json: str, evidence: EvidenceSnapshot) -> bytes:
    request = RecommendationRequest.model_validate_json(profile_json)
    return recommend(request, evidence.records).model_dump_json().encode()


def recommendation_json(request: RecommendationRequest,
                        evidence: EvidenceSnapshot = NO_EVIDENCE) -> bytes:
    """The recommendation for `request`, calibrated by `evidence`, as JSON bytes."""
    return _recommendation_json(request.model_dump_json(include=PROFILE_FIELDS), evidence)
