"""The seam between the per-family SQL and a database engine.

The SQL in `wanbot.store.sql` is written against `Database` and `Connection` only, with `?`
placeholders, so a second engine is one module: a `Database` subclass and a `Connection` (turning
`?` into its own placeholders), plus, where its DDL differs, a rule in `for_dialect`.

A transaction is a coroutine function handed to `Database.write` or `Database.read`, not an
`async with` block: the engine runs it as a task of its own that the caller's cancellation cannot
interrupt (see `finish_detached`). A caller that is cancelled stops waiting; its transaction still
commits or rolls back, so no transaction ever survives a cancelled caller on a shared connection.
"""

from __future__ import annotations

import abc
import asyncio
import enum
import logging
import re
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass
from importlib import resources
from importlib.resources.abc import Traversable
from typing import Any, Concatenate, ParamSpec, Protocol, TypeVar

log = logging.getLogger(__name__)

P = ParamSpec("P")
T = TypeVar("T")


class Row(Protocol):
    """One result row, read by position or by column name (sqlite3.Row, asyncpg.Record)."""

    def __getitem__(self, key: int | str, /) -> Any: ...


class Connection(Protocol):
    """What a transaction body may do. Placeholders are `?`, values are passed separately."""

    dialect: str  # the engine's, for the rare statement that must differ (locking clauses)

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Run one statement; return how many rows it changed."""
        ...

    async def fetchone(self, sql: str, params: Sequence[Any] = ()) -> Row | None: ...

    async def fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[Row]: ...

    async def fetchval(self, sql: str, params: Sequence[Any] = ()) -> Any:
        """The first column of the first row, None without a row."""
        ...

    async def notify(self, channel: str) -> None:
        """Wake whoever waits on `channel` (`Database.wait_for`), in every process, once this
        transaction commits; never if it rolls back."""
        ...


class Transaction(enum.Enum):
    """What a transaction body does, which decides how an engine runs it."""

    WRITE = enum.auto()  # reads then writes: serialised against every other writer
    ROW_LOCKED = enum.auto()  # writes, guarding itself row by row
    READ = enum.auto()  # reads one consistent state, writes nothing


class Database(abc.ABC):
    """An engine: runs transaction bodies as tasks of their own (see the module's docstring).

    An engine implements `_transaction` (one body, run as `kind` says) and the engine-specific
    waits and cleanup; the ways in, and the bookkeeping of running transactions, are shared.
    """

    dialect: str  # "sqlite", "postgresql": how migrations are rewritten (`for_dialect`)

    def __init__(self) -> None:
        self._running: set[asyncio.Task[Any]] = set()
        self._closed = False
        self._notifications = Notifications()

    async def write(
        self,
        body: Callable[Concatenate[Connection, P], Awaitable[T]],
        /,
        *args: P.args,
        **kwargs: P.kwargs,
    ) -> T:
        """Run `body` in one read-write transaction, serialised against every other writer (a
        read-then-write such as a balance check and a hold cannot interleave with another).
        Commit when it returns, roll back when it raises; a cancelled caller changes neither."""
        return await self._detached(Transaction.WRITE, body, *args, **kwargs)

    async def write_row_locked(
        self,
        body: Callable[Concatenate[Connection, P], Awaitable[T]],
        /,
        *args: P.args,
        **kwargs: P.kwargs,
    ) -> T:
        """Run `body` in one read-write transaction that guards itself row by row: conditional
        UPDATEs and `SELECT ... FOR UPDATE SKIP LOCKED` (claiming queued work). Not serialised
        against other writers: each statement sees what is committed when it runs. On SQLite,
        where every writer is serialised anyway, the same as `write`."""
        return await self._detached(Transaction.ROW_LOCKED, body, *args, **kwargs)

    async def read(
        self,
        body: Callable[Concatenate[Connection, P], Awaitable[T]],
        /,
        *args: P.args,
        **kwargs: P.kwargs,
    ) -> T:
        """Run `body` against one consistent state of the database; it must not write."""
        return await self._detached(Transaction.READ, body, *args, **kwargs)

    @abc.abstractmethod
    async def wait_for(self, channel: str, timeout_s: float) -> bool:
        """Wait until a committed transaction notifies `channel`; False after `timeout_s`."""

    async def drain(self) -> None:
        """Wait until every transaction begun so far has ended (callers cancelled included)."""
        while self._running:
            await asyncio.wait(set(self._running))

    @abc.abstractmethod
    async def scrub(self) -> None:
        """Leave no copy of deleted or overwritten data in the engine's files (after a forget)."""

    @abc.abstractmethod
    async def close(self) -> None: ...

    async def _detached(
        self,
        kind: Transaction,
        body: Callable[Concatenate[Connection, P], Awaitable[T]],
        /,
        *args: P.args,
        **kwargs: P.kwargs,
    ) -> T:
        if self._closed:
            raise RuntimeError("the store is closed")
        attempt = Attempt()
        transaction = self._transaction(attempt, kind, lambda conn: body(conn, *args, **kwargs))
        return await run_detached(self._running, attempt, transaction)

    @abc.abstractmethod
    def _transaction(
        self, attempt: Attempt, kind: Transaction, body: Callable[[Connection], Awaitable[T]]
    ) -> Coroutine[Any, Any, T]:
        """Run `body` once as `kind` says, setting `attempt.begun` once it holds the database."""


@dataclass
class Attempt:
    """Whether a detached transaction has started touching the database."""

    begun: bool = False


async def run_detached(
    running: set[asyncio.Task[Any]], attempt: Attempt, transaction: Coroutine[Any, Any, T]
) -> T:
    """Run `transaction` as a task of its own, kept in `running` until done (a close waits for
    it), and wait for it as `finish_detached` does."""
    task = asyncio.create_task(transaction)
    running.add(task)
    task.add_done_callback(running.discard)
    return await finish_detached(task, attempt)


async def finish_detached(task: asyncio.Task[T], attempt: Attempt) -> T:
    """Wait for a transaction task; if the caller is cancelled, let it finish on its own.

    Cancelled before the transaction began (still waiting for the connection or the lock), the
    task is cancelled too: nothing was written, nothing needs finishing. Once begun, it runs to
    its commit or rollback and only the caller stops waiting.
    """
    try:
        return await asyncio.shield(task)
    except asyncio.CancelledError:
        if not task.done():
            if attempt.begun:
                task.add_done_callback(_report_orphan)
            else:
                task.cancel()
        raise


class Notifications:
    """In-process waiters per channel, woken all at once; what a notification wakes."""

    def __init__(self) -> None:
        self._waiters: dict[str, set[asyncio.Future[None]]] = {}
        # Woken while nobody waited: the next wait returns at once, so a notification that
        # lands between a caller's last look and its wait is not lost (a spare wake is harmless).
        self._missed: set[str] = set()

    def wake(self, channel: str) -> None:
        waiters = [w for w in self._waiters.pop(channel, set()) if not w.done()]
        if not waiters:
            self._missed.add(channel)
        for waiter in waiters:
            waiter.set_result(None)

    async def wait(self, channel: str, timeout_s: float) -> bool:
        if channel in self._missed:
            self._missed.discard(channel)
            return True
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.setdefault(channel, set()).add(waiter)
        try:
            await asyncio.wait_for(waiter, timeout_s)
        except TimeoutError:
            return False
        finally:
            waiting = self._waiters.get(channel)
            if waiting is not None:
                waiting.discard(waiter)
                if not waiting:
                    del self._waiters[channel]
        return True


def _report_orphan(task: asyncio.Task[Any]) -> None:
    if task.cancelled():
        return
    error = task.exception()
    if error is not None:
        log.info("a transaction whose caller was cancelled ended with %s", type(error).__name__)


def migrations(dialect: str = "sqlite", folder: Traversable | None = None) -> list[tuple[int, str]]:
    """(version, sql) for every numbered migration, in order.

    `NNNN_name.sql` is portable SQL, rewritten for `dialect` by `for_dialect`;
    `NNNN_name.<dialect>.sql`, where present, replaces it for that dialect as it stands.
    """
    portable: dict[int, str] = {}
    specific: dict[int, str] = {}
    if folder is None:
        folder = resources.files("wanbot.store").joinpath("migrations")
    for entry in folder.iterdir():
        name = entry.name
        if not (name.endswith(".sql") and name[:4].isdigit()):
            continue
        parts = name.removesuffix(".sql").split(".")
        if len(parts) == 1:
            found = portable
        elif len(parts) == 2 and parts[1] == dialect:
            found = specific
        else:
            continue
        version = int(name[:4])
        if version in found:
            # Two branches took one number: applying either silently would skip the other.
            raise ValueError(f"two migrations numbered {version:04d} ({name})")
        found[version] = entry.read_text(encoding="utf-8")
    rewritten = {version: for_dialect(sql, dialect) for version, sql in portable.items()}
    return sorted((rewritten | specific).items())


# SQLite numbers an `INTEGER PRIMARY KEY` column by itself (it is the rowid); PostgreSQL is told.
_ROW_ID = re.compile(r"\bINTEGER PRIMARY KEY\b")
_IDENTITY = "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY"


def for_dialect(sql: str, dialect: str) -> str:
    """Portable migration SQL as `dialect` runs it.

    The differences are few and written here, not in a second copy of each file: on PostgreSQL an
    `INTEGER PRIMARY KEY` id is an identity column, and a line `-- <dialect>: <statement>` in a
    portable file is a statement only that dialect runs (a comment to every other engine).
    """
    sql = re.sub(rf"^-- {re.escape(dialect)}: ", "", sql, flags=re.MULTILINE)
    if dialect == "postgresql":
        sql = _ROW_ID.sub(_IDENTITY, sql)
    return sql


def statements(sql: str) -> list[str]:
    """Split a migration file into statements (no semicolons inside our SQL literals)."""
    lines = [line for line in sql.splitlines() if not line.strip().startswith("--")]
    return [s.strip() for s in "\n".join(lines).split(";") if s.strip()]


async def migrate(db: Database, clock: Callable[[], float]) -> None:
    """Apply every numbered migration not applied yet, each in its own transaction."""
    await db.write(_ensure_migrations_table)
    done = set(await db.read(_applied_versions))
    for version, sql in migrations(db.dialect):
        if version not in done:
            await db.write(_apply, version, sql, clock())
            log.info("applied migration %04d", version)


async def _ensure_migrations_table(conn: Connection) -> None:
    await conn.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations "
        "(version INTEGER PRIMARY KEY, applied_at DOUBLE PRECISION NOT NULL)"
    )


async def _applied_versions(conn: Connection) -> list[int]:
    return [int(r[0]) for r in await conn.fetchall("SELECT version FROM schema_migrations")]


async def _apply(conn: Connection, version: int, sql: str, now: float) -> None:
    for statement in statements(sql):
        await conn.execute(statement)
    await conn.execute(
        "INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)", (version, now)
    )
