"""The bound bench.tracking prints for cold tracking: the schedules it finds are what polling on
drawn durations gives, no evenly spaced schedule beats them, and the bound is what the README
says."""

from __future__ import annotations

import itertools
import random
from collections.abc import Sequence

import pytest

from bench.tracking_bound import JITTER, best_schedule, frontier, lag_at, requests_for

CLASSES = [3.0, 8.0, 20.0]


@pytest.fixture(scope="module")
def hull() -> list[tuple[float, float]]:
    return frontier(CLASSES)


def simulate(looks: Sequence[float], jobs: int = 40_000) -> tuple[float, float]:
    """Mean lag and requests of looking at `looks` (seconds after submission) on drawn jobs."""
    rng = random.Random(3)
    low, high = JITTER
    lag = requests = 0.0
    for _ in range(jobs):
        done = rng.choice(CLASSES) * rng.uniform(low, high)
        index = next(i for i, t in enumerate(looks) if t >= done)
        lag += looks[index] - done
        requests += index + 1
    return lag / jobs, requests / jobs


def test_a_best_schedule_is_what_polling_on_drawn_durations_gives() -> None:
    for price in (0.05, 0.3, 2.0):
        schedule = best_schedule(CLASSES, price)
        lag, requests = simulate(schedule.looks_s)
        assert abs(lag - schedule.lag_mean_s) < 0.02 * max(1.0, schedule.lag_mean_s)
        assert abs(requests - schedule.requests_per_job) < 0.02 * schedule.requests_per_job


def test_no_evenly_spaced_schedule_beats_the_frontier(hull: list[tuple[float, float]]) -> None:
    assert all(a[0] < b[0] and a[1] > b[1] for a, b in itertools.pairwise(hull))
    for every in (0.5, 1.0, 2.0, 3.0):
        looks = [every * k for k in range(1, int(24 / every) + 2)]
        lag, requests = simulate(looks, 20_000)
        assert lag >= lag_at(hull, requests) - 0.02


def test_knowing_the_classes_is_not_enough_for_a_quarter_of_the_lag(
    hull: list[tuple[float, float]],
) -> None:
    # The fixed 2 s loop on these classes: lag 1 s, 5.67 requests a job on average.
    assert 0.3 < lag_at(hull, 5.67) < 0.45
    assert requests_for(hull, 0.25) > 1.3 * 5.67
