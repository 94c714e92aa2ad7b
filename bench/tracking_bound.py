"""The least lag any polling tracker can reach at a given number of requests, when it knows in
advance the distribution `bench.tracking` draws its durations from.

The bench's jobs come in classes: nominal seconds × a uniform jitter (×0.8-1.2), every class
equally likely. A look tells a tracker only "not done yet" until the one that finds the job done,
so whatever it does with one job comes down to a schedule of look times fixed at submission.
Told the distribution (far more than the cold bot knows: not even that there are classes), the
best schedule for a price λ per request minimises E[lag] + λ E[requests]: a look at time b after
one at a costs λ for every job still running after a, and adds (b − d) of lag for each job that
ended at d in (a, b]. Dynamic programming over look times on a STEP_S grid finds it exactly for
that grid, V(λ). Any schedule at all, with r requests a job, then has a lag of at least
V(λ) − λ r − STEP_S for every λ (rounding its looks up to the grid costs at most STEP_S of lag
and no request), so the largest of those over the prices tried is a lower bound.

It assumes what the cold bot faces: each job tracked on its own, its duration independent of the
others'. (The bench draws exactly five jobs a class; a tracker told that too could pool what it
sees across jobs. The cold bot is told neither.)

    .venv/bin/python -m bench.tracking_bound   (also printed by bench.tracking)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

JITTER = (0.8, 1.2)
STEP_S = 0.01
PRICES = np.geomspace(1e-3, 50.0, 120)  # λ, seconds of lag one request is worth


@dataclass(frozen=True)
class Schedule:
    price: float
    looks_s: tuple[float, ...]
    lag_mean_s: float
    requests_per_job: float


def _ended(nominal_s: Sequence[float], t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """P(D <= t) and E[D; D <= t] for the mixture of uniform windows."""
    low, high = JITTER
    cdf = np.zeros_like(t)
    partial_mean = np.zeros_like(t)
    for n in nominal_s:
        a, b = n * low, n * high
        inside = np.clip(t, a, b)
        cdf += (inside - a) / (b - a) / len(nominal_s)
        partial_mean += (inside**2 - a**2) / 2 / (b - a) / len(nominal_s)
    return cdf, partial_mean


def evaluate(nominal_s: Sequence[float], looks_s: Sequence[float]) -> tuple[float, float]:
    """Mean lag and requests a job of looking at `looks_s` (increasing; the last at or past the
    latest end), exactly."""
    t = np.concatenate(([0.0], np.asarray(looks_s, dtype=float)))
    cdf, partial_mean = _ended(nominal_s, t)
    requests = float(np.sum(1.0 - cdf[:-1]))
    lag = float(np.sum(t[1:] * np.diff(cdf) - np.diff(partial_mean)))
    return lag, requests


def best_schedule(nominal_s: Sequence[float], price: float) -> Schedule:
    """The look times on the grid minimising E[lag] + price × E[requests]."""
    end = max(nominal_s) * JITTER[1]
    t = np.arange(0.0, end + STEP_S / 2, STEP_S)
    cdf, partial_mean = _ended(nominal_s, t)
    last = len(t) - 1
    value = np.full(len(t), np.inf)  # the least cost still to come, after a look at t[i]
    choice = np.zeros(len(t), dtype=int)
    value[last] = 0.0
    for i in range(last - 1, -1, -1):
        later = np.arange(i + 1, last + 1)
        lag = t[later] * (cdf[later] - cdf[i]) - (partial_mean[later] - partial_mean[i])
        cost = price * (1.0 - cdf[i]) + lag + value[later]
        best = int(np.argmin(cost))
        value[i], choice[i] = cost[best], later[best]
    looks: list[float] = []
    i = 0
    while i != last:
        i = int(choice[i])
        looks.append(float(t[i]))
    lag_mean, requests = evaluate(nominal_s, looks)
    return Schedule(price, tuple(looks), lag_mean, requests)


@dataclass(frozen=True)
class Bound:
    """Supporting lines of the (requests, lag) frontier: lag >= lag_k + λ_k (requests_k − r)."""

    schedules: tuple[Schedule, ...]

    def lag_at(self, requests: float) -> float:
        """A lower bound on the mean lag of any schedule with at most `requests` a job."""
        return (
            max(s.lag_mean_s + s.price * (s.requests_per_job - requests) for s in self.schedules)
            - STEP_S
        )

    def requests_for(self, lag: float) -> float:
        """A lower bound on the requests a job of any schedule with a mean lag of at most `lag`."""
        low, high = 1.0, 1000.0
        if self.lag_at(high) > lag:
            return float("inf")
        for _ in range(60):  # lag_at falls as requests grow
            middle = (low + high) / 2
            low, high = (middle, high) if self.lag_at(middle) > lag else (low, middle)
        return high


def bound(nominal_s: Sequence[float]) -> Bound:
    return Bound(tuple(best_schedule(nominal_s, float(price)) for price in PRICES))


def fixed_loop(nominal_s: Sequence[float], interval_s: float) -> tuple[float, float]:
    """The fixed loop's mean lag and requests a job on the same distribution."""
    end = max(nominal_s) * JITTER[1]
    looks = [interval_s * k for k in range(1, int(end / interval_s) + 2)]
    return evaluate(nominal_s, looks)


def report(nominal_s: Sequence[float], interval_s: float, target: float) -> dict[str, float]:
    """The bound against the fixed loop, both on the distribution: the least lag ratio within its
    requests, and the fewest requests ratio for `target` times its lag."""
    fixed_lag, fixed_requests = fixed_loop(nominal_s, interval_s)
    found = bound(nominal_s)
    return {
        "fixed_lag_mean_s": fixed_lag,
        "fixed_requests_per_job": fixed_requests,
        "lag_ratio_at_fixed_requests": found.lag_at(fixed_requests) / fixed_lag,
        "requests_ratio_for_target_lag": found.requests_for(target * fixed_lag) / fixed_requests,
    }


def main() -> None:
    from bench.tracking import CLASSES, FIXED_INTERVAL_S  # (it imports this module)

    figures = report([seconds for _, seconds in CLASSES], FIXED_INTERVAL_S, 0.25)
    for name, value in figures.items():
        print(f"{name}: {value:.3f}")


if __name__ == "__main__":
    main()
