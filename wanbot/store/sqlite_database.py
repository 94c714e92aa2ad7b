"""`Database` on one SQLite file: one aiosqlite connection, WAL, one process at a time.

SQLite-only choices, each with its PostgreSQL counterpart for the next engine:
- writers serialise on an asyncio lock plus `BEGIN IMMEDIATE` (the file's write lock taken up
  front); PostgreSQL: a pooled connection per transaction, SERIALIZABLE (or row locks) where a
  read decides a write;
- reads share the one connection under the same lock and need no BEGIN: nothing else writes
  while they run (this process holds the file lock, see `hold_file_lock`);
- `PRAGMA secure_delete` and `wal_checkpoint(TRUNCATE)` make removed text unrecoverable from the
  file; PostgreSQL: VACUUM, an operator's job.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
import sqlite3
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

import aiosqlite

from wanbot.store.database import Attempt, Connection, Database, Row, Transaction
from wanbot.store.protocols import StoreInUse

log = logging.getLogger(__name__)

P = ParamSpec("P")
T = TypeVar("T")


class SQLiteConnection:
    """`Connection` over aiosqlite; sqlite3 already speaks `?` placeholders."""

    dialect = "sqlite"

    def __init__(self, conn: aiosqlite.Connection) -> None:
        self._conn = conn
        # Channels notified by the open transaction, woken after its COMMIT.
        self.pending: set[str] = set()

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        cursor = await self._conn.execute(sql, params)
        try:
            return cursor.rowcount
        finally:
            await cursor.close()

    async def fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        rows: list[Row] = list(await self._conn.execute_fetchall(sql, params))
        return rows

    async def fetchone(self, sql: str, params: Sequence[Any] = ()) -> Row | None:
        rows = await self.fetchall(sql, params)
        return rows[0] if rows else None

    async def fetchval(self, sql: str, params: Sequence[Any] = ()) -> Any:
        row = await self.fetchone(sql, params)
        return None if row is None else row[0]

    async def notify(self, channel: str) -> None:
        # One process per file: the only waiters are in this process.
        self.pending.add(channel)


def lock_path(path: Path) -> Path:
    return path.with_name(path.name + ".lock")


def hold_file_lock(path: Path) -> int:
    """Take the database's process lock; return its descriptor, to keep open while in use.

    An OS lock (flock) on "<db>.lock": the kernel drops it when the process ends however it ends,
    so a crash never leaves a stale lock behind. The pid inside is only for the message.
    """
    fd = os.open(lock_path(path), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip() or "unknown"
        os.close(fd)
        raise StoreInUse(
            f"{path} is in use by another wanbot process (pid {holder}); "
            "one process per SQLite file (use PostgreSQL for several)"
        ) from None
    except BaseException:
        os.close(fd)
        raise
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode("ascii"), 0)
    return fd


class SQLiteDatabase(Database):
    dialect = "sqlite"

    def __init__(self, conn: aiosqlite.Connection, lock_fd: int | None = None) -> None:
        super().__init__()
        self.connection = conn  # public for tests that inject faults below the store
        self._wrapped = SQLiteConnection(conn)
        self._lock_fd = lock_fd
        # One connection serves every coroutine; transactions on it must not interleave.
        self._lock = asyncio.Lock()

    @classmethod
    async def open(cls, path: Path, *, busy_timeout_s: float = 10) -> SQLiteDatabase:
        path.parent.mkdir(parents=True, exist_ok=True)
        lock_fd = hold_file_lock(path)
        try:
            conn = await aiosqlite.connect(path, timeout=busy_timeout_s, isolation_level=None)
        except BaseException:
            os.close(lock_fd)
            raise
        try:
            conn.row_factory = sqlite3.Row
            await conn.execute("PRAGMA journal_mode=WAL")
            await conn.execute("PRAGMA synchronous=NORMAL")
            await conn.execute("PRAGMA foreign_keys=ON")
            await conn.execute("PRAGMA secure_delete=ON")
            await conn.execute(f"PRAGMA busy_timeout={int(busy_timeout_s * 1000)}")
        except BaseException:
            await conn.close()  # its worker thread would otherwise keep the process alive
            os.close(lock_fd)
            raise
        return cls(conn, lock_fd)

    async def _transaction(
        self, attempt: Attempt, kind: Transaction, body: Callable[[Connection], Awaitable[T]]
    ) -> T:
        async with self._lock:
            attempt.begun = True
            self._wrapped.pending.clear()
            if kind is Transaction.READ:
                return await body(self._wrapped)
            try:
                # IMMEDIATE takes the write lock up front, so a read-then-write (a balance check,
                # then a hold) cannot interleave with another writer.
                await self._wrapped.execute("BEGIN IMMEDIATE")
                result = await body(self._wrapped)
                await self._wrapped.execute("COMMIT")
            except BaseException:
                self._wrapped.pending.clear()
                await self._roll_back()
                raise
            for channel in self._wrapped.pending:
                self._notifications.wake(channel)
            return result

    async def _roll_back(self) -> None:
        """Roll back whatever is open, on every exit path, cancellation at any await included.

        aiosqlite runs statements in order on one thread, so this ROLLBACK runs after a BEGIN or
        COMMIT whose await was interrupted: either it ends that transaction or there is none.
        """
        try:
            await self._wrapped.execute("ROLLBACK")
        except sqlite3.OperationalError:
            if self.connection.in_transaction:
                raise
            # "no transaction is active": BEGIN failed (busy) or COMMIT had completed

    async def wait_for(self, channel: str, timeout_s: float) -> bool:
        return await self._notifications.wait(channel, timeout_s)

    async def scrub(self) -> None:
        async with self._lock:
            row = await self._wrapped.fetchone("PRAGMA wal_checkpoint(TRUNCATE)")
        if row is not None and row[0]:
            log.warning("WAL checkpoint incomplete: a reader holds an old snapshot")

    async def close(self) -> None:
        self._closed = True
        try:
            if self._running:
                await asyncio.wait(set(self._running))
        finally:
            try:
                await self.connection.close()
            finally:
                if self._lock_fd is not None:
                    with contextlib.suppress(OSError):
                        os.close(self._lock_fd)  # closing the descriptor drops the flock
                    self._lock_fd = None
