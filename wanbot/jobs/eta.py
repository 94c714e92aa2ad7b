"""Expected job durations, learned from recent jobs of the same provider and size."""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass

# Until a provider and size has history: a guess, shown as such ("about"), never as an estimate.
DEFAULT_DURATION_S = 30.0


# With this many past jobs, their spread (10th to 90th percentile) is worth trusting.
MIN_SPREAD_BASIS = 5
# What one status request is worth in seconds of lag: the spacing of looks inside the window
# where jobs usually finish is sqrt(2 * LOOK_COST_S * window), which minimises lag + cost x
# requests when a finish is equally likely anywhere in the window.
LOOK_COST_S = 0.065
# Before that window, the longest a job goes without a look (it may have failed early).
EARLY_LOOK_MAX_S = 30.0
# The first look comes a little before the window: a past duration ends when the bot noticed
# the result, not when the host finished, and looking exactly at the window's start would let
# that delay ratchet the window later job after job.
EARLY_FACTOR = 0.9


@dataclass(frozen=True)
class Expectation:
    seconds: float
    basis: int  # how many past jobs it comes from; 0 means a default guess
    low: float | None = None  # most past jobs took at least this long (10th percentile)
    high: float | None = None  # and at most this long (90th percentile)


def expect(durations: list[float], default: float = DEFAULT_DURATION_S) -> Expectation:
    usable = [d for d in durations if d >= 0]
    if not usable:
        return Expectation(default, 0)
    if len(usable) < MIN_SPREAD_BASIS:
        return Expectation(statistics.median(usable), len(usable))
    deciles = statistics.quantiles(usable, n=10, method="inclusive")
    return Expectation(statistics.median(usable), len(usable), deciles[0], deciles[-1])


def next_look(
    elapsed_s: float, expectation: Expectation, *, floor: float = 0.25, ceiling: float = 10.0
) -> float:
    """How long to wait before the next look, using the spread of past jobs when it is known.

    Before the window where past jobs finished (10th to 90th percentile) there is little to
    learn: the first look is just before its start (EARLY_FACTOR; or after EARLY_LOOK_MAX_S, for
    a job that failed early). Inside it, looks are evenly spaced, closer for a
    narrow window than a wide one (see LOOK_COST_S). Past it, the job is late: back off as
    `poll_interval` does. Without a known spread, `poll_interval` decides alone.
    """
    low, high = expectation.low, expectation.high
    if low is None or high is None:
        return poll_interval(elapsed_s, expectation.seconds, floor=floor, ceiling=ceiling)
    spacing = max(floor, min(ceiling, math.sqrt(2 * LOOK_COST_S * max(0.0, high - low))))
    first = low * EARLY_FACTOR
    if elapsed_s < first:
        return min(EARLY_LOOK_MAX_S, max(first - elapsed_s, min(floor, first)))
    if elapsed_s < high:
        return min(spacing, max(floor, high - elapsed_s))
    return max(spacing, min(ceiling, (elapsed_s - high) / 4))


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
