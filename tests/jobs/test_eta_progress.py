"""Expected durations, the poll interval policy and the progress gate's per-job spacing."""

from __future__ import annotations

import pytest

from wanbot.jobs.eta import (
    DEFAULT_DURATION_S,
    EARLY_FACTOR,
    LOOK_COST_S,
    Expectation,
    expect,
    next_look,
    poll_interval,
)
from wanbot.jobs.pacing import ChannelPressure, Observation


def test_expect_is_the_median_with_its_basis() -> None:
    assert expect([10.0, 30.0, 20.0]) == Expectation(20.0, 3)
    assert expect([10.0, 20.0, 40.0, 1000.0]) == Expectation(30.0, 4)  # an outlier barely moves it


def test_expect_ignores_negative_durations() -> None:
    assert expect([-5.0, 10.0, 20.0]) == Expectation(15.0, 2)
    assert expect([0.0]) == Expectation(0.0, 1)


def test_expect_without_history_is_the_default_guess() -> None:
    assert expect([]) == Expectation(DEFAULT_DURATION_S, 0)
    assert expect([-1.0], default=45.0) == Expectation(45.0, 0)


def test_poll_far_from_the_finish_waits_long() -> None:
    assert poll_interval(30, 60) == 10.0  # a third of the 30 s left, clamped to the ceiling
    assert poll_interval(8, 15) == pytest.approx(7 / 3)


def test_poll_early_on_looks_soon_in_case_the_job_is_quick() -> None:
    assert poll_interval(0, 60) == pytest.approx(1.0)  # a tenth of the expectation, at most 1 s
    assert poll_interval(12, 60) == pytest.approx(4.0)  # a third of the elapsed time
    ramp = [poll_interval(t, 60) for t in range(0, 30, 3)]
    assert ramp == sorted(ramp)


def test_poll_near_the_finish_looks_often() -> None:
    assert poll_interval(57, 60) == pytest.approx(1.0)
    assert poll_interval(59.9, 60) == pytest.approx(1.0)  # not below a tenth of the expectation
    assert poll_interval(2.9, 3) == pytest.approx(0.3)
    near = poll_interval(55, 60)
    far = poll_interval(10, 60)
    assert near < far


def test_poll_interval_shrinks_as_the_finish_nears() -> None:
    waits = [poll_interval(t, 60) for t in range(30, 60, 3)]
    assert waits == sorted(waits, reverse=True)


def test_poll_backs_off_when_late() -> None:
    assert poll_interval(60, 60) == pytest.approx(1.0)
    assert poll_interval(70, 60) == pytest.approx(2.5)
    waits = [poll_interval(60 + t, 60) for t in range(0, 100, 5)]
    assert waits == sorted(waits)
    assert waits[-1] == 10.0


def test_poll_interval_clamps() -> None:
    assert poll_interval(0.5, 1) == 0.25  # floor
    assert poll_interval(0.99, 1) == 0.25
    assert poll_interval(100, 3600) == 10.0  # ceiling
    assert poll_interval(10_000, 60) == 10.0
    assert poll_interval(100, 3600, ceiling=30) == 30.0
    assert poll_interval(0.99, 1, floor=0.5) == 0.5
    assert poll_interval(0, 0) == 0.25  # no expectation at all still waits a little


def test_enough_history_gives_the_window_where_jobs_finish() -> None:
    past = [float(d) for d in range(10, 30)]  # 10..29 s
    got = expect(past)
    assert got.basis == 20 and got.seconds == pytest.approx(19.5)
    assert got.low == pytest.approx(11.9) and got.high == pytest.approx(27.1)
    assert expect(past[:4]).low is None  # too few to trust a spread


def test_next_look_waits_for_the_window_then_looks_evenly_then_backs_off() -> None:
    window = Expectation(10.0, 20, low=8.0, high=12.0)
    # Nothing to learn long before the window: the first look comes just before it.
    assert next_look(0, window) == pytest.approx(8.0 * EARLY_FACTOR)
    spacing = (2 * LOOK_COST_S * 4.0) ** 0.5
    assert next_look(7.2, window) == pytest.approx(spacing)
    assert next_look(8.0, window) == pytest.approx(spacing)
    assert next_look(11.9, window) == pytest.approx(0.25)  # up to the window's end, floored
    assert next_look(12.0, window) == pytest.approx(spacing)
    assert next_look(60.0, window) == 10.0  # late: backs off to the ceiling
    # A wide window is looked at less often than a narrow one, not in proportion to its width.
    wide = Expectation(30.0, 20, low=10.0, high=50.0)
    assert next_look(20.0, wide) > next_look(8.0, window)
    assert next_look(20.0, wide) < spacing * 10
    # A long wait before the window is cut: a job that failed early is not left for minutes.
    slow = Expectation(300.0, 20, low=280.0, high=320.0)
    assert next_look(0, slow) == 30.0
    # Without a spread, the plain policy decides.
    assert next_look(12, Expectation(60.0, 3)) == poll_interval(12, 60)


def test_noticing_late_does_not_ratchet_the_window_later() -> None:
    """A past duration ends when the bot noticed (plus its own bookkeeping), not when the host
    finished. Jobs that always take 5 s, from a history that says 8 s: the window must come
    back to 5 s, not stay at 8 or creep later."""
    true_s, bookkeeping_s = 5.0, 0.05
    history = [8.0 + 0.01 * i for i in range(20)]
    for _ in range(300):
        expectation = expect(history[-20:])
        elapsed = 0.0
        while elapsed < true_s:
            elapsed += next_look(elapsed, expectation)
        history.append(elapsed + bookkeeping_s)
    settled = expect(history[-20:])
    assert settled.seconds < true_s + 0.6


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_per_job_spacing_is_the_only_budget_a_quiet_channel_has() -> None:
    clock = FakeClock()
    gate = ChannelPressure(per_job_s=2.5, clock=clock)
    assert gate.try_acquire("a", 1)
    assert not gate.try_acquire("a", 1)
    assert gate.try_acquire("b", 1)  # another job is not held back
    # No fixed channel budget: a burst of jobs in one quiet channel all get their edit.
    assert all(gate.try_acquire(f"j{i}", 1) for i in range(50))
    clock.now += 2.4
    assert not gate.try_acquire("a", 1)
    clock.now += 0.1
    assert gate.try_acquire("a", 1)
    gate.forget("a")
    assert gate.try_acquire("a", 1)  # a forgotten job starts afresh


def test_a_refusal_for_a_busy_channel_does_not_mark_the_job() -> None:
    clock = FakeClock()
    gate = ChannelPressure(per_job_s=2.5, clock=clock)
    assert gate.try_acquire("a", 1)
    with gate.posting(1):
        assert not gate.try_acquire("b", 1)  # a result is being posted: progress stands aside
    assert gate.try_acquire("b", 1)  # b's refusal did not start its own spacing
    gate.observe_channel(1, Observation(429, scope="shared", retry_after=1.0))
    assert not gate.try_acquire("c", 1)
    clock.now += 1.0
    assert gate.try_acquire("c", 1)
