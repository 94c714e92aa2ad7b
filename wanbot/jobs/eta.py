"""Expected job durations, learned from recent jobs of the same provider and size, and when to
look next at a running job."""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass

# Until a provider and size has history: a guess, shown as such ("about"), never as an estimate.
DEFAULT_DURATION_S = 30.0


# With this many past jobs, their spread (10th to 90th percentile) is worth trusting.
MIN_SPREAD_BASIS = 5
# What one status request is worth in seconds of lag: the spacing of looks inside the window
# where jobs usually finish is sqrt(2 * LOOK_COST_S * window), which minimises lag + cost x
# requests when a finish is equally likely anywhere in the window.
LOOK_COST_S = 0.065
# Before that window, the longest a job goes without a look (it may have failed early).
EARLY_LOOK_MAX_S = 30.0
# The first look comes a little before the window: a past duration ends when the bot noticed
# the result, not when the host finished, and looking exactly at the window's start would let
# that delay ratchet the window later job after job.
EARLY_FACTOR = 0.9


@dataclass(frozen=True)
class Expectation:
    seconds: float
    basis: int  # how many past jobs it comes from; 0 means a default guess
    low: float | None = None  # most past jobs took at least this long (10th percentile)
    high: float | None = None  # and at most this long (90th percentile)


def expect(durations: list[float], default: float = DEFAULT_DURATION_S) -> Expectation:
    usable = [d for d in durations if d >= 0]
    if not usable:
        return Expectation(default, 0)
    if len(usable) < MIN_SPREAD_BASIS:
        return Expectation(statistics.median(usable), len(usable))
    deciles = statistics.quantiles(usable, n=10, method="inclusive")
    return Expectation(statistics.median(usable), len(usable), deciles[0], deciles[-1])


def next_look(
    elapsed_s: float, expectation: Expectation, *, floor: float = 0.25, ceiling: float = 10.0
) -> float:
    """How long to wait before the next look, using the spread of past jobs when it is known.

    Before the window where past jobs finished (10th to 90th percentile) there is little to
    learn: the first look is just before its start (EARLY_FACTOR; or after EARLY_LOOK_MAX_S, for
    a job that failed early). Inside it, looks are evenly spaced, closer for a
    narrow window than a wide one (see LOOK_COST_S). Past it, the job is late: back off as
    `poll_interval` does. Without a known spread, `poll_interval` decides alone.
    """
    low, high = expectation.low, expectation.high
    if low is None or high is None:
        return poll_interval(elapsed_s, expectation.seconds, floor=floor, ceiling=ceiling)
    spacing = max(floor, min(ceiling, math.sqrt(2 * LOOK_COST_S * max(0.0, high - low))))
    first = low * EARLY_FACTOR
    if elapsed_s < first:
        return min(EARLY_LOOK_MAX_S, max(first - elapsed_s, min(floor, first)))
    if elapsed_s < high:
        return min(spacing, max(floor, high - elapsed_s))
    return max(spacing, min(ceiling, (elapsed_s - high) / 4))


def poll_interval(
    elapsed_s: float, expected_s: float, *, floor: float = 0.25, ceiling: float = 10.0
) -> float:
    """How long to wait before the next look at a running job.

    Far from the expected finish there is little to learn, so wait a third of the time left, but
    never more than a third of the time already elapsed: an estimate is only an estimate, and a
    job that finishes early should not sit unnoticed. Close to the expected finish, look often; past
    it, back off gently, as the job is late for a reason.
    """
    remaining = expected_s - elapsed_s
    wait = min(remaining, elapsed_s) / 3 if remaining > 0 else (elapsed_s - expected_s) / 4
    low = max(floor, min(1.0, expected_s / 10))
    return max(low, min(ceiling, wait))


# -- a look planned from what is known now ------------------------------------------------------

# A job like one that finished in d seconds is taken to end within d x (1 -/+ PEER_SPREAD).
PEER_SPREAD = 0.1
# Looks are priced per source of the hazard they answer. A past job's window is priced as in
# `next_look` (LOOK_COST_S). A peer learned in this run is a time it was noticed (several are
# found by one round of looks, in one instant): a looser window, priced higher. The cold prior is
# a guess over two orders of magnitude, and a look it asks for finds a job done less often still.
PEER_LOOK_COST_S = 0.25
COLD_LOOK_COST_S = 0.4
# The cold prior: durations spread evenly on a log scale from a twentieth of the first guess to
# one and a half times it; past that, the hazard stays that of the last part of the range.
COLD_RANGE = (1 / 20, 1.5)
COLD_TAIL = 1.5
# What the cold prior weighs against known durations, besides the running peers it speaks for.
PRIOR_WEIGHT = 1.0
# A fresh schedule (the first look, or the first after a peer's news) starts at the job's own
# phase, within this share of its spacing: peers submitted together do not all look in step.
STAGGER = 0.5


@dataclass(frozen=True)
class Outlook:
    """What a look at a running job can be planned from.

    `durations`: how long finished jobs of its host and size took, newest first: those that
    finished in this process since the job was submitted (`learned`), then those the store gave
    at submission. `at_risk`: its peers (same host and size) still running that have run at least
    as long as it has: evidence that jobs go on. `phase`: the job's own offset in [0, 1).
    """

    durations: tuple[float, ...]
    first_guess: float
    at_risk: int = 0
    phase: float = 0.5
    learned: int = 0  # how many of the durations (the first ones) finished in this run


def plan_look(
    elapsed_s: float,
    outlook: Outlook,
    *,
    fresh: bool = False,
    floor: float = 0.25,
    ceiling: float = 10.0,
) -> float:
    """How long after `elapsed_s` (the last look) to look next.

    With the spread of enough jobs from before this run, `next_look` decides (peers that finish
    meanwhile join those durations); past that spread its back-off is capped by the cold prior's
    wait. Peers learned in this run alone do not make a spread: found done by one look each,
    often at once, they say when they were noticed, not how widely jobs vary.

    Otherwise the wait answers the hazard (the chance per second that the job ends now, given
    that it has not ended): from the windows of known durations that cover `elapsed_s`, and from
    the cold prior for the share of jobs like none of them; against durations learned in this
    run, the peers still running weigh that share up (they are like none of them so far). A job
    that has outlived every known duration is back on the cold prior, not in a back-off for late
    jobs. A window that opens ahead is looked at when it opens.
    """
    low = outlook.first_guess * COLD_RANGE[0]
    at = max(elapsed_s, low)
    spread = past_spread(outlook)
    if spread is not None:
        wait = next_look(elapsed_s, spread, floor=floor, ceiling=ceiling)
        if spread.high is not None and elapsed_s >= spread.high:
            # Late for past jobs: their back-off, but never slower than the cold prior.
            cold = math.sqrt(2 * COLD_LOOK_COST_S / cold_hazard(at, outlook.first_guess))
            wait = min(wait, max(floor, at - elapsed_s + cold))
        return wait
    spacing = _spacing(at, outlook)
    if fresh:
        spacing *= 1 - STAGGER + STAGGER * outlook.phase
    wait = at - elapsed_s + spacing
    opens = [d * (1 - PEER_SPREAD) for d in outlook.durations if d * (1 - PEER_SPREAD) > elapsed_s]
    if opens:
        # A peer's window that opens before the planned look is looked at when it opens (at once,
        # when the news came after that).
        wait = min(wait, min(opens) - elapsed_s)
    return max(floor, min(ceiling, wait))


def past_spread(outlook: Outlook) -> Expectation | None:
    """The spread `plan_look` follows with `next_look`, if enough jobs from before this run give
    one (with the peers learned since among the durations)."""
    if len(outlook.durations) - outlook.learned < MIN_SPREAD_BASIS:
        return None
    expectation = expect(list(outlook.durations))
    return None if expectation.high is None else expectation


def inside_past_spread(elapsed_s: float, outlook: Outlook) -> bool:
    spread = past_spread(outlook)
    return spread is not None and spread.high is not None and elapsed_s < spread.high


def _spacing(at: float, outlook: Outlook) -> float:
    """sqrt(2 / rate), the rate being the hazard at `at` over the cost of a look it answers."""
    rate = alive = 0.0
    for i, duration in enumerate(outlook.durations):
        start, end = duration * (1 - PEER_SPREAD), duration * (1 + PEER_SPREAD)
        if duration < 0:
            continue
        if at < start:
            alive += 1
        elif at < end:
            cost = PEER_LOOK_COST_S if i < outlook.learned else LOOK_COST_S
            rate += 1 / (end - start) / cost
            alive += (end - at) / (end - start)
    # Running peers weigh against the durations learned in this run (they started with those jobs
    # and did not end with them), not against past jobs' (a burst just started says nothing yet).
    prior = PRIOR_WEIGHT + (outlook.at_risk if outlook.learned else 0)
    rate += prior * cold_hazard(max(at, 1e-3), outlook.first_guess) / COLD_LOOK_COST_S
    return math.sqrt(2 * (prior + alive) / rate)


def cold_hazard(elapsed_s: float, first_guess: float) -> float:
    """The cold prior's chance per second that a job still running at `elapsed_s` ends now."""
    high = first_guess * COLD_RANGE[1]
    return 1 / (elapsed_s * math.log(max(high / elapsed_s, COLD_TAIL)))
