"""Expected durations, the poll interval policy and the edit pacer."""

from __future__ import annotations

import time

import pytest

from wanbot.jobs.eta import DEFAULT_DURATION_S, Expectation, expect, poll_interval
from wanbot.jobs.progress import EditPacer


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


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_pacer_spaces_edits_per_job() -> None:
    clock = FakeClock()
    pacer = EditPacer(per_job_s=2.5, clock=clock)
    assert pacer.try_acquire("a", 1)
    assert not pacer.try_acquire("a", 1)
    assert pacer.try_acquire("b", 1)  # another job is not held back
    clock.now += 2.4
    assert not pacer.try_acquire("a", 1)
    clock.now += 0.1
    assert pacer.try_acquire("a", 1)
    pacer.forget("a")
    assert pacer.try_acquire("a", 1)  # a forgotten job starts afresh


def test_pacer_limits_edits_per_channel_window() -> None:
    clock = FakeClock()
    pacer = EditPacer(per_channel=4, channel_window_s=5.0, clock=clock)
    assert all(pacer.try_acquire(f"j{i}", 7) for i in range(4))
    assert not pacer.try_acquire("j4", 7)
    assert pacer.try_acquire("j4", 8)  # another channel has its own window
    clock.now += 4.9
    assert not pacer.try_acquire("j5", 7)
    clock.now += 0.1
    assert pacer.try_acquire("j5", 7)
    # The refused attempts took no slot: exactly four more fit in the fresh window.
    assert sum(pacer.try_acquire(f"k{i}", 7) for i in range(10)) == 3


def test_pacer_limits_edits_overall() -> None:
    clock = FakeClock()
    pacer = EditPacer(overall=20, overall_window_s=2.0, per_channel=4, clock=clock)
    assert all(pacer.try_acquire(f"j{i}", i) for i in range(20))
    assert not pacer.try_acquire("j20", 20)
    clock.now += 1.9
    assert not pacer.try_acquire("j21", 21)
    clock.now += 0.1
    assert all(pacer.try_acquire(f"k{i}", 100 + i) for i in range(20))
    assert not pacer.try_acquire("k20", 120)


def test_pacer_refusal_for_a_busy_channel_does_not_mark_the_job() -> None:
    clock = FakeClock()
    pacer = EditPacer(per_job_s=2.5, per_channel=1, channel_window_s=1.0, clock=clock)
    assert pacer.try_acquire("a", 1)
    assert not pacer.try_acquire("b", 1)
    clock.now += 1.0
    assert pacer.try_acquire("b", 1)  # b's refusal did not start its own spacing


async def test_reserve_waits_for_room_in_the_channel_window() -> None:
    pacer = EditPacer(per_channel=2, channel_window_s=0.3)
    started = time.monotonic()
    await pacer.reserve(1, 2)
    assert time.monotonic() - started < 0.1
    assert not pacer.try_acquire("job", 1)  # deliveries count against progress edits too
    await pacer.reserve(1)  # the window is full: waits until its oldest edit ages out
    assert time.monotonic() - started >= 0.28
