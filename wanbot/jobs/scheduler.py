"""Which queued job runs next: fair across members, within global, provider and member limits.

Pure bookkeeping, no I/O: the job service tells it what was queued, started and finished.
Members take turns (round-robin), so one member's batch of twenty never starves a member who
asked for one image.

Per host, how many jobs may be in flight is a window learned from the host (AIMD, as TCP does):
it starts at `Limits.host_floor` and grows by one for each submission the host accepts until the
host first answers 429/503; from then on by one per window's worth of accepted submissions. Each
refusal halves it (once per window: see `host_throttled`) and pauses new submissions to the host
for its Retry-After (or a second). It stays between the floor and `Limits.per_provider`. Without a
floor (`host_floor=None`) the window is fixed at `per_provider`.

A job counts against its host's window from its start until its results are in (`left_host`);
while it is delivered it still counts against the overall and per-member limits.
"""

from __future__ import annotations

import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass

# Where a host's window starts: low enough that a host which takes two jobs at a time is never
# flooded, and slow start doubles it each round (16 in four rounds) for a host that takes more.
DEFAULT_HOST_FLOOR = 2
# A refusal without Retry-After pauses the host this long; no Retry-After pauses it longer than
# MAX_PAUSE_S (a host's header is not trusted with the queue).
DEFAULT_PAUSE_S = 1.0
MAX_PAUSE_S = 30.0


@dataclass(frozen=True)
class Limits:
    total: int
    per_provider: int  # the most a host's window may grow to
    per_user: int
    host_floor: int | None = None  # where a host's window starts and the least it shrinks to


@dataclass
class _HostWindow:
    size: int
    floor: int
    ceiling: int
    epoch: int = 0  # bumped at every cut: a 429 from a job started before a cut is old news
    credit: int = 0  # accepted submissions towards the next step, after the first cut
    paused_until: float = 0.0  # no new submission before this (the scheduler's clock)
    throttled: int = 0  # refusals seen, for figures


@dataclass(frozen=True)
class Ticket:
    job_id: str
    user_key: tuple[int, int]  # (guild id, user id)
    provider: str


class FairScheduler:
    def __init__(self, limits: Limits, clock: Callable[[], float] = time.monotonic) -> None:
        self.limits = limits
        self._clock = clock
        # Insertion order of the dict is the turn order; the member served last moves to the end.
        self._queues: OrderedDict[tuple[int, int], deque[Ticket]] = OrderedDict()
        self._running: dict[str, Ticket] = {}
        self._off_host: set[str] = set()  # running, results in: no longer at the host
        self._hosts: dict[str, _HostWindow] = {}
        self._started_epoch: dict[str, int] = {}
        self._order: dict[str, int] | None = None  # places in line, until the queues change

    def __len__(self) -> int:
        return sum(len(q) for q in self._queues.values())

    @property
    def running_count(self) -> int:
        return len(self._running)

    def push(self, ticket: Ticket) -> None:
        self._queues.setdefault(ticket.user_key, deque()).append(ticket)
        self._order = None

    def mark_running(self, ticket: Ticket) -> None:
        """Count a job that is already running (one resumed after a restart)."""
        self._running[ticket.job_id] = ticket
        self._started_epoch[ticket.job_id] = self._host(ticket.provider).epoch

    def remove(self, job_id: str) -> bool:
        """Drop a queued job (cancelled); True if it was queued."""
        for key, queue in self._queues.items():
            for ticket in queue:
                if ticket.job_id == job_id:
                    queue.remove(ticket)
                    if not queue:
                        del self._queues[key]
                    self._order = None
                    return True
        return False

    def finish(self, job_id: str) -> None:
        self._running.pop(job_id, None)
        self._off_host.discard(job_id)
        self._started_epoch.pop(job_id, None)

    def left_host(self, job_id: str) -> None:
        """The job's results are in: it no longer takes a place in its host's window."""
        if job_id in self._running:
            self._off_host.add(job_id)

    # -- host windows ----------------------------------------------------------------------
    def _host(self, provider: str) -> _HostWindow:
        host = self._hosts.get(provider)
        if host is None:
            ceiling = self.limits.per_provider
            floor = ceiling if self.limits.host_floor is None else self.limits.host_floor
            floor = max(1, min(floor, ceiling))
            host = self._hosts[provider] = _HostWindow(size=floor, floor=floor, ceiling=ceiling)
        return host

    def window(self, provider: str) -> int:
        """How many jobs of this host may be in flight now."""
        return self._host(provider).size

    def host_accepted(self, provider: str) -> None:
        """The host took a submission: grow the window (additive increase).

        Until the host has refused anything, by one per accepted submission (the window doubles
        each round, as TCP's slow start); after, by one per window's worth, so the window probes
        the host's limit gently instead of running into it every round.
        """
        host = self._host(provider)
        if host.epoch == 0:
            host.size = min(host.ceiling, host.size + 1)
            return
        host.credit += 1
        if host.credit >= host.size:
            host.credit = 0
            host.size = min(host.ceiling, host.size + 1)

    def host_throttled(
        self, provider: str, job_id: str | None = None, retry_after: float | None = None
    ) -> None:
        """The host answered 429/503 to a submission: halve the window (multiplicative decrease)
        and pause new submissions to it for `retry_after` (DEFAULT_PAUSE_S without one).

        With the job's id, a refusal of a job started before the last cut does not cut again:
        the jobs of one over-full window are all refused together, and that is one signal.
        """
        host = self._host(provider)
        host.throttled += 1
        pause = DEFAULT_PAUSE_S if retry_after is None else retry_after
        host.paused_until = max(host.paused_until, self._clock() + min(MAX_PAUSE_S, pause))
        if job_id is not None and self._started_epoch.get(job_id, host.epoch) < host.epoch:
            return
        host.size = max(host.floor, host.size // 2)
        host.credit = 0
        host.epoch += 1

    def paused_for(self) -> float | None:
        """Seconds until the first paused host with queued jobs may take one again; None if none."""
        now = self._clock()
        waiting = {t.provider for queue in self._queues.values() for t in queue}
        pauses = [
            self._hosts[p].paused_until - now
            for p in waiting
            if p in self._hosts and self._hosts[p].paused_until > now
        ]
        return min(pauses, default=None)

    def host_figures(self, provider: str) -> dict[str, float]:
        host = self._host(provider)
        return {
            "window": host.size,
            "in_flight": self._count(provider=provider),
            "throttled": host.throttled,
            "cuts": host.epoch,
        }

    def requeue(self, job_id: str) -> bool:
        """Put a running job back at the head of its member's line (the host refused it)."""
        ticket = self._running.pop(job_id, None)
        self._started_epoch.pop(job_id, None)
        self._off_host.discard(job_id)
        if ticket is None:
            return False
        # The member gets back the turn the refusal took away: first among members again.
        self._queues.setdefault(ticket.user_key, deque()).appendleft(ticket)
        self._queues.move_to_end(ticket.user_key, last=False)
        self._order = None
        return True

    def _count(self, *, provider: str | None = None, user: tuple[int, int] | None = None) -> int:
        return sum(
            1
            for t in self._running.values()
            if (provider is None or (t.provider == provider and t.job_id not in self._off_host))
            and (user is None or t.user_key == user)
        )

    def _may_start(self, ticket: Ticket) -> bool:
        host = self._host(ticket.provider)
        return (
            self._clock() >= host.paused_until
            and self._count(provider=ticket.provider) < host.size
            and self._count(user=ticket.user_key) < self.limits.per_user
        )

    def take_ready(self) -> list[Ticket]:
        """Start as many jobs as the limits allow, one per member per turn."""
        started: list[Ticket] = []
        progress = True
        while progress and len(self._running) < self.limits.total:
            progress = False
            for key in list(self._queues):
                if len(self._running) >= self.limits.total:
                    break
                queue = self._queues[key]
                ticket = queue[0]
                if not self._may_start(ticket):
                    continue
                queue.popleft()
                self._order = None
                self._running[ticket.job_id] = ticket
                self._started_epoch[ticket.job_id] = self._host(ticket.provider).epoch
                started.append(ticket)
                progress = True
                del self._queues[key]
                if queue:
                    self._queues[key] = queue  # back of the line
        return started

    def positions(self) -> dict[str, int]:
        """1-based place in line of every queued job, following the turn order."""
        return dict(self._places())

    def position(self, job_id: str) -> int | None:
        """One job's place in line (every queued job's reporter asks, often: kept until the
        queues change)."""
        return self._places().get(job_id)

    def _places(self) -> dict[str, int]:
        if self._order is not None:
            return self._order
        queues = [list(q) for q in self._queues.values()]
        order: dict[str, int] = {}
        depth = 0
        place = 1
        while any(depth < len(q) for q in queues):
            for queue in queues:
                if depth < len(queue):
                    order[queue[depth].job_id] = place
                    place += 1
            depth += 1
        self._order = order
        return order
