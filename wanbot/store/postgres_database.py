"""`Database` on PostgreSQL: an asyncpg pool shared by any number of bot processes.

Why asyncpg rather than psycopg 3: it is asyncio-native from the wire protocol up (no thread or
blocking libpq call behind an await), brings its own pool, caches prepared statements per
connection, delivers LISTEN/NOTIFY to a plain callback, and is the faster of the two; psycopg 3's
strengths (sync and async in one API, COPY helpers, server-side binding choices) are ones this
bot does not need.

How the `Database` contract maps onto PostgreSQL:
- a write is one SERIALIZABLE transaction on a pooled connection, retried from the start when
  PostgreSQL reports a serialisation failure (40001) or a deadlock (40P01): every body behaves as
  if writers ran one at a time, so a balance check and its hold, or a daily cap and the hold that
  reaches it, cannot interleave with another process's, with no lock named in the SQL;
- `write_row_locked` runs READ COMMITTED, for bodies that guard themselves row by row (claiming
  queued jobs with `FOR UPDATE SKIP LOCKED`): serialising them would only turn skipped rows into
  retries;
- a read is REPEATABLE READ READ ONLY: one snapshot, never a serialisation failure;
- a cancelled transaction task terminates its connection (the server rolls back whatever was
  open), so a connection inside a transaction never goes back to the pool;
- `?` placeholders become `$1, $2, ...`; migrations take `pg_advisory_xact_lock` so processes
  starting together migrate once.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import itertools
import logging
import random
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Concatenate, ParamSpec, TypeAlias, TypeVar

import asyncpg
from asyncpg import exceptions as pg_errors
from asyncpg.pool import PoolConnectionProxy

from wanbot.store.database import Attempt, Connection, Database, Row, Transaction

log = logging.getLogger(__name__)

P = ParamSpec("P")
T = TypeVar("T")

SERIALIZABLE = "BEGIN ISOLATION LEVEL SERIALIZABLE"
READ_COMMITTED = "BEGIN ISOLATION LEVEL READ COMMITTED"
SNAPSHOT_READ = "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"
BEGIN = {
    Transaction.WRITE: SERIALIZABLE,
    Transaction.ROW_LOCKED: READ_COMMITTED,
    Transaction.READ: SNAPSHOT_READ,
}

# Worth running the whole body again: another transaction won a conflict, or a migration in
# another process changed a table under this connection's cached statements.
RETRYABLE = (
    pg_errors.SerializationError,
    pg_errors.DeadlockDetectedError,
    pg_errors.InvalidCachedStatementError,
)

# pg_advisory_xact_lock key for migrations: "wanbot" in ASCII.
MIGRATION_LOCK = 0x77616E626F74

RawConnection: TypeAlias = (
    "PoolConnectionProxy[asyncpg.Record] | asyncpg.Connection[asyncpg.Record]"
)


@functools.lru_cache(maxsize=1024)
def numbered(sql: str) -> str:
    """`?` placeholders as `$1, $2, ...`, leaving quoted literals and identifiers alone."""
    out: list[str] = []
    count = 0
    quote: str | None = None
    for char in sql:
        if quote is not None:
            if char == quote:
                quote = None
        elif char in ("'", '"'):
            quote = char
        elif char == "?":
            count += 1
            out.append(f"${count}")
            continue
        out.append(char)
    return "".join(out)


def rows_changed(status: str) -> int:
    """How many rows a command changed, from its tag: `INSERT 0 1`, `UPDATE 3`, `DELETE 0`."""
    last = status.rsplit(" ", 1)[-1]
    return int(last) if last.isdigit() else 0


def retry_pause(attempt: int) -> float:
    """Full jitter, doubling from 2 ms to at most 100 ms: conflicting writers spread out."""
    return random.uniform(0, min(0.1, 0.002 * 2 ** min(attempt, 10)))


class PostgresConnection:
    """`Connection` over one asyncpg connection inside an open transaction."""

    dialect = "postgresql"

    def __init__(self, db: PostgresDatabase, raw: RawConnection) -> None:
        self._db = db
        self._raw = raw

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        status = await self._db.call(self._raw.execute, numbered(sql), *params)
        return rows_changed(status)

    async def fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        rows: list[Row] = list(await self._db.call(self._raw.fetch, numbered(sql), *params))
        return rows

    async def fetchone(self, sql: str, params: Sequence[Any] = ()) -> Row | None:
        row: Row | None = await self._db.call(self._raw.fetchrow, numbered(sql), *params)
        return row

    async def fetchval(self, sql: str, params: Sequence[Any] = ()) -> Any:
        return await self._db.call(self._raw.fetchval, numbered(sql), *params)

    async def notify(self, channel: str) -> None:
        # NOTIFY inside the transaction: PostgreSQL delivers it at COMMIT, drops it on rollback.
        await self.execute("SELECT pg_notify(?, '')", (self._db.channel(channel),))


class PostgresDatabase(Database):
    dialect = "postgresql"

    def __init__(
        self, pool: asyncpg.Pool[asyncpg.Record], dsn: str, schema: str, max_attempts: int = 50
    ) -> None:
        super().__init__()
        self.pool = pool
        self.schema = schema  # the first schema on the search path: where the tables live
        self.max_attempts = max_attempts
        self._dsn = dsn
        self._listener: asyncpg.Connection[asyncpg.Record] | None = None
        self._listening: set[str] = set()
        self._listener_lock = asyncio.Lock()

    @classmethod
    async def open(cls, dsn: str, *, min_size: int = 1, max_size: int = 10) -> PostgresDatabase:
        pool = await asyncpg.create_pool(dsn, min_size=min_size, max_size=max_size)
        try:
            schema = await pool.fetchval("SELECT current_schema()")
            if schema is None:
                raise RuntimeError("no schema on the search_path exists in this database")
        except BaseException:
            await pool.close()
            raise
        return cls(pool, dsn, str(schema))

    def channel(self, name: str) -> str:
        """The NOTIFY channel for `name`: per schema, so two deployments in one database (or two
        tests) do not wake each other."""
        return f"wanbot.{self.schema}.{name}"[:63]

    async def call(self, fn: Callable[P, Awaitable[T]], /, *args: P.args, **kwargs: P.kwargs) -> T:
        """Every await on a transaction's connection passes here (tests inject faults)."""
        return await fn(*args, **kwargs)

    async def migrate(
        self,
        body: Callable[Concatenate[Connection, P], Awaitable[T]],
        /,
        *args: P.args,
        **kwargs: P.kwargs,
    ) -> T:
        """Run `body` READ COMMITTED after taking the migration lock: a process that waited
        for another's migrations sees them applied (each statement reads what is committed)."""
        return await self._detached(Transaction.ROW_LOCKED, _locked, body, *args, **kwargs)

    async def _transaction(
        self, attempt: Attempt, kind: Transaction, body: Callable[[Connection], Awaitable[T]]
    ) -> T:
        async with self.pool.acquire() as raw:
            attempt.begun = True
            conn = PostgresConnection(self, raw)
            for tries in itertools.count(1):
                try:
                    await self.call(raw.execute, BEGIN[kind])
                    result = await body(conn)
                    await self.call(raw.execute, "COMMIT")
                    return result
                except asyncio.CancelledError:
                    # A statement may still be running; closing the connection is the one way
                    # to be sure it goes back to the pool outside any transaction.
                    raw.terminate()
                    raise
                except RETRYABLE as conflict:
                    await self._roll_back(raw)
                    if tries >= self.max_attempts:
                        raise
                    log.debug("transaction retried (%s)", type(conflict).__name__)
                except BaseException:
                    await self._roll_back(raw)
                    raise
                await asyncio.sleep(retry_pause(tries))
        raise AssertionError("unreachable")

    @staticmethod
    async def _roll_back(raw: RawConnection) -> None:
        try:
            if raw.is_in_transaction():
                await raw.execute("ROLLBACK")
        except BaseException:
            raw.terminate()
            raise

    async def wait_for(self, channel: str, timeout_s: float) -> bool:
        if self._closed:
            raise RuntimeError("the store is closed")
        try:
            await self._listen(channel)
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as e:
            # Without a listener the caller still polls: sleeping out the timeout is enough.
            log.warning("cannot LISTEN for %s (%s); polling", channel, type(e).__name__)
            await asyncio.sleep(timeout_s)
            return False
        return await self._notifications.wait(channel, timeout_s)

    async def _listen(self, channel: str) -> None:
        async with self._listener_lock:
            if self._listener is not None and self._listener.is_closed():
                self._listener, self._listening = None, set()
            if self._listener is None:
                self._listener = await asyncpg.connect(self._dsn)
            if channel not in self._listening:
                await self._listener.add_listener(self.channel(channel), self._notified)
                self._listening.add(channel)

    def _notified(self, conn: object, pid: int, channel: str, payload: object) -> None:
        for name in self._listening:
            if self.channel(name) == channel:
                self._notifications.wake(name)

    async def scrub(self) -> None:
        """Nothing the bot can do: PostgreSQL keeps dead row versions until VACUUM reuses their
        space, and its WAL until archived. Erasing removed text from the server's files is the
        operator's VACUUM FULL and WAL retention (see the README's Storage notes)."""

    async def close(self) -> None:
        self._closed = True
        try:
            await self.drain()
        finally:
            try:
                if self._listener is not None:
                    with contextlib.suppress(OSError, asyncpg.InterfaceError):
                        await self._listener.close(timeout=5)
            finally:
                await self.pool.close()


async def _locked(
    conn: Connection,
    body: Callable[Concatenate[Connection, P], Awaitable[T]],
    /,
    *args: P.args,
    **kwargs: P.kwargs,
) -> T:
    await conn.execute("SELECT pg_advisory_xact_lock(?)", (MIGRATION_LOCK,))
    return await body(conn, *args, **kwargs)
