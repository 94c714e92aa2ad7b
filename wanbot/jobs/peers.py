"""What the jobs running in this process know of each other, per host and size: how long those
that finished here lately took, which are still running, and news for the running when one ends.

Jobs of one host and size submitted at about the same time tend to end at about the same time:
when one ends, its peers still running replan their next look at once (`StatusWatch`), and the
durations learned here count for jobs already running, not only for the next ones (the store's
`recent_durations` is read once, when a job is submitted).
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

# As many recent durations as the store gives a new job (`recent_durations`).
KEEP = 20

Key = tuple[str, str]  # (host, size)


@dataclass
class _Peers:
    running: dict[str, float] = field(default_factory=dict)  # job id -> submitted at
    finished: deque[tuple[float, float]] = field(default_factory=lambda: deque(maxlen=KEEP))
    news: asyncio.Event = field(default_factory=asyncio.Event)


class PeerBook:
    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._peers: dict[Key, _Peers] = {}

    def _of(self, key: Key) -> _Peers:
        peers = self._peers.get(key)
        if peers is None:
            peers = self._peers[key] = _Peers()
        return peers

    def join(self, key: Key, job_id: str, submitted_at: float) -> None:
        self._of(key).running[job_id] = submitted_at

    def leave(self, key: Key, job_id: str) -> None:
        peers = self._peers.get(key)
        if peers is None:
            return
        peers.running.pop(job_id, None)
        if not peers.running and not peers.finished:
            del self._peers[key]

    def finished(self, key: Key, job_id: str, duration_s: float) -> None:
        """A job ended with its result after `duration_s`: its peers hear of it at once."""
        peers = self._of(key)
        peers.running.pop(job_id, None)
        peers.finished.appendleft((self._clock(), duration_s))
        news, peers.news = peers.news, asyncio.Event()
        news.set()

    def since(self, key: Key, at: float) -> list[float]:
        """Durations of the jobs that finished here after `at`, newest first."""
        peers = self._peers.get(key)
        if peers is None:
            return []
        return [duration for ended, duration in peers.finished if ended > at]

    def at_risk(self, key: Key, job_id: str, elapsed_s: float) -> int:
        """Peers of `job_id` still running that have run at least `elapsed_s`."""
        peers = self._peers.get(key)
        if peers is None:
            return 0
        now = self._clock()
        return sum(
            1
            for other, submitted_at in peers.running.items()
            if other != job_id and now - submitted_at >= elapsed_s
        )

    def news(self, key: Key) -> asyncio.Event:
        """Set when the next job of `key` finishes (take it before waiting)."""
        return self._of(key).news

    def figures(self) -> dict[str, int]:
        return {
            "keys": len(self._peers),
            "running": sum(len(p.running) for p in self._peers.values()),
        }
