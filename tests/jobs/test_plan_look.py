"""Planning the next look from what is known now: the cold prior, peers learned in the run, the
running peers, and the peer book that carries them between the jobs of one process."""

from __future__ import annotations

import asyncio
import itertools

import pytest

from wanbot.jobs.eta import (
    COLD_RANGE,
    PEER_SPREAD,
    STAGGER,
    Expectation,
    Outlook,
    cold_hazard,
    expect,
    inside_past_spread,
    next_look,
    past_spread,
    plan_look,
)
from wanbot.jobs.peers import KEEP, PeerBook
from wanbot.jobs.polling import PollBudget
from wanbot.jobs.tracking import StatusWatch
from wanbot.providers.models import JobState, JobStatus

GUESS = 40.0


def cold(**fields: float) -> Outlook:
    return Outlook((), GUESS, **fields)  # type: ignore[arg-type]


def schedule(outlook: Outlook, until: float) -> list[float]:
    """The times of the looks a job would make with nothing new learned."""
    looks, elapsed, fresh = [], 0.0, True
    while elapsed < until:
        elapsed += plan_look(elapsed, outlook, fresh=fresh)
        fresh = False
        looks.append(elapsed)
    return looks


# -- cold --------------------------------------------------------------------------------------


def test_cold_waits_for_the_shortest_likely_duration_then_looks_at_a_steady_pace() -> None:
    looks = schedule(cold(), 60.0)
    assert looks[0] > GUESS * COLD_RANGE[0]  # nothing is learned before a twentieth of the guess
    gaps = [b - a for a, b in itertools.pairwise(looks)]
    # Not "a third of the time elapsed": late looks are not much further apart than early ones.
    assert max(gaps) < 2 * min(gaps)
    assert len(looks) < 25


def test_cold_prior_hazard_falls_as_a_job_runs_then_levels_off() -> None:
    early, middle, late = (cold_hazard(t, GUESS) for t in (3.0, 20.0, 200.0))
    assert early > middle > late > 0
    # Past the guessed range the tail keeps a hazard: a long job is still looked at.
    assert cold_hazard(200.0, GUESS) == pytest.approx(cold_hazard(100.0, GUESS) / 2)


def test_peers_submitted_together_do_not_look_in_step() -> None:
    firsts = {plan_look(0.0, cold(phase=p), fresh=True) for p in (0.0, 0.3, 0.6, 0.99)}
    assert len(firsts) == 4
    lowest = GUESS * COLD_RANGE[0]
    spacing = plan_look(0.0, cold(phase=1.0), fresh=True) - lowest
    assert min(firsts) >= lowest + (1 - STAGGER) * spacing - 1e-9
    # Only a fresh schedule is staggered: later looks follow the hazard alone.
    assert plan_look(5.0, cold(phase=0.0)) == plan_look(5.0, cold(phase=0.9))


def test_cold_waits_are_clamped() -> None:
    assert plan_look(500.0, cold(), ceiling=10.0) == 10.0
    assert plan_look(0.0, Outlook((), 0.05)) == 0.25  # a very short guess: the floor


# -- learning within the run ---------------------------------------------------------------------


def test_a_finished_peer_covering_now_makes_the_next_look_come_sooner() -> None:
    now = 8.0
    alone = plan_look(now, cold(at_risk=4))
    with_peer = plan_look(now, Outlook((8.2,), GUESS, at_risk=4, learned=1))
    assert with_peer < alone * 0.6


def test_a_peers_window_ahead_is_looked_at_when_it_opens() -> None:
    outlook = Outlook((10.0,), GUESS, at_risk=2, learned=1)
    opens = 10.0 * (1 - PEER_SPREAD)
    assert plan_look(6.0, outlook) == pytest.approx(opens - 6.0)
    # Replanned from a last look made before the window opened, after it did: look now.
    assert plan_look(6.0, outlook) < plan_look(6.0, cold(at_risk=2))


def test_more_running_peers_make_a_single_finish_weigh_less() -> None:
    one_finished = (8.0,)
    few = plan_look(8.1, Outlook(one_finished, GUESS, at_risk=1, learned=1))
    many = plan_look(8.1, Outlook(one_finished, GUESS, at_risk=30, learned=1))
    assert few < many


def test_a_job_that_outlived_every_known_duration_is_back_on_the_cold_schedule() -> None:
    done = (3.0, 3.1, 3.2, 3.3, 3.4, 3.5)
    for elapsed in (6.0, 12.0, 30.0):
        learned = plan_look(elapsed, Outlook(done, GUESS, at_risk=3, learned=len(done)))
        assert learned == plan_look(elapsed, cold(at_risk=3))
    # With a spread from past runs the same: past it, no back-off meant for late jobs.
    past = tuple(float(d) for d in range(8, 13)) * 4
    for elapsed in (30.0, 60.0):
        late = plan_look(elapsed, Outlook(past, GUESS, at_risk=3))
        assert late == plan_look(elapsed, cold(at_risk=3))
        assert late < next_look(elapsed, expect(list(past)))
    # Just past it, the late back-off of past jobs starts closer than the cold prior.
    just_past = plan_look(12.5, Outlook(past, GUESS))
    assert just_past == next_look(12.5, expect(list(past))) < plan_look(12.5, cold())


def test_past_spread_decides_inside_its_window_and_peers_learned_join_it() -> None:
    past = tuple(float(d) for d in range(10, 30))
    outlook = Outlook(past, GUESS)
    assert plan_look(15.0, outlook) == next_look(15.0, expect(list(past)))
    assert past_spread(outlook) == expect(list(past))
    assert inside_past_spread(15.0, outlook)
    assert not inside_past_spread(40.0, outlook)  # outlived
    assert past_spread(Outlook(past[:4], GUESS)) is None  # too few to trust
    learned = (12.0, 12.5)
    joined = Outlook(learned + past, GUESS, learned=2)
    assert plan_look(15.0, joined) == next_look(15.0, expect(list(learned + past)))


def test_peers_learned_in_the_run_alone_do_not_make_a_spread() -> None:
    # Five found done by one look each: their window is an instant, not a spread to poll in.
    found_together = (3.70, 3.70, 3.71, 3.71, 3.72)
    outlook = Outlook(found_together, GUESS, at_risk=9, learned=5)
    assert plan_look(3.705, outlook) > next_look(3.705, expect(list(found_together)))
    assert expect(list(found_together)).high == pytest.approx(3.716)


def test_a_default_expectation_is_still_the_guess() -> None:
    assert expect([], GUESS) == Expectation(GUESS, 0)


# -- the peer book -------------------------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_the_book_counts_running_peers_that_have_run_as_long() -> None:
    clock = Clock()
    book = PeerBook(clock)
    key = ("pixeldojo", "2K")
    book.join(key, "a", 990.0)
    book.join(key, "b", 995.0)
    book.join(key, "c", 999.0)
    book.join(("pixeldojo", "4K"), "other size", 900.0)
    assert book.at_risk(key, "a", 5.0) == 1  # b has run 5 s; c only 1 s; a is itself
    assert book.at_risk(key, "c", 0.5) == 2
    book.leave(key, "b")
    assert book.at_risk(key, "a", 1.0) == 1


async def test_the_book_keeps_recent_durations_and_tells_the_running() -> None:
    clock = Clock()
    book = PeerBook(clock)
    key = ("pixeldojo", "2K")
    book.join(key, "a", 990.0)
    book.join(key, "b", 990.0)
    news = book.news(key)
    assert not news.is_set()
    clock.now = 1003.0
    book.finished(key, "a", 13.0)
    assert news.is_set()
    assert not book.news(key).is_set()  # the next finish has news of its own
    clock.now = 1004.0
    book.finished(key, "b", 14.0)
    assert book.since(key, 1000.0) == [14.0, 13.0]  # newest first
    assert book.since(key, 1003.5) == [14.0]
    assert book.at_risk(key, "x", 0.0) == 0
    for i in range(KEEP + 5):
        book.finished(key, f"j{i}", float(i))
    assert len(book.since(key, 0.0)) == KEEP


async def test_the_book_forgets_a_key_with_nothing_in_it() -> None:
    book = PeerBook(Clock())
    key = ("mock", "1K")
    book.join(key, "a", 999.0)
    book.leave(key, "a")
    assert book.figures() == {"keys": 0, "running": 0}


# -- a peer's news in a watch --------------------------------------------------------------------


async def test_a_peers_finish_brings_a_waiting_jobs_look_forward() -> None:
    """A job whose cold plan waits 10 s (the ceiling) looks at once when a peer of its host and
    size finishes: its peer's window opened before now."""
    loop = asyncio.get_running_loop()
    book = PeerBook(loop.time)
    key = ("pixeldojo", "2K")
    started = loop.time()
    looks: list[float] = []

    async def look() -> JobStatus:
        looks.append(loop.time())
        return JobStatus(job_id="h1", state=JobState.SUCCEEDED)

    watch = StatusWatch(
        job_id="a",
        host="pixeldojo",
        submitted_at=started,
        expectation=Expectation(400.0, 0),
        deadline_at=started + 600,
        clock=loop.time,
        budget=PollBudget({"pixeldojo": float("inf")}, clock=loop.time),
        size="2K",
        first_guess=400.0,  # nothing expected before a twentieth of it, 20 s
        peers=book,
    )
    assert plan_look(0.0, watch.outlook(0.0), fresh=True) == 10.0
    book.join(key, "b", started)
    task = asyncio.create_task(watch.until_final(look))
    await asyncio.sleep(0.05)
    assert looks == []
    book.finished(key, "b", loop.time() - started)
    status = await asyncio.wait_for(task, 10.0)
    assert status.state is JobState.SUCCEEDED and len(looks) == 1
    # It finished with its result: it is a duration for the next, and no longer running.
    assert len(book.since(key, started - 1)) == 2
    assert book.at_risk(key, "c", 0.0) == 0
