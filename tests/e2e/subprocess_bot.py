"""The real `python bot.py --config PATH` in a subprocess, against the fake Discord and fake hosts.

FakeDiscord serves from its own thread; the fake image hosts serve from the test's event loop, so
every wait here is an `asyncio.sleep` polling loop: the test loop must keep running while the bot
process talks to them. The SQLite file is read with short-lived plain sqlite3 connections (WAL
lets them read beside the bot's writer).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import IO, Any

from tests.e2e.harness import clean_environ
from tests.e2e.harness import write_config as harness_config
from tests.fakes.discord_server import FakeDiscord
from wanbot.providers.models import GenerationRequest
from wanbot.store.base import token_digest
from wanbot.store.sqlite import SQLiteStore

ROOT = Path(__file__).resolve().parents[2]
Row = dict[str, Any]


def write_config(
    tmp_path: Path, fake: FakeDiscord, pixeldojo_url: str, generation: str = ""
) -> Path:
    """The harness's config, with PixelDojo as the provider and logs at INFO."""
    return harness_config(
        tmp_path,
        fake,
        f'[providers.pixeldojo]\nbase_url = "{pixeldojo_url}"\n\n[logging]\nlevel = "INFO"\n',
        generation=f'provider = "pixeldojo"\n{generation}',
    )


def db_path(tmp_path: Path) -> Path:
    return tmp_path / "wanbot.db"


# -- reading and seeding the bot's SQLite file ------------------------------------------------


@contextlib.contextmanager
def _connect(path: Path) -> Iterator[sqlite3.Connection]:
    conn = sqlite3.connect(path, timeout=10)
    try:
        conn.row_factory = sqlite3.Row
        yield conn
    finally:
        conn.close()


def query(path: Path, sql: str, params: tuple[Any, ...] = ()) -> list[Row]:
    with _connect(path) as conn:
        return [dict(r) for r in conn.execute(sql, params).fetchall()]


def job_by_token(path: Path, token: str) -> Row | None:
    rows = query(
        path, "SELECT * FROM jobs WHERE interaction_token IN (?, ?)", (token, token_digest(token))
    )
    return rows[0] if rows else None


def job(path: Path, job_id: str) -> Row:
    return query(path, "SELECT * FROM jobs WHERE id = ?", (job_id,))[0]


def ledger(path: Path, guild_id: int, user_id: int) -> list[Row]:
    return query(
        path,
        "SELECT * FROM ledger WHERE guild_id = ? AND user_id = ? ORDER BY id",
        (guild_id, user_id),
    )


def balance(path: Path, guild_id: int, user_id: int) -> int:
    return sum(int(r["available"]) for r in ledger(path, guild_id, user_id))


async def seed_history(
    path: Path, *, provider: str, size: str, seconds: float, count: int = 3
) -> None:
    """Create the schema and record `count` finished jobs that took `seconds` each.

    The bot polls a running job at intervals derived from how long recent jobs of that provider
    and size took (a first guess of ~40 s otherwise, which would make these tests slow).
    The rows belong to a guild and user no test uses, and have no ledger entries.
    """
    store = await SQLiteStore.open(path)
    await store.close()
    request = GenerationRequest(prompt="history", size=size).model_dump_json()
    now = time.time() - 3600
    with _connect(path) as conn:
        for i in range(count):
            start = now + i * 60
            conn.execute(
                "INSERT INTO jobs (id, seq, kind, state, guild_id, channel_id, user_id,"
                " application_id, interaction_token, token_expires_at, request_json, provider,"
                " provider_job_id, image_cost, images_requested, size, images_delivered,"
                " created_at, updated_at, submitted_at, finished_at, deadline_at, upload_limit)"
                " VALUES (?, ?, 'imagine', 'done', 1, 1, 1, 1, 'x', ?, ?, ?, ?, 2, 1, ?, 1,"
                " ?, ?, ?, ?, ?, 10485760)",
                (
                    f"history{i}",
                    -1 - i,  # below every real job's seq (admission takes MAX(seq) + 1)
                    start,
                    request,
                    provider,
                    f"old{i}",
                    size,
                    start,
                    start + seconds,
                    start,
                    start + seconds,
                    start + 600,
                ),
            )
        conn.commit()


# -- the bot process ---------------------------------------------------------------------------


class BotProcess:
    """One `bot.py` process at a time; `start` again after it ended runs the same config anew."""

    def __init__(
        self,
        config: Path | None,
        env: Mapping[str, str],
        log_path: Path,
        *,
        cwd: Path = ROOT,
    ) -> None:
        """`config=None` runs `python bot.py` with no option, in `cwd`, as the quick start does."""
        self.config = config
        self.cwd = cwd
        self.env = {**clean_environ(), **env}
        self.env.pop("WANBOT_CONFIG", None)
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None
        self.runs = 0

    def start(self) -> None:
        assert self.proc is None or self.proc.poll() is not None, "bot is already running"
        self._close_log()
        self.runs += 1
        self._log = self.log_path.open("ab")
        self._log.write(f"==== run {self.runs} ====\n".encode())
        self._log.flush()
        options = [] if self.config is None else ["--config", str(self.config)]
        self.proc = subprocess.Popen(
            [sys.executable, "bot.py", *options],
            cwd=self.cwd,
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def current_log(self) -> str:
        """The log of the latest run only."""
        return self.log_text().rsplit(f"==== run {self.runs} ====\n", 1)[-1]

    def tail(self, lines: int = 60) -> str:
        return "\n".join(line[:300] for line in self.log_text().splitlines()[-lines:])

    async def wait_until(
        self, predicate: Callable[[], bool], what: str, within_s: float = 15.0
    ) -> None:
        deadline = time.monotonic() + within_s
        while not predicate():
            if self.proc is not None and self.proc.poll() is not None:
                raise AssertionError(
                    f"bot exited ({self.proc.returncode}) before {what}\n{self.tail()}"
                )
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what}\n{self.tail()}")
            await asyncio.sleep(0.05)

    async def start_connected(self, fake: FakeDiscord, within_s: float = 20.0) -> None:
        """Start and wait until the bot has identified and its commands are registered."""
        before = fake.identify_count
        self.start()
        await self.wait_until(
            lambda: (
                fake.identify_count > before
                and any(c["name"] == "imagine" for c in fake.registered_commands.get(None, []))
            ),
            "the bot to connect to the fake Discord",
            within_s,
        )
        # READY is followed at once by GUILD_CREATE; give the client a moment to handle both.
        await self.wait_until(
            lambda: "has connected to Gateway" in self.current_log(),
            "the gateway session to be ready",
            within_s,
        )

    def signal(self, signum: int) -> None:
        assert self.proc is not None
        self.proc.send_signal(signum)

    async def wait_exit(self, within_s: float = 10.0) -> int:
        assert self.proc is not None
        deadline = time.monotonic() + within_s
        while (code := self.proc.poll()) is None:
            if time.monotonic() > deadline:
                raise AssertionError(f"bot did not exit within {within_s}s\n{self.tail()}")
            await asyncio.sleep(0.02)
        self._close_log()
        return code

    async def kill(self) -> int:
        """SIGKILL: nothing in the bot runs after this, as after a power cut or OOM kill."""
        self.signal(signal.SIGKILL)
        return await self.wait_exit()

    async def terminate(self, within_s: float = 10.0) -> int:
        self.signal(signal.SIGTERM)
        return await self.wait_exit(within_s)

    def close(self) -> None:
        """Kill the process if it still runs (for teardown after a failure)."""
        if self.proc is not None and self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)
        self._close_log()

    def _close_log(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None
