"""Which queued job runs next: fair across members, within global, provider and member limits.

Pure bookkeeping, no I/O: the job service tells it what was queued, started and finished.
Members take turns (round-robin), so one member's batch of twenty never starves a member who
asked for one image.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from dataclasses import dataclass


@dataclass(frozen=True)
class Limits:
    total: int
    per_provider: int
    per_user: int


@dataclass(frozen=True)
class Ticket:
    job_id: str
    user_key: tuple[int, int]  # (guild id, user id)
    provider: str


class FairScheduler:
    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        # Insertion order of the dict is the turn order; the member served last moves to the end.
        self._queues: OrderedDict[tuple[int, int], deque[Ticket]] = OrderedDict()
        self._running: dict[str, Ticket] = {}

    def __len__(self) -> int:
        return sum(len(q) for q in self._queues.values())

    @property
    def running_count(self) -> int:
        return len(self._running)

    def push(self, ticket: Ticket) -> None:
        self._queues.setdefault(ticket.user_key, deque()).append(ticket)

    def mark_running(self, ticket: Ticket) -> None:
        """Count a job that is already running (one resumed after a restart)."""
        self._running[ticket.job_id] = ticket

    def remove(self, job_id: str) -> bool:
        """Drop a queued job (cancelled); True if it was queued."""
        for key, queue in self._queues.items():
            for ticket in queue:
                if ticket.job_id == job_id:
                    queue.remove(ticket)
                    if not queue:
                        del self._queues[key]
                    return True
        return False

    def finish(self, job_id: str) -> None:
        self._running.pop(job_id, None)

    def _count(self, *, provider: str | None = None, user: tuple[int, int] | None = None) -> int:
        return sum(
            1
            for t in self._running.values()
            if (provider is None or t.provider == provider) and (user is None or t.user_key == user)
        )

    def _may_start(self, ticket: Ticket) -> bool:
        return (
            self._count(provider=ticket.provider) < self.limits.per_provider
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
                self._running[ticket.job_id] = ticket
                started.append(ticket)
                progress = True
                del self._queues[key]
                if queue:
                    self._queues[key] = queue  # back of the line
        return started

    def positions(self) -> dict[str, int]:
        """1-based place in line of every queued job, following the turn order."""
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
        return order
