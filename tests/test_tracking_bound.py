"""The bound bench.tracking prints for cold tracking: its schedules are what polling on drawn
durations gives, none of them is improved by moving, adding or dropping a look, and the bound is
the one the README quotes."""

from __future__ import annotations

import random
from collections.abc import Sequence

import pytest

from bench.tracking_bound import (
    JITTER,
    STEP_S,
    Bound,
    best_schedule,
    bound,
    evaluate,
    fixed_loop,
    report,
)

CLASSES = [3.0, 8.0, 20.0]


@pytest.fixture(scope="module")
def told() -> Bound:
    return bound(CLASSES)


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


def test_a_schedule_is_worth_what_polling_on_drawn_durations_gives() -> None:
    for price in (0.05, 0.3, 2.0):
        schedule = best_schedule(CLASSES, price)
        lag, requests = simulate(schedule.looks_s)
        assert abs(lag - schedule.lag_mean_s) < 0.02 * max(1.0, schedule.lag_mean_s)
        assert abs(requests - schedule.requests_per_job) < 0.02 * schedule.requests_per_job


def test_no_change_to_a_best_schedule_makes_it_cheaper() -> None:
    for price in (0.05, 0.3, 2.0):
        schedule = best_schedule(CLASSES, price)
        looks = list(schedule.looks_s)
        cost = schedule.lag_mean_s + price * schedule.requests_per_job
        changed: list[list[float]] = []
        for i in range(len(looks) - 1):  # the last look, at the latest end, stays
            changed.append(looks[:i] + looks[i + 1 :])
            for steps in (-5, -1, 1, 5):
                moved = looks[i] + steps * STEP_S
                if (i == 0 or moved > looks[i - 1]) and moved < looks[i + 1]:
                    changed.append([*looks[:i], moved, *looks[i + 1 :]])
            changed.append(sorted([*looks, (looks[i] + looks[i + 1]) / 2]))
        for other in changed:
            lag, requests = evaluate(CLASSES, other)
            assert lag + price * requests >= cost - 1e-9


def test_every_schedule_tried_lies_above_the_bound(told: Bound) -> None:
    for every in (0.5, 1.0, 2.0, 3.0):
        lag, requests = fixed_loop(CLASSES, every)
        assert lag >= told.lag_at(requests)
    for price in (0.01, 0.2, 5.0):
        schedule = best_schedule(CLASSES, price * 1.37)  # prices between those of the bound
        assert schedule.lag_mean_s >= told.lag_at(schedule.requests_per_job)


def test_knowing_the_distribution_is_not_enough_for_a_quarter_of_the_lag() -> None:
    figures = report(CLASSES, 2.0, 0.25)
    assert abs(figures["fixed_lag_mean_s"] - 1.0) < 0.01
    assert 0.3 < figures["lag_ratio_at_fixed_requests"] < 0.4
    assert 1.3 < figures["requests_ratio_for_target_lag"] < 1.45
