"""Leases on unfinished jobs, and the queue as every process sees it (from the database).

A process claims jobs (its worker id and a lease expiry on each row), renews the leases while it
works and gives them up when it stops; a job whose lease ran out is claimable again, so another
process takes it over. Claims lock rows: on PostgreSQL `FOR UPDATE SKIP LOCKED` lets processes
claim side by side without waiting on each other or taking the same job; SQLite has one process.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from wanbot.store.database import Connection
from wanbot.store.models import ACTIVE_PHASES, IN_FLIGHT_PHASES, InFlight, Job, JobPhase
from wanbot.store.sql.common import JOB_ROWS, JOBS_CHANNEL, Clock, SqlFamily, job_from_row, marks

ACTIVE = [str(p) for p in ACTIVE_PHASES]


class LeaseSql(SqlFamily):
    def lease_new_jobs_to(self, worker_id: str | None, lease_s: float = 0.0) -> None:
        self.admission_lease = None if worker_id is None else (worker_id, lease_s)

    async def claim_jobs(
        self, worker_id: str, phases: Sequence[JobPhase], limit: int, lease_s: float
    ) -> list[Job]:
        if limit <= 0:
            return []
        wanted = [str(p) for p in phases if not p.terminal]
        return await self.database.write_row_locked(
            _claim, worker_id, wanted, limit, lease_s, self._clock
        )

    async def renew_leases(
        self, worker_id: str, job_ids: Sequence[str], lease_s: float
    ) -> set[str]:
        if not job_ids:
            return set()
        return await self.database.write_row_locked(
            _renew, worker_id, list(job_ids), lease_s, self._clock
        )

    async def release_leases(self, worker_id: str, job_ids: Sequence[str] | None = None) -> int:
        chosen = None if job_ids is None else list(job_ids)
        if chosen == []:
            return 0
        return await self.database.write_row_locked(_release, worker_id, chosen)

    async def expired_leases(self) -> list[Job]:
        return await self.database.read(_expired, self._clock)

    async def wait_for_jobs(self, timeout_s: float) -> bool:
        return await self.database.wait_for(JOBS_CHANNEL, timeout_s)

    async def queue_positions(self) -> dict[str, int]:
        return fair_order(await self.database.read(_queued))

    async def queued_ahead(self, job_id: str) -> int | None:
        place = (await self.queue_positions()).get(job_id)
        return None if place is None else place - 1

    async def in_flight(self) -> InFlight:
        return await self.database.read(_in_flight)


@dataclass(frozen=True)
class Waiting:
    """A queued job, and when its member last had a job leave the queue (None: never)."""

    job_id: str
    member: tuple[int, int]
    created_at: float
    member_served_at: float | None


def fair_order(queued: Sequence[Waiting]) -> dict[str, int]:
    """1-based places of queued jobs given in admission order, as the scheduler serves them:
    members take turns, one job per turn; a member joins the back of the line when their first
    job is queued and again each time one of their jobs leaves the queue, so the member served
    longest ago (or waiting longest) goes first."""
    lines: dict[tuple[int, int], list[Waiting]] = {}
    for job in queued:
        lines.setdefault(job.member, []).append(job)

    def joined(line: list[Waiting]) -> float:
        first = line[0]
        served = first.member_served_at
        return first.created_at if served is None else max(served, first.created_at)

    turns = sorted(lines.values(), key=joined)  # stable: ties keep admission order
    places: dict[str, int] = {}
    depth = 0
    while len(places) < len(queued):
        for line in turns:
            if depth < len(line):
                places[line[depth].job_id] = len(places) + 1
        depth += 1
    return places


async def _claim(
    conn: Connection, worker_id: str, phases: list[str], limit: int, lease_s: float, clock: Clock
) -> list[Job]:
    if not phases:
        return []
    now = clock()
    skip_locked = " FOR UPDATE SKIP LOCKED" if conn.dialect == "postgresql" else ""
    rows = await conn.fetchall(
        f"SELECT id FROM jobs WHERE state IN ({marks(phases)})"
        " AND (lease_until IS NULL OR lease_until < ?)"
        f" ORDER BY seq LIMIT ?{skip_locked}",
        (*phases, now, limit),
    )
    ids = [str(r[0]) for r in rows]
    if not ids:
        return []
    await conn.execute(
        f"UPDATE jobs SET worker_id = ?, lease_until = ? WHERE id IN ({marks(ids)})",
        (worker_id, now + lease_s, *ids),
    )
    claimed = await conn.fetchall(
        f"{JOB_ROWS} WHERE jobs.id IN ({marks(ids)}) ORDER BY jobs.seq", ids
    )
    return [job_from_row(r) for r in claimed]


async def _renew(
    conn: Connection, worker_id: str, job_ids: list[str], lease_s: float, clock: Clock
) -> set[str]:
    where = f"worker_id = ? AND id IN ({marks(job_ids)}) AND state IN ({marks(ACTIVE)})"
    params = (worker_id, *job_ids, *ACTIVE)
    await conn.execute(
        f"UPDATE jobs SET lease_until = ? WHERE {where}", (clock() + lease_s, *params)
    )
    return {str(r[0]) for r in await conn.fetchall(f"SELECT id FROM jobs WHERE {where}", params)}


async def _release(conn: Connection, worker_id: str, job_ids: list[str] | None) -> int:
    where = f"worker_id = ? AND state IN ({marks(ACTIVE)})"
    params: list[object] = [worker_id, *ACTIVE]
    if job_ids is not None:
        where += f" AND id IN ({marks(job_ids)})"
        params.extend(job_ids)
    released = await conn.execute(
        f"UPDATE jobs SET worker_id = NULL, lease_until = NULL WHERE {where}", params
    )
    if released:
        await conn.notify(JOBS_CHANNEL)
    return released


async def _expired(conn: Connection, clock: Clock) -> list[Job]:
    rows = await conn.fetchall(
        f"{JOB_ROWS} WHERE jobs.state IN ({marks(ACTIVE)})"
        " AND jobs.lease_until IS NOT NULL AND jobs.lease_until < ? ORDER BY jobs.seq",
        (*ACTIVE, clock()),
    )
    return [job_from_row(r) for r in rows]


async def _queued(conn: Connection) -> list[Waiting]:
    queued = str(JobPhase.QUEUED)
    rows = await conn.fetchall(
        "SELECT id, guild_id, user_id, created_at FROM jobs WHERE state = ? ORDER BY seq",
        (queued,),
    )
    served = await conn.fetchall(
        "SELECT guild_id, user_id, MAX(started_at) FROM jobs WHERE started_at IS NOT NULL"
        " AND (guild_id, user_id) IN (SELECT guild_id, user_id FROM jobs WHERE state = ?)"
        " GROUP BY guild_id, user_id",
        (queued,),
    )
    last = {(int(r[0]), int(r[1])): float(r[2]) for r in served}
    return [
        Waiting(
            job_id=str(r[0]),
            member=(int(r[1]), int(r[2])),
            created_at=float(r[3]),
            member_served_at=last.get((int(r[1]), int(r[2]))),
        )
        for r in rows
    ]


async def _in_flight(conn: Connection) -> InFlight:
    phases = [str(p) for p in IN_FLIGHT_PHASES]
    rows = await conn.fetchall(
        "SELECT provider, guild_id, user_id, COUNT(*) FROM jobs"
        f" WHERE state IN ({marks(phases)}) GROUP BY provider, guild_id, user_id",
        phases,
    )
    by_provider: dict[str, int] = {}
    by_member: dict[tuple[int, int], int] = {}
    for row in rows:
        provider, member, count = str(row[0]), (int(row[1]), int(row[2])), int(row[3])
        by_provider[provider] = by_provider.get(provider, 0) + count
        by_member[member] = by_member.get(member, 0) + count
    return InFlight(total=sum(by_provider.values()), by_provider=by_provider, by_member=by_member)
