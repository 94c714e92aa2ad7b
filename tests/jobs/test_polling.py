"""PollBudget: a token bucket per host, the jobs closest to finishing first, bounded waits."""

from __future__ import annotations

import asyncio
import math
from dataclasses import dataclass, field

import pytest

from wanbot.jobs.polling import DEFAULT_POLL_RATES, PollBudget


@dataclass
class FakeTime:
    """A clock that moves only when the budget sleeps."""

    now: float = 0.0
    slept: list[float] = field(default_factory=list)

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds
        await asyncio.sleep(0)


def budget(rate: float, t: FakeTime, host: str = "h") -> PollBudget:
    return PollBudget({host: rate}, clock=t.clock, sleep=t.sleep)


async def test_a_host_gets_its_rate_and_a_second_saved_up_no_more() -> None:
    t = FakeTime()
    b = budget(4.0, t)
    granted_at: list[float] = []

    async def ask(i: int) -> None:
        assert await b.turn("h", f"j{i}", due_at=100.0)
        granted_at.append(t.now)

    await asyncio.gather(*(ask(i) for i in range(12)))
    assert granted_at[:4] == [0.0] * 4  # the bucket starts full: one second's worth
    # then 4 a second: 8 more take 2 s
    assert granted_at[-1] == pytest.approx(2.0)
    assert b.figures("h")["granted"] == 12


async def test_the_job_closest_to_its_expected_finish_is_asked_first() -> None:
    t = FakeTime()
    b = budget(1.0, t)
    assert await b.turn("h", "first", due_at=0.0)  # spends the only token
    order: list[str] = []

    async def ask(job: str, due: float) -> None:
        assert await b.turn("h", job, due_at=due)
        order.append(job)

    await asyncio.gather(ask("later", 50.0), ask("overdue", -5.0), ask("soon", 3.0))
    assert order == ["overdue", "soon", "later"]
    assert t.now == pytest.approx(3.0)


async def test_a_wait_ends_at_the_job_deadline() -> None:
    t = FakeTime()
    b = budget(0.5, t)
    assert await b.turn("h", "a", due_at=0.0)
    results = await asyncio.gather(
        b.turn("h", "b", due_at=1.0, deadline_at=1.0),  # the next token comes at 2 s
        b.turn("h", "c", due_at=9.0, deadline_at=10.0),
    )
    assert list(results) == [False, True]
    assert b.figures("h")["expired"] == 1
    assert not await b.turn("h", "d", due_at=0.0, deadline_at=t.now)  # already past


async def test_hosts_do_not_share_a_budget_and_the_mock_has_none() -> None:
    t = FakeTime()
    b = PollBudget({"a": 1.0, "b": 1.0}, clock=t.clock, sleep=t.sleep)
    assert await b.turn("a", "j1", 0.0)
    assert await b.turn("b", "j2", 0.0)  # a's empty bucket does not hold b
    for i in range(100):
        assert await b.turn("mock", f"m{i}", 0.0)
    assert t.now == 0.0
    assert b.rate("dashscope") == DEFAULT_POLL_RATES["dashscope"] == 20.0
    assert b.rate("unknown-host") == 5.0
    assert math.isinf(b.rate("mock"))


async def test_a_cancelled_waiter_leaves_the_queue_clean() -> None:
    t = FakeTime()
    b = budget(1.0, t)
    assert await b.turn("h", "a", 0.0)
    gone = asyncio.create_task(b.turn("h", "gone", due_at=-1.0))
    await asyncio.sleep(0)
    gone.cancel()
    assert await b.turn("h", "kept", due_at=5.0)
    assert t.now == pytest.approx(1.0)  # the one token went to the job still waiting
    assert b.figures("h")["waiting"] == 0


async def test_a_batch_request_takes_the_other_waiting_jobs_without_spending() -> None:
    t = FakeTime()
    b = budget(1.0, t)
    assert await b.turn("h", "leader", 0.0)
    waiting = [asyncio.create_task(b.turn("h", f"j{i}", due_at=float(i))) for i in range(5)]
    await asyncio.sleep(0)
    assert b.take_waiting("h", limit=3) == ["j0", "j1", "j2"]
    assert b.figures("h")["granted"] == 1  # no token spent on them
    assert await asyncio.gather(*waiting[:3]) == [True, True, True]
    assert await asyncio.gather(*waiting[3:]) == [True, True]
    await b.close()


async def test_real_clock_the_budget_paces_requests() -> None:
    b = PollBudget({"h": 50.0}, burst_s=0.1)  # 5 at once, then one per 20 ms
    loop = asyncio.get_running_loop()
    start = loop.time()
    await asyncio.gather(*(b.turn("h", f"j{i}", 0.0) for i in range(15)))
    assert loop.time() - start >= 0.18
    await b.close()
