"""The instructor's policies as pure functions: deadline and cutoff, late penalty, which attempt counts."""

from __future__ import annotations

import math
from dataclasses import dataclass

from dl4f_service.config import TPPolicy

DAY = 86400.0


def late_days(submitted_at: float, policy: TPPolicy) -> int:
    """Started days after the deadline (0: on time, or no deadline)."""
    if policy.deadline is None:
        return 0
    late = submitted_at - policy.deadline.timestamp()
    return max(0, math.ceil(late / DAY))


def closed(now: float, policy: TPPolicy) -> bool:
    """Whether a submission at ``now`` is refused: past the deadline plus ``cutoff_days``."""
    return policy.deadline is not None and now > policy.deadline.timestamp() + policy.cutoff_days * DAY


def penalized(score: float, max_score: float, days_late: int, policy: TPPolicy) -> float:
    """The score after the late penalty: ``late_penalty_per_day`` of the maximum per started day, never below 0."""
    return max(0.0, score - policy.late_penalty_per_day * days_late * max_score)


@dataclass
class Attempt:
    id: str
    created_at: float
    score: float | None  # None: not graded (queued, running or failed)
    max_score: float | None
    late_days: int = 0


def counted(attempts: list[Attempt], policy: TPPolicy) -> tuple[Attempt | None, float | None]:
    """The attempt that counts (``best``: highest score after penalty, the earliest of equals; ``last``: the latest
    graded) and its score after penalty; (None, None) when none is graded."""
    graded = sorted((a for a in attempts if a.score is not None), key=lambda a: a.created_at)
    if not graded:
        return None, None

    def value(a: Attempt) -> float:
        return penalized(a.score, a.max_score or 0.0, a.late_days, policy)
    chosen = graded[-1] if policy.counts == "last" else max(graded, key=lambda a: (value(a), -a.created_at))
    return chosen, value(chosen)
