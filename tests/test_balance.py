"""BalanceTracker: the latest balance per host, a gauge, and one warning per crossing."""

from __future__ import annotations

import asyncio
import contextlib
import logging

import pytest

from wanbot.balance import BalanceTracker, LowBalance, thresholds_from
from wanbot.config import ProvidersConfig
from wanbot.metrics import Metrics
from wanbot.providers.errors import Unavailable


class Told:
    def __init__(self) -> None:
        self.crossings: list[LowBalance] = []

    async def __call__(self, crossing: LowBalance) -> None:
        self.crossings.append(crossing)


async def test_one_warning_per_crossing(caplog: pytest.LogCaptureFixture) -> None:
    told = Told()
    tracker = BalanceTracker({"pixeldojo": 100.0}, notify=told)
    readings = [500, 300, 120, 99, 80, 40, 10, 0, 150, 100, 90, 50, 200, 99.5]
    with caplog.at_level(logging.WARNING, logger="wanbot.balance"):
        for value in readings:
            tracker.observe("pixeldojo", value)
        await tracker.drain()
    # under at 99 (first), re-armed by 150 (above), under again at 90; 100 is not under;
    # re-armed by 200, under again at 99.5
    assert [c.balance for c in told.crossings] == [99, 90, 99.5]
    assert all(c.threshold == 100.0 and c.provider == "pixeldojo" for c in told.crossings)
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 3
    assert tracker.latest("pixeldojo") == 99.5


async def test_first_reading_already_low_warns_once() -> None:
    told = Told()
    tracker = BalanceTracker({"skillsvideo": 1000.0}, notify=told)
    results = [await tracker.observe_and_notify("skillsvideo", v) for v in (10, 10, 5, 0)]
    assert results == [LowBalance("skillsvideo", 10, 1000.0), None, None, None]
    assert told.crossings == [LowBalance("skillsvideo", 10, 1000.0)]


async def test_zero_threshold_never_warns_but_keeps_the_gauge() -> None:
    told = Told()
    metrics = Metrics()
    tracker = BalanceTracker({"pixeldojo": 0.0}, metrics=metrics, notify=told, clock=lambda: 42.0)
    for value in (5, 0, -3):
        tracker.observe("pixeldojo", value)
    await tracker.drain()
    assert told.crossings == []
    assert b'wanbot_host_balance{provider="pixeldojo"} -3.0' in metrics.exposition()
    assert tracker.snapshot() == {"pixeldojo": (-3, 42.0)}


async def test_hosts_are_independent_and_unknown_hosts_are_tracked() -> None:
    told = Told()
    tracker = BalanceTracker({"pixeldojo": 50.0, "skillsvideo": 50.0}, notify=told)
    tracker.observe("pixeldojo", 10)
    tracker.observe("skillsvideo", 10)
    tracker.observe("dashscope", 1)  # no threshold configured: recorded, never warned
    await tracker.drain()
    assert sorted(c.provider for c in told.crossings) == ["pixeldojo", "skillsvideo"]
    assert tracker.latest("dashscope") == 1


async def test_a_failing_notifier_is_logged_and_does_not_rearm(
    caplog: pytest.LogCaptureFixture,
) -> None:
    calls = 0

    async def broken(crossing: LowBalance) -> None:
        nonlocal calls
        calls += 1
        raise RuntimeError("audit channel gone")

    tracker = BalanceTracker({"pixeldojo": 50.0}, notify=broken)
    await tracker.observe_and_notify("pixeldojo", 10)
    await tracker.observe_and_notify("pixeldojo", 5)
    assert calls == 1
    assert "could not send the low-balance warning" in caplog.text


class Source:
    def __init__(self, *values: float | Exception | None) -> None:
        self.values = list(values)

    async def balance(self) -> float | None:
        value = self.values.pop(0)
        if isinstance(value, Exception):
            raise value
        return value


async def test_poll_once_reads_every_source_and_skips_failures(
    caplog: pytest.LogCaptureFixture,
) -> None:
    told = Told()
    tracker = BalanceTracker({"pixeldojo": 50.0, "skillsvideo": 50.0}, notify=told)
    sources = {
        "pixeldojo": Source(None, 20.0),
        "skillsvideo": Source(Unavailable("down", provider="skillsvideo"), 30.0),
        "mock": Source(None, None),
    }
    assert await tracker.poll_once(sources) == {}
    assert "could not read skillsvideo's balance" in caplog.text
    assert await tracker.poll_once(sources) == {"pixeldojo": 20.0, "skillsvideo": 30.0}
    assert sorted(c.provider for c in told.crossings) == ["pixeldojo", "skillsvideo"]


def test_thresholds_come_from_the_config() -> None:
    config = ProvidersConfig.model_validate(
        {"pixeldojo": {"low_balance": 200}, "skillsvideo": {"low_balance": 1500.5}}
    )
    assert thresholds_from(config) == {"pixeldojo": 200.0, "skillsvideo": 1500.5}
    assert thresholds_from(ProvidersConfig()) == {"pixeldojo": 0.0, "skillsvideo": 0.0}


async def test_run_polls_after_a_first_delay_then_every_period() -> None:
    source = Source(*([100.0] * 50))
    tracker = BalanceTracker({"skillsvideo": 50.0})
    task = asyncio.create_task(
        tracker.run({"skillsvideo": source}, every_s=0.02, first_after_s=0.1)
    )
    await asyncio.sleep(0.05)
    assert tracker.latest("skillsvideo") is None  # still in the first delay
    await asyncio.sleep(0.2)
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    assert tracker.latest("skillsvideo") == 100.0
    assert 50 - len(source.values) >= 3
