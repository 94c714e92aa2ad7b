"""The least lag any polling tracker can reach at a given number of requests, when it knows in
advance everything `bench.tracking` draws its durations from.

The bench's jobs come in classes: nominal seconds × a uniform jitter (×0.8-1.2), so each class
ends inside a window [0.8 n, 1.2 n], every class equally likely. A tracker told those windows
(far more than the cold bot knows: it knows nothing, not even that there are classes) looks
only inside them: every s_i seconds across window i, from its start to its end. For a job
of class i, the lag is the wait from its end to the next look; its requests, the looks of the
windows before its own plus those of its own up to that look. Both are computed exactly for
uniform durations, and the spacings are searched on a grid for the least mean lag within a
budget of requests per job. This is a lower bound for the cold scenario: a tracker that knows
less cannot do better.

    .venv/bin/python -m bench.tracking_bound   (also printed by bench.tracking)
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass

JITTER = (0.8, 1.2)
GRID = [0.1 * k for k in range(1, 81)]  # spacings tried: 0.1-8 s


@dataclass(frozen=True)
class WindowPlan:
    lag_mean_s: float
    requests_per_job: float
    spacings_s: tuple[float, ...]


def _window(width: float, spacing: float) -> tuple[float, float, float]:
    """Looks every `spacing` after a window's start, the last at its end (none at the start: no
    job of the class has ended yet): (mean lag for an end uniform in the window, mean looks in it
    up to that end's next look, looks in all)."""
    looks = max(1, math.ceil(width / spacing - 1e-9))
    lag = 0.0
    count = 0.0
    for k in range(looks):
        segment = min(spacing, width - k * spacing)
        share = segment / width
        lag += share * segment / 2
        count += share * (k + 1)
    return lag, count, float(looks)


def plans(nominal_s: Sequence[float]) -> list[WindowPlan]:
    """Every plan of the grid: one spacing per class window."""
    low, high = JITTER
    widths = [n * (high - low) for n in sorted(nominal_s)]
    per_window = [{s: _window(w, s) for s in GRID} for w in widths]
    found = []
    for spacings in itertools.product(GRID, repeat=len(widths)):
        lag = requests = before = 0.0
        for window, s in zip(per_window, spacings, strict=True):
            w_lag, w_count, w_all = window[s]
            lag += w_lag
            requests += before + w_count
            before += w_all
        found.append(WindowPlan(lag / len(widths), requests / len(widths), spacings))
    return found


@dataclass(frozen=True)
class Bound:
    """What knowing the windows buys, against a measured fixed loop."""

    lag_at_fixed_requests: WindowPlan  # the least lag within the fixed loop's requests
    requests_for_lag: WindowPlan | None  # the fewest requests for the target lag, if reachable


def bound(nominal_s: Sequence[float], fixed_requests: float, lag_at_most: float) -> Bound:
    found = plans(nominal_s)
    affordable = [p for p in found if p.requests_per_job <= fixed_requests]
    quick = [p for p in found if p.lag_mean_s <= lag_at_most]
    return Bound(
        min(affordable, key=lambda p: p.lag_mean_s),
        min(quick, key=lambda p: p.requests_per_job) if quick else None,
    )


def report(
    nominal_s: Sequence[float], fixed_lag: float, fixed_requests: float, target: float
) -> dict[str, float]:
    """The bound's figures as ratios to the measured fixed loop (lag mean and requests a job)."""
    found = bound(nominal_s, fixed_requests, target * fixed_lag)
    figures = {
        "lag_ratio_at_fixed_requests": found.lag_at_fixed_requests.lag_mean_s / fixed_lag,
        "requests_ratio_at_fixed_requests": (
            found.lag_at_fixed_requests.requests_per_job / fixed_requests
        ),
    }
    if found.requests_for_lag is not None:
        figures["requests_ratio_for_target_lag"] = (
            found.requests_for_lag.requests_per_job / fixed_requests
        )
    return figures


def main() -> None:
    from bench.tracking import CLASSES, FIXED_INTERVAL_S  # (it imports this module)

    nominal = [seconds for _, seconds in CLASSES]
    # The fixed loop on these windows, from the same model: a look every 2 s from submission.
    fixed_lag, fixed_requests = (
        FIXED_INTERVAL_S / 2,
        sum(n / FIXED_INTERVAL_S + 0.5 for n in nominal) / len(nominal),
    )
    print(
        f"fixed {FIXED_INTERVAL_S:g} s loop (expected): lag {fixed_lag:.2f} s,"
        f" {fixed_requests:.2f} requests a job"
    )
    for name, value in report(nominal, fixed_lag, fixed_requests, 0.25).items():
        print(f"{name}: {value:.2f}")


if __name__ == "__main__":
    main()
