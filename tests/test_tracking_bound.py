"""The bound bench.tracking prints for cold tracking: its model of a planned poller agrees with
simulating that poller on random durations, and the bound it gives is what the README says."""

from __future__ import annotations

import random

from bench.tracking_bound import GRID, JITTER, bound, plans


def simulate(nominal: list[float], spacings: tuple[float, ...], jobs: int) -> tuple[float, float]:
    """Mean lag and requests of looking every s_i across window i, on drawn durations."""
    rng = random.Random(3)
    low, high = JITTER
    looks: list[float] = []
    for n, s in zip(sorted(nominal), spacings, strict=True):
        start, end = n * low, n * high
        t = start
        while t < end - 1e-9:
            t = min(t + s, end)
            looks.append(t)
    lag = requests = 0.0
    for _ in range(jobs):
        done = rng.choice(nominal) * rng.uniform(low, high)
        index = next(i for i, t in enumerate(looks) if t >= done)
        lag += looks[index] - done
        requests += index + 1
    return lag / jobs, requests / jobs


def test_the_model_agrees_with_simulated_polling() -> None:
    nominal = [3.0, 8.0, 20.0]
    by_spacing = {p.spacings_s: p for p in plans(nominal)}
    for indices in [(4, 9, 19), (11, 6, 30), (0, 31, 79)]:  # 0.5/1/2 s, 1.2/0.7/3.1 s, ...
        spacings = tuple(GRID[i] for i in indices)
        plan = by_spacing[spacings]
        lag, requests = simulate(nominal, spacings, 40_000)
        assert abs(lag - plan.lag_mean_s) < 0.02 * max(1.0, plan.lag_mean_s)
        assert abs(requests - plan.requests_per_job) < 0.02 * plan.requests_per_job


def test_knowing_the_windows_is_not_enough_for_a_quarter_of_the_lag() -> None:
    # The fixed 2 s loop on these classes: lag 1 s, 31/6 + 1/2 requests a job on average.
    found = bound([3.0, 8.0, 20.0], fixed_requests=5.67, lag_at_most=0.25)
    assert found.lag_at_fixed_requests.requests_per_job <= 5.67
    assert 0.3 < found.lag_at_fixed_requests.lag_mean_s < 0.45
    assert found.requests_for_lag is not None
    assert found.requests_for_lag.requests_per_job > 1.3 * 5.67
