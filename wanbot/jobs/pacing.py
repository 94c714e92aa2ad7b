"""Discord pacing learned from Discord's own answers, not from a budget guessed in advance.

discord.py already follows each route's `X-RateLimit-*` headers for the requests it makes; what it
cannot know is which of those requests matter less. Here progress edits are the ones that yield: a
channel is held (progress edits skipped) only after Discord said so (a 429 and its scope and
`retry_after`, or a bucket with nothing left until its reset) and released when that window has
passed; while a result is being posted in a channel its progress edits stand aside too. Results
wait on nothing of the bot's own: only in a channel Discord has just refused (a 429) do they go
one at a time, each after the wait Discord asked for, until the channel has been quiet for
RECOVERY_S.

`ChannelPressure` holds no Discord import: it is fed by `pressure_trace_config`, an aiohttp
`TraceConfig` that discord.py accepts as `http_trace=`, which reads the status and headers of
every REST answer (channel routes by their channel id; interaction webhook routes through the
token registration the notifier makes).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import re
import time
import types
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from dataclasses import dataclass

import aiohttp

log = logging.getLogger(__name__)

# Discord allows about 5 edits per 2 s per interaction token; one progress edit per job every
# 2 s leaves four of them for the result, and a member can't read faster anyway.
PER_JOB_SPACING_S = 2.0
# A hold after a 429 lasts at least this long (a `retry_after` of 0.01 s is no signal to return).
MIN_HOLD_S = 0.5
# Each further 429 in a channel within RECOVERY_S doubles the hold, up to MAX_HOLD_FACTOR times.
MAX_HOLD_FACTOR = 8
RECOVERY_S = 30.0

_CHANNEL_PATH = re.compile(r"/channels/(\d+)(?:/|$)")
_WEBHOOK_PATH = re.compile(r"/webhooks/\d+/([^/?]+)")
_CALLBACK_PATH = re.compile(r"/interactions/\d+/([^/?]+)/callback")


def token_key(token: str) -> str:
    """A short digest that names an interaction token without keeping the token itself."""
    return hashlib.sha256(token.encode()).hexdigest()[:24]


@dataclass(frozen=True)
class Observation:
    """One REST answer, as much of it as pacing needs."""

    status: int
    scope: str | None = None  # X-RateLimit-Scope on a 429: user, global or shared
    retry_after: float | None = None  # seconds, from Retry-After or X-RateLimit-Reset-After
    remaining: int | None = None  # X-RateLimit-Remaining
    reset_after: float | None = None  # X-RateLimit-Reset-After


@dataclass
class _Hold:
    until: float = 0.0  # progress edits wait until then (Discord's wait, doubled per strike)
    strikes: int = 0
    last_429: float = -1e18
    free_at: float = 0.0  # when Discord said the channel takes a message again (its own wait)


class ChannelPressure:
    """Per channel (and per interaction token): may a progress edit go now?

    `observe_*` record what Discord answered; `try_acquire(job_id, channel_id)` is the question a
    progress reporter asks before each edit (also the `ProgressGate` protocol of `progress.py`);
    `posting(channel_id)` brackets a delivery so progress in that channel stands aside.
    """

    def __init__(
        self,
        *,
        per_job_s: float = PER_JOB_SPACING_S,
        min_hold_s: float = MIN_HOLD_S,
        recovery_s: float = RECOVERY_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.per_job_s = per_job_s
        self._min_hold = min_hold_s
        self._recovery = recovery_s
        self._clock = clock
        self._channels: dict[int, _Hold] = {}
        self._tokens: dict[str, _Hold] = {}
        self._global = _Hold()
        self._channel_of_token: dict[str, int] = {}
        self._token_of_job: dict[str, str] = {}
        self._posting: dict[int, int] = {}
        self._turns: dict[int, asyncio.Lock] = {}  # results one at a time, in slowed channels
        self._last_edit: dict[str, float] = {}
        self.count_429 = 0

    # -- registration (the notifier) -----------------------------------------------------------
    def register(self, job_id: str, token: str, channel_id: int) -> None:
        """Tie a job's interaction token to its channel, so webhook answers count for both."""
        key = token_key(token)
        self._channel_of_token[key] = channel_id
        self._token_of_job[job_id] = key

    def forget(self, job_id: str) -> None:
        """The job's progress is over (its reporter stopped); its result may still be posted."""
        self._last_edit.pop(job_id, None)

    def unregister(self, job_id: str) -> None:
        """The job is over, result posted or not: drop everything kept for it."""
        self.forget(job_id)
        key = self._token_of_job.pop(job_id, None)
        if key is not None:
            self._channel_of_token.pop(key, None)
            self._tokens.pop(key, None)

    def channel_of_token(self, token: str) -> int | None:
        return self._channel_of_token.get(token_key(token))

    # -- what Discord said -----------------------------------------------------------------------
    def observe_channel(self, channel_id: int | None, seen: Observation) -> None:
        """An answer on a route of this channel (or, with None, a route of no known channel)."""
        self._observe(None if channel_id is None else self._channel(channel_id), seen)

    def observe_token(self, token: str, seen: Observation) -> None:
        """An answer on an interaction webhook or callback route of this token."""
        key = token_key(token)
        channel_id = self._channel_of_token.get(key)
        if channel_id is None:
            # Not a job's token (a command's own reply): nothing of ours waits on it. Only a
            # global limit concerns everyone.
            if seen.status == 429 and seen.scope == "global":
                self._observe(None, seen)
            elif seen.status == 429:
                self.count_429 += 1
            return
        if seen.status == 429 and seen.scope == "shared":
            # The hidden per-channel limit, met through a webhook: the channel is what's full.
            self._observe(self._channel(channel_id), seen)
            return
        self._observe(self._tokens.setdefault(key, _Hold()), seen)

    def _channel(self, channel_id: int) -> _Hold:
        return self._channels.setdefault(channel_id, _Hold())

    def _observe(self, hold: _Hold | None, seen: Observation) -> None:
        now = self._clock()
        if seen.status == 429:
            self.count_429 += 1
            target = self._global if seen.scope == "global" or hold is None else hold
            if now - target.last_429 > self._recovery:
                target.strikes = 0
            factor = min(MAX_HOLD_FACTOR, 2**target.strikes)
            wait = max(self._min_hold, seen.retry_after or 0.0) * factor
            target.until = max(target.until, now + wait)
            target.free_at = max(target.free_at, now + (seen.retry_after or 0.0))
            target.strikes += 1
            target.last_429 = now
            log.info("discord 429 (scope %s): progress edits held for %.1f s", seen.scope, wait)
            return
        if hold is not None and seen.remaining == 0 and seen.reset_after is not None:
            # The bucket is spent: an edit now would only queue in front of a result.
            hold.until = max(hold.until, now + seen.reset_after)

    # -- deliveries ------------------------------------------------------------------------------
    @contextlib.asynccontextmanager
    async def delivering(self, channel_id: int) -> AsyncIterator[None]:
        """Around posting a result: never a wait of the bot's own making.

        Only where Discord has said the channel is full (a 429 on it within RECOVERY_S) do its
        results go one at a time, each after the wait Discord asked for: all of them at once
        would only be refused together and retried together. Progress stands aside meanwhile
        (`posting`).
        """
        if not self._slowed(channel_id):
            with self.posting(channel_id):
                yield
            return
        turn = self._turns.setdefault(channel_id, asyncio.Lock())
        async with turn:
            hold = self._channels[channel_id]
            wait = max(hold.free_at, self._global.free_at) - self._clock()
            if wait > 0:
                await asyncio.sleep(wait)
            with self.posting(channel_id):
                yield
        if not turn.locked() and not self._slowed(channel_id):
            self._turns.pop(channel_id, None)

    def _slowed(self, channel_id: int) -> bool:
        hold = self._channels.get(channel_id)
        return hold is not None and self._clock() - hold.last_429 < self._recovery

    @contextlib.contextmanager
    def posting(self, channel_id: int) -> Iterator[None]:
        """While a result is posted in the channel, its progress edits stand aside."""
        self._posting[channel_id] = self._posting.get(channel_id, 0) + 1
        try:
            yield
        finally:
            left = self._posting[channel_id] - 1
            if left:
                self._posting[channel_id] = left
            else:
                del self._posting[channel_id]

    # -- the question progress asks --------------------------------------------------------------
    def held_until(self, channel_id: int, job_id: str | None = None) -> float | None:
        """When progress edits in the channel (for this job) may go again; None if now."""
        now = self._clock()
        until = max(
            self._global.until,
            self._channels[channel_id].until if channel_id in self._channels else 0.0,
        )
        key = self._token_of_job.get(job_id) if job_id is not None else None
        if key is not None and key in self._tokens:
            until = max(until, self._tokens[key].until)
        return until if until > now else None

    def under_pressure(self, channel_id: int) -> bool:
        return self._posting.get(channel_id, 0) > 0 or self.held_until(channel_id) is not None

    def try_acquire(self, job_id: str, channel_id: int) -> bool:
        """True (and the job's slot taken) if a progress edit may go now."""
        now = self._clock()
        if now - self._last_edit.get(job_id, -1e18) < self.per_job_s:
            return False
        if self._posting.get(channel_id, 0) > 0:
            return False
        if self.held_until(channel_id, job_id) is not None:
            return False
        self._last_edit[job_id] = now
        return True

    def snapshot(self) -> Mapping[str, float]:
        """Figures for metrics and benchmarks."""
        now = self._clock()
        return {
            "channels_held": sum(1 for h in self._channels.values() if h.until > now),
            "tokens_held": sum(1 for h in self._tokens.values() if h.until > now),
            "channels_posting": len(self._posting),
            "jobs_tracked": len(self._last_edit),
            "count_429": self.count_429,
        }


def target_of(path: str) -> tuple[str, str | int] | None:
    """("channel", id) or ("token", token) for a Discord REST path; None for other routes."""
    if m := _WEBHOOK_PATH.search(path):
        return ("token", m[1])
    if m := _CALLBACK_PATH.search(path):
        return ("token", m[1])
    if m := _CHANNEL_PATH.search(path):
        return ("channel", int(m[1]))
    return None


def observation_of(status: int, headers: Mapping[str, str]) -> Observation:
    """Read the rate-limit headers of one answer (the body is left for discord.py to read)."""

    def number(name: str) -> float | None:
        raw = headers.get(name)
        if raw is None:
            return None
        try:
            return float(raw)
        except ValueError:
            return None

    remaining = number("X-RateLimit-Remaining")
    reset_after = number("X-RateLimit-Reset-After")
    retry_after = reset_after if status == 429 and reset_after is not None else None
    if status == 429 and retry_after is None:
        retry_after = number("Retry-After")
    return Observation(
        status=status,
        scope=headers.get("X-RateLimit-Scope"),
        retry_after=retry_after,
        remaining=None if remaining is None else int(remaining),
        reset_after=reset_after,
    )


def feed(pressure: ChannelPressure, path: str, status: int, headers: Mapping[str, str]) -> None:
    """Route one REST answer to the channel or token it concerns."""
    seen = observation_of(status, headers)
    target = target_of(path)
    if target is None:
        if status == 429 and seen.scope == "global":
            pressure.observe_channel(None, seen)
        return
    kind, value = target
    if kind == "token":
        assert isinstance(value, str)
        pressure.observe_token(value, seen)
    else:
        assert isinstance(value, int)
        pressure.observe_channel(value, seen)


def pressure_trace_config(
    pressure: ChannelPressure, into: aiohttp.TraceConfig | None = None
) -> aiohttp.TraceConfig:
    """An aiohttp TraceConfig that feeds `pressure` from every answer of a session.

    For discord.py: `Client(..., http_trace=pressure_trace_config(pressure))`; the interaction
    webhooks discord.py builds from the client's state share that session, so they are seen too.
    discord.py takes one TraceConfig: `into` adds the callback to one that already exists (the
    operators' 429 counter) and returns it.
    """

    async def on_request_end(
        session: aiohttp.ClientSession,
        context: types.SimpleNamespace,
        params: aiohttp.TraceRequestEndParams,
    ) -> None:
        try:
            feed(pressure, params.url.path, params.response.status, params.response.headers)
        except Exception:  # pacing is advice: it must never break the request it watched
            log.warning("could not read a Discord answer for pacing", exc_info=True)

    trace = aiohttp.TraceConfig() if into is None else into
    trace.on_request_end.append(on_request_end)
    return trace
