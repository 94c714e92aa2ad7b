"""bench/panels.py computes the dashboard's queries as Prometheus would: histogram_quantile's
interpolation rule, and increase/rate over a window of scrapes of the bot's real registry."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from bench.panels import Scrape, Scrapes, histogram_quantile, parse, render
from wanbot.metrics import Metrics


@pytest.mark.parametrize(
    ("q", "expected"),
    [
        (0.5, 2.0),  # rank 10 ends bucket le=2 exactly
        (0.75, 3.5),  # rank 15: halfway through (2, 5]
        (0.25, 1.5),  # rank 5: halfway through (1, 2]
    ],
)
def test_histogram_quantile_interpolates_inside_the_bucket(q: float, expected: float) -> None:
    buckets = [(1.0, 0.0), (2.0, 10.0), (5.0, 20.0), (math.inf, 20.0)]
    assert histogram_quantile(q, buckets) == pytest.approx(expected)


def test_histogram_quantile_edges() -> None:
    # In the +Inf bucket: the highest finite bound, as Prometheus answers.
    assert histogram_quantile(0.9, [(1.0, 5.0), (math.inf, 10.0)]) == 1.0
    # The first bucket starts at 0.
    assert histogram_quantile(0.5, [(4.0, 2.0), (math.inf, 2.0)]) == 2.0
    assert math.isnan(histogram_quantile(0.5, [(1.0, 0.0), (math.inf, 0.0)]))


def test_queries_over_scrapes_of_the_bot_registry(tmp_path: Path) -> None:
    metrics = Metrics()
    metrics.seed(["pixeldojo"])
    scrapes = [Scrape(0.0, parse(metrics.exposition().decode()))]
    for second, seconds in enumerate((3.0, 7.0, 12.0, 40.0), start=1):
        metrics.job_finished("pixeldojo", "delivered", seconds)
        metrics.credits_spent(2)
        scrapes.append(Scrape(float(second), parse(metrics.exposition().decode())))
    metrics.job_finished("pixeldojo", "refused")
    scrapes.append(Scrape(5.0, parse(metrics.exposition().decode())))
    m = Scrapes(scrapes)

    assert m.increase("wanbot_jobs_total", 60.0, outcome="delivered") == [0, 1, 2, 3, 4, 4]
    assert m.increase("wanbot_jobs_total", 2.0) == [0, 1, 2, 2, 2, 2]
    assert m.rate("wanbot_credits_spent_total", 60.0)[4] == pytest.approx(2.0)  # 8 in 4 s
    assert m.label_values("wanbot_jobs_total", "outcome") == [
        "cancelled",
        "delivered",
        "failed",
        "refused",
    ]
    # All four observations: 3 in (2, 5], 7 in (5, 10], 12 in (10, 15], 40 in (30, 45].
    p50 = m.quantile(0.5, "wanbot_job_seconds", 60.0)[-1]
    assert p50 == pytest.approx(10.0)  # rank 2 ends the (5, 10] bucket
    assert math.isnan(m.quantile(0.5, "wanbot_job_seconds", 60.0)[0])

    out = tmp_path / "dashboard.png"
    render(scrapes, out, window_s=2.0, phases=[(0.0, 5.0, "test")], low_balance=0, subtitle="")
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
