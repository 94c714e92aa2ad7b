"""Helpers for the fault table (test_faults.py): ledger checks, a held database lock, a dead port.

The bot's SQLite file is read with short-lived plain sqlite3 connections (WAL lets them read beside
the bot's writer), the same way tests/e2e/subprocess_bot.py reads it.
"""

from __future__ import annotations

import asyncio
import socket
import sqlite3
import threading
import time
from pathlib import Path

from tests.e2e.subprocess_bot import ledger
from tests.fakes.discord_server import FakeDiscord
from tests.fakes.pixeldojo_server import FakePixelDojo

IMAGE_COST = 2
ALLOWANCE = 50
PIXELDOJO_ENV = {"PIXELDOJO_API_KEY": FakePixelDojo.api_key}


def job_ledger(db: Path, fake: FakeDiscord, user: str, job_id: str) -> dict[str, tuple[int, int]]:
    """The job's ledger rows as {kind: (available, held)}; each kind must appear exactly once."""
    rows = [r for r in ledger(db, fake.guild_id, fake.users[user].id) if r["job_id"] == job_id]
    kinds = [str(r["kind"]) for r in rows]
    assert len(kinds) == len(set(kinds)), f"a ledger kind repeats for job {job_id}: {rows}"
    return {str(r["kind"]): (int(r["available"]), int(r["held"])) for r in rows}


def assert_charged(db: Path, fake: FakeDiscord, user: str, job_id: str, images: int) -> None:
    """Delivered: one hold, one capture of exactly what was delivered, one release of the rest."""
    cost = images * IMAGE_COST
    assert job_ledger(db, fake, user, job_id) == {
        "hold": (-cost, cost),
        "capture": (0, -cost),
        "release": (0, 0),
    }


def assert_refunded(db: Path, fake: FakeDiscord, user: str, job_id: str, images: int) -> None:
    """Failed or cancelled: one hold and one release that gives every held credit back."""
    cost = images * IMAGE_COST
    assert job_ledger(db, fake, user, job_id) == {"hold": (-cost, cost), "release": (cost, -cost)}


def uploads_of(fake: FakeDiscord, job_id: str, *, accepted: bool = True) -> list[str]:
    """Requests that carried this job's images (edit, followup or channel post), by path.

    Only those Discord accepted (2xx) unless `accepted=False`: a request answered 5xx or 429
    created nothing, and its retry carries the same files again.
    """
    return [
        r.path
        for r in fake.requests
        if any(job_id[:8] in name for name, _ in r.files) and (r.status < 300 or not accepted)
    ]


def closed_port_url(path: str = "/api/v1") -> str:
    """A loopback URL nothing listens on (the port was bound, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}{path}"


class DatabaseLock:
    """Another process's writer: holds `BEGIN EXCLUSIVE` on the SQLite file from its own thread.

    `await lock.hold(seconds)` takes the lock, keeps it for `seconds`, then commits; `taken` is set
    once the lock is held, so a test can act while it is.
    """

    def __init__(self, db: Path) -> None:
        self.db = db
        self.taken = threading.Event()
        self.held_s = 0.0

    def _hold(self, seconds: float) -> None:
        conn = sqlite3.connect(self.db, timeout=10, isolation_level=None)
        try:
            conn.execute("BEGIN EXCLUSIVE")
            started = time.monotonic()
            self.taken.set()
            time.sleep(seconds)
            conn.execute("COMMIT")
            self.held_s = time.monotonic() - started
        finally:
            conn.close()

    async def hold(self, seconds: float) -> None:
        await asyncio.to_thread(self._hold, seconds)

    async def wait_taken(self, within_s: float = 5.0) -> None:
        deadline = time.monotonic() + within_s
        while not self.taken.is_set():
            assert time.monotonic() < deadline, "the database lock was never taken"
            await asyncio.sleep(0.01)
