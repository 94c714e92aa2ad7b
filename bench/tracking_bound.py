"""The least lag any polling tracker can reach at a given number of requests, when it knows in
advance everything `bench.tracking` draws its durations from.

The bench's jobs come in classes: nominal seconds × a uniform jitter (×0.8-1.2), every class
equally likely. A tracker learns nothing from a look but "not done yet" until the one that finds
the job done, so whatever it does comes down to a schedule of look times fixed at submission.
Told the distribution (far more than the cold bot knows: not even that there are classes), the
best schedule for a price λ per request minimises E[lag] + λ E[requests]: a look at time b after
one at a costs λ for every job still running after a, and adds (b − d) of lag for each job that
ended at d in (a, b]. Dynamic programming over look times on a 0.01 s grid finds it exactly for
that grid; sweeping λ traces the frontier of (requests, lag), and between two of its points a
tracker can do no better than the straight line joining them (mixing the two schedules). So the
lag read off that frontier at the fixed loop's requests is a lower bound for the cold scenario,
and the requests it needs for a quarter of the fixed loop's lag are a lower bound too.

    .venv/bin/python -m bench.tracking_bound   (also printed by bench.tracking)
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

JITTER = (0.8, 1.2)
STEP_S = 0.01
PRICES = np.geomspace(1e-3, 50.0, 120)  # λ, seconds of lag one request is worth


@dataclass(frozen=True)
class Schedule:
    looks_s: tuple[float, ...]
    lag_mean_s: float
    requests_per_job: float


def _distribution(nominal_s: Sequence[float]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Grid times, P(D <= t), and E[D; D <= t] for the mixture of uniform windows."""
    low, high = JITTER
    end = max(nominal_s) * high
    t = np.arange(0.0, end + STEP_S / 2, STEP_S)
    cdf = np.zeros_like(t)
    partial_mean = np.zeros_like(t)
    for n in nominal_s:
        a, b = n * low, n * high
        inside = np.clip(t, a, b)
        cdf += (inside - a) / (b - a) / len(nominal_s)
        partial_mean += (inside**2 - a**2) / 2 / (b - a) / len(nominal_s)
    return t, cdf, partial_mean


def best_schedule(nominal_s: Sequence[float], price: float) -> Schedule:
    """The look times minimising E[lag] + price × E[requests], the last at the latest end."""
    t, cdf, partial_mean = _distribution(nominal_s)
    last = len(t) - 1
    value = np.full(len(t), np.inf)  # the least cost still to come, after a look at t[i]
    choice = np.zeros(len(t), dtype=int)
    value[last] = 0.0
    for i in range(last - 1, -1, -1):
        later = np.arange(i + 1, last + 1)
        ended = cdf[later] - cdf[i]
        # Lag of the jobs ending in (t[i], t[j]] when the next look is at t[j].
        lag = t[later] * ended - (partial_mean[later] - partial_mean[i])
        cost = price * (1.0 - cdf[i]) + lag + value[later]
        best = int(np.argmin(cost))
        value[i], choice[i] = cost[best], later[best]
    looks: list[float] = []
    requests = lag_total = 0.0
    i = 0
    while i != last:
        j = int(choice[i])
        requests += 1.0 - cdf[i]
        lag_total += t[j] * (cdf[j] - cdf[i]) - (partial_mean[j] - partial_mean[i])
        looks.append(float(t[j]))
        i = j
    return Schedule(tuple(looks), float(lag_total), float(requests))


def frontier(nominal_s: Sequence[float]) -> list[tuple[float, float]]:
    """(requests a job, lag mean) of the best schedules, fewest requests first, convex."""
    points = sorted(
        {
            (round(s.requests_per_job, 9), s.lag_mean_s)
            for s in (best_schedule(nominal_s, price) for price in PRICES)
        }
    )
    hull: list[tuple[float, float]] = []
    for point in points:
        while len(hull) >= 2 and _turns_up(hull[-2], hull[-1], point):
            hull.pop()
        hull.append(point)
    return hull


def _turns_up(a: tuple[float, float], b: tuple[float, float], c: tuple[float, float]) -> bool:
    """Whether b lies on or above the line from a to c (then it is not on the lower hull)."""
    return (b[0] - a[0]) * (c[1] - a[1]) - (b[1] - a[1]) * (c[0] - a[0]) <= 0


def lag_at(hull: list[tuple[float, float]], requests: float) -> float:
    """The least lag within `requests` a job, on the frontier."""
    if requests <= hull[0][0]:
        return hull[0][1] if requests == hull[0][0] else float("inf")
    for (r0, l0), (r1, l1) in itertools.pairwise(hull):
        if r0 <= requests <= r1:
            return l0 + (l1 - l0) * (requests - r0) / (r1 - r0)
    return hull[-1][1]


def requests_for(hull: list[tuple[float, float]], lag: float) -> float:
    """The fewest requests a job for a lag mean of at most `lag`, on the frontier."""
    for (r0, l0), (r1, l1) in itertools.pairwise(hull):
        if l1 <= lag <= l0:
            return r0 + (r1 - r0) * (l0 - lag) / (l0 - l1)
    return hull[0][0] if lag >= hull[0][1] else float("inf")


def report(
    nominal_s: Sequence[float], fixed_lag: float, fixed_requests: float, target: float
) -> dict[str, float]:
    """The bound as ratios to the measured fixed loop (lag mean, requests a job)."""
    hull = frontier(nominal_s)
    return {
        "lag_ratio_at_fixed_requests": lag_at(hull, fixed_requests) / fixed_lag,
        "requests_ratio_for_target_lag": requests_for(hull, target * fixed_lag) / fixed_requests,
    }


def main() -> None:
    from bench.tracking import CLASSES, FIXED_INTERVAL_S  # (it imports this module)

    nominal = [seconds for _, seconds in CLASSES]
    # The fixed loop on these classes: lag half its interval, a look every interval from the
    # start until the job is found done.
    fixed_lag = FIXED_INTERVAL_S / 2
    fixed_requests = sum(n / FIXED_INTERVAL_S + 0.5 for n in nominal) / len(nominal)
    print(
        f"fixed {FIXED_INTERVAL_S:g} s loop (expected): lag {fixed_lag:.2f} s,"
        f" {fixed_requests:.2f} requests a job"
    )
    for name, value in report(nominal, fixed_lag, fixed_requests, 0.25).items():
        print(f"{name}: {value:.2f}")


if __name__ == "__main__":
    main()
