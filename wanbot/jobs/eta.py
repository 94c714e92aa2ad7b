"""Expected job durations, learned from recent jobs of the same provider and size."""

from __future__ import annotations

import statistics
from dataclasses import dataclass

# Until a provider and size has history: a guess, shown as such ("about"), never as an estimate.
DEFAULT_DURATION_S = 30.0


@dataclass(frozen=True)
class Expectation:
    seconds: float
    basis: int  # how many past jobs it comes from; 0 means a default guess


def expect(durations: list[float], default: float = DEFAULT_DURATION_S) -> Expectation:
    usable = [d for d in durations if d >= 0]
    if not usable:
        return Expectation(default, 0)
    return Expectation(statistics.median(usable), len(usable))


def poll_interval(
    elapsed_s: float, expected_s: float, *, floor: float = 0.25, ceiling: float = 10.0
) -> float:
    """How long to wait before the next look at a running job.

    Far from the expected finish there is little to learn, so wait a third of the time left, but
    never more than a third of the time already elapsed: an estimate is only an estimate, and a
    job that finishes early should not sit unnoticed. Close to the expected finish, look often; past
    it, back off gently, as the job is late for a reason.
    """
    remaining = expected_s - elapsed_s
    wait = min(remaining, elapsed_s) / 3 if remaining > 0 else (elapsed_s - expected_s) / 4
    low = max(floor, min(1.0, expected_s / 10))
    return max(low, min(ceiling, wait))
