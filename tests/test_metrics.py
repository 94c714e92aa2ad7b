"""Metrics: the names INTERFACE.md fixes, in a registry of our own, parseable by Prometheus."""

from __future__ import annotations

import prometheus_client
import pytest
from prometheus_client.parser import text_string_to_metric_families

from wanbot.metrics import Metrics


def samples(metrics: Metrics) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = metrics.exposition().decode()
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def test_fixed_names_are_exposed_and_count() -> None:
    metrics = Metrics()
    metrics.seed(["mock"])
    metrics.job_finished("mock", "delivered", 12.5)
    metrics.job_finished("mock", "delivered", 3.0)
    metrics.job_finished("mock", "failed", 1.0)  # no duration for failures
    metrics.credits_spent(4)
    metrics.provider_request("pixeldojo", 200)
    metrics.provider_request("pixeldojo", "error")
    metrics.discord_429()
    metrics.set_active("running", 3)
    metrics.set_queue_depth(7)
    metrics.set_balance("pixeldojo", 812.5)
    got = samples(metrics)
    assert got[("wanbot_jobs_total", (("outcome", "delivered"), ("provider", "mock")))] == 2
    assert got[("wanbot_jobs_total", (("outcome", "failed"), ("provider", "mock")))] == 1
    assert got[("wanbot_jobs_total", (("outcome", "refused"), ("provider", "mock")))] == 0
    assert got[("wanbot_job_seconds_count", (("provider", "mock"),))] == 2
    assert got[("wanbot_job_seconds_sum", (("provider", "mock"),))] == 15.5
    assert got[("wanbot_job_seconds_bucket", (("le", "5.0"), ("provider", "mock")))] == 1
    assert got[("wanbot_credits_spent_total", ())] == 4
    assert (
        got[("wanbot_provider_requests_total", (("provider", "pixeldojo"), ("status", "200")))] == 1
    )
    assert (
        got[("wanbot_provider_requests_total", (("provider", "pixeldojo"), ("status", "error")))]
        == 1
    )
    assert got[("wanbot_discord_429_total", ())] == 1
    assert got[("wanbot_jobs_active", (("state", "running"),))] == 3
    assert got[("wanbot_queue_depth", ())] == 7
    assert got[("wanbot_host_balance", (("provider", "pixeldojo"),))] == 812.5


def test_registries_are_separate_and_not_global() -> None:
    first, second = Metrics(), Metrics()
    first.discord_429()
    assert samples(second)[("wanbot_discord_429_total", ())] == 0
    global_text = prometheus_client.generate_latest(prometheus_client.REGISTRY).decode()
    assert "wanbot_" not in global_text


def test_bad_values_are_refused() -> None:
    metrics = Metrics()
    with pytest.raises(ValueError, match="outcome"):
        metrics.job_finished("mock", "exploded", 1.0)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        metrics.credits_spent(-1)


def test_sample_names_cover_series_suffixes() -> None:
    names = Metrics().sample_names()
    for name in (
        "wanbot_jobs_total",
        "wanbot_job_seconds_bucket",
        "wanbot_job_seconds_count",
        "wanbot_credits_spent_total",
        "wanbot_host_balance",
        "wanbot_queue_depth",
        "wanbot_discord_429_total",
    ):
        assert name in names
    assert "wanbot_nonexistent" not in names
