"""PostgreSQL with several processes on one database: each "process" here is a store with a pool
of its own, so their transactions really run side by side on separate server sessions."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

import asyncpg
import pytest

from tests.store.backends import PostgresBackend, PostgresPlace
from tests.store.helpers import NO_CAPS, NO_REFILL, funded, make_job
from wanbot.errors import InsufficientCredits, SpendCapReached
from wanbot.store import JobPhase, SpendCaps
from wanbot.store.database import Connection, migrations
from wanbot.store.postgres import PostgresStore
from wanbot.store.postgres_database import numbered, rows_changed
from wanbot.store.sql import SqlStore

PROCESSES = 4


@pytest.fixture
def backend(postgres_dsn: str) -> PostgresBackend:
    """PostgreSQL only (several processes on one database); replaces the two-engine one."""
    return PostgresBackend(postgres_dsn)


@pytest.fixture
async def pg(backend: PostgresBackend) -> AsyncIterator[PostgresPlace]:
    place = await PostgresPlace.create(backend.database_dsn)
    try:
        yield place
    finally:
        await place.drop()


@pytest.fixture
async def stores(pg: PostgresPlace) -> AsyncIterator[list[SqlStore]]:
    opened = [await pg.open() for _ in range(PROCESSES)]
    try:
        yield opened
    finally:
        for store in opened:
            await store.close()


def test_placeholders_are_numbered_outside_quotes_only() -> None:
    assert numbered("SELECT ? , '?', \"a?\", ?") == "SELECT $1 , '?', \"a?\", $2"
    assert numbered("UPDATE t SET a = ? WHERE b IN (?, ?)") == (
        "UPDATE t SET a = $1 WHERE b IN ($2, $3)"
    )
    assert [rows_changed(s) for s in ("INSERT 0 1", "UPDATE 3", "DELETE 0", "CREATE TABLE")] == [
        1,
        3,
        0,
        0,
    ]


async def test_processes_starting_together_migrate_once(backend: PostgresBackend) -> None:
    fresh = await backend.fresh("migrate")
    try:
        opened = await asyncio.gather(*(fresh.open() for _ in range(PROCESSES)))
        for store in opened:
            await store.close()
        versions = [v for v, _ in migrations("postgresql")]
        applied = await fresh.rows("SELECT version FROM schema_migrations ORDER BY version")
        assert applied == [(v,) for v in versions]
    finally:
        await fresh.drop()


async def test_concurrent_admissions_from_several_processes_never_overspend(
    stores: list[SqlStore], pg: PostgresPlace
) -> None:
    await funded(stores[0], 20)
    attempts = [
        stores[i % PROCESSES].admit_job(
            make_job(f"j{i:02d}", n=1, image_cost=2), NO_REFILL, NO_CAPS, 100
        )
        for i in range(40)
    ]
    results = await asyncio.gather(*attempts, return_exceptions=True)
    admitted = [r for r in results if isinstance(r, int)]
    refused = [r for r in results if isinstance(r, InsufficientCredits)]
    assert (len(admitted), len(refused)) == (10, 30), [r for r in results if not isinstance(r, int)]
    assert sorted(admitted) == list(range(0, 20, 2))
    assert await stores[1].balance(1, 10) == 0
    assert await pg.rows("SELECT COUNT(*), COUNT(DISTINCT seq) FROM jobs") == [(10, 10)]
    assert await pg.rows("SELECT COUNT(*), SUM(held) FROM ledger WHERE kind = 'hold'") == [(10, 20)]


async def test_a_daily_cap_holds_across_processes_and_members(
    stores: list[SqlStore], pg: PostgresPlace
) -> None:
    caps = SpendCaps(day_start=0.0, per_guild=0, total=15)
    members = [(guild, user) for guild in (1, 2) for user in (10, 11, 12)]
    for guild, user in members:
        await funded(stores[0], 100, user_id=user, guild_id=guild)
    attempts = [
        stores[i % PROCESSES].admit_job(
            make_job(f"c{i:02d}", guild_id=guild, user_id=user, n=1, image_cost=2),
            NO_REFILL,
            caps,
            100,
        )
        for i, (guild, user) in enumerate(members * 4)
    ]
    results = await asyncio.gather(*attempts, return_exceptions=True)
    assert sum(isinstance(r, int) for r in results) == 7  # 7 x 2 = 14 <= 15 < 16
    assert all(isinstance(r, int | SpendCapReached) for r in results), results
    assert await pg.rows("SELECT SUM(held) FROM ledger WHERE kind = 'hold'") == [(14,)]


async def test_a_read_then_write_that_interleaves_with_another_is_run_again(
    stores: list[SqlStore],
) -> None:
    """Two writers both read a balance before either writes: SERIALIZABLE lets one commit and
    sends the other back to the start, where it reads the first one's write."""
    await funded(stores[0], 10)
    both_read = asyncio.Barrier(2)
    runs: list[str] = []

    async def spend_all(conn: Connection, name: str) -> int:
        runs.append(name)
        balance = int(
            await conn.fetchval(
                "SELECT COALESCE(SUM(available), 0) FROM ledger WHERE guild_id = 1 AND user_id = 10"
            )
        )
        if len(runs) <= 2:
            await asyncio.wait_for(both_read.wait(), 5)
        if balance > 0:
            await conn.execute(
                "INSERT INTO ledger (guild_id, user_id, kind, available, held, created_at)"
                " VALUES (1, 10, 'revoke', ?, 0, 0)",
                (-balance,),
            )
        return balance

    spent = await asyncio.gather(
        stores[0].database.write(spend_all, "first"),
        stores[1].database.write(spend_all, "second"),
    )
    assert sorted(spent) == [0, 10]  # one took all ten; the rerun saw nothing left
    assert len(runs) == 3
    assert await stores[2].balance(1, 10) == 0


async def test_claims_from_several_processes_never_share_a_job(stores: list[SqlStore]) -> None:
    await funded(stores[0], 100)
    for i in range(30):
        await stores[i % PROCESSES].admit_job(make_job(f"q{i:02d}"), NO_REFILL, NO_CAPS, 100)
    claims = await asyncio.gather(
        *(
            stores[i % PROCESSES].claim_jobs(f"w{i}", [JobPhase.QUEUED], 3, lease_s=60)
            for i in range(12)
        )
    )
    claimed = [job.id for batch in claims for job in batch]
    assert sorted(claimed) == [f"q{i:02d}" for i in range(30)]  # each once, none left out
    owners = {job.id: job.worker_id for batch in claims for job in batch}
    for job_id, worker in owners.items():
        stored = await stores[0].get_job(job_id)
        assert stored is not None and stored.worker_id == worker


async def test_a_claim_skips_a_row_another_session_has_locked(
    stores: list[SqlStore], pg: PostgresPlace
) -> None:
    await funded(stores[0], 10)
    for job_id in ("a", "b", "c"):
        await stores[0].admit_job(make_job(job_id), NO_REFILL, NO_CAPS, 10)
    other = await asyncpg.connect(pg.url)
    try:
        async with other.transaction():
            await other.execute("SELECT * FROM jobs WHERE id = 'a' FOR UPDATE")
            claimed = await asyncio.wait_for(
                stores[1].claim_jobs("w1", [JobPhase.QUEUED], 2, lease_s=60), 5
            )
            assert [j.id for j in claimed] == ["b", "c"]  # did not wait for "a"
        assert [j.id for j in await stores[1].claim_jobs("w2", [JobPhase.QUEUED], 5, 60)] == ["a"]
    finally:
        await other.close()


async def test_one_process_admits_and_every_other_wakes(stores: list[SqlStore]) -> None:
    await funded(stores[0], 10)
    waiters = [asyncio.create_task(s.wait_for_jobs(10)) for s in stores[1:]]
    await asyncio.sleep(0.2)  # every waiter is listening
    await stores[0].admit_job(make_job("new"), NO_REFILL, NO_CAPS, 10)
    assert await asyncio.wait_for(asyncio.gather(*waiters), 5) == [True] * (PROCESSES - 1)


async def test_a_lost_connection_is_replaced_and_nothing_is_half_done(
    stores: list[SqlStore], pg: PostgresPlace
) -> None:
    """The server ends every session of one process mid-work (a restart, a failover): the
    transactions in flight fail whole, and the pool reconnects for the next ones."""
    store = stores[0]
    await funded(store, 50)
    admin = await asyncpg.connect(pg.url)
    try:
        entered = asyncio.Event()

        async def admit_slowly(conn: Connection) -> None:
            await conn.execute(
                "INSERT INTO ledger (guild_id, user_id, kind, available, held, created_at)"
                " VALUES (1, 10, 'grant', 1000, 0, 0)"
            )
            entered.set()
            await conn.execute("SELECT pg_sleep(5)")

        slow = asyncio.create_task(store.database.write(admit_slowly))
        await asyncio.wait_for(entered.wait(), 5)
        await admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE query LIKE 'SELECT pg_sleep%' AND pid <> pg_backend_pid()"
        )
        with pytest.raises((asyncpg.PostgresError, asyncpg.InterfaceError, OSError)):
            await slow
    finally:
        await admin.close()
    assert await store.balance(1, 10) == 50  # the grant of 1000 never landed
    await _eventually(lambda: store.admit_job(make_job("after"), NO_REFILL, NO_CAPS, 10))
    assert await stores[1].balance(1, 10) == 49


async def _eventually(action: Callable[[], Awaitable[object]]) -> None:
    for _ in range(20):
        try:
            await action()
            return
        except (asyncpg.InterfaceError, OSError):
            await asyncio.sleep(0.1)
    await action()


async def test_a_store_can_live_in_a_schema_of_its_own(pg: PostgresPlace) -> None:
    store = await PostgresStore.open(pg.url)
    try:
        assert store.database.schema == pg.schema
        assert "jobs" in await pg.tables()
    finally:
        await store.close()
