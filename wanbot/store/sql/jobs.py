"""The jobs table: reads and the transitions that move no credits (see `ledger` for those)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from wanbot.store.database import Connection
from wanbot.store.models import ACTIVE_PHASES, Job, JobPhase
from wanbot.store.protocols import JobStateError
from wanbot.store.sql.common import (
    JOB_ROWS,
    NOW,
    Clock,
    SqlFamily,
    job_from_row,
    marks,
    transition_now,
)


class JobSql(SqlFamily):
    async def set_placeholder(self, job_id: str, message_id: int) -> None:
        await self.database.write(_set_placeholder, job_id, message_id, self._clock)

    async def get_job(self, job_id: str) -> Job | None:
        return await self.database.read(_get_job, job_id)

    async def jobs_in(self, phases: Sequence[JobPhase]) -> list[Job]:
        return await self.database.read(_jobs_in, [str(p) for p in phases])

    async def count_in(self, phases: Sequence[JobPhase]) -> dict[JobPhase, int]:
        return await self.database.read(_count_in, [str(p) for p in phases])

    async def active_jobs_of(self, guild_id: int, user_id: int) -> list[Job]:
        return await self.database.read(_active_of, guild_id, user_id)

    async def mark_submitting(self, job_id: str) -> bool:
        return await self._move(job_id, JobPhase.QUEUED, JobPhase.SUBMITTING, started_at=NOW)

    async def mark_requeued(self, job_id: str) -> bool:
        return await self._move(job_id, JobPhase.SUBMITTING, JobPhase.QUEUED)

    async def mark_running(
        self, job_id: str, provider: str, provider_job_id: str, *, image_cost: int | None = None
    ) -> None:
        priced = {} if image_cost is None else {"image_cost": image_cost}
        ok = await self._move(
            job_id,
            JobPhase.SUBMITTING,
            JobPhase.RUNNING,
            provider=provider,
            provider_job_id=provider_job_id,
            submitted_at=NOW,
            **priced,
        )
        if not ok:
            raise JobStateError(f"job {job_id} was not submitting")

    async def mark_delivering(
        self, job_id: str, result_urls: Sequence[str], provider_cost: float | None
    ) -> None:
        ok = await self._move(
            job_id,
            JobPhase.RUNNING,
            JobPhase.DELIVERING,
            result_urls_json=json.dumps(list(result_urls)),
            provider_cost=provider_cost,
            finished_at=NOW,
        )
        if not ok:
            raise JobStateError(f"job {job_id} was not running")

    async def _move(self, job_id: str, was: JobPhase, to: JobPhase, **columns: Any) -> bool:
        """Move the job from `was` to `to`, setting `columns`, if it is still `was` (and, with
        leases, still this worker's); whether it moved."""
        return await self.database.write(
            transition_now, job_id, [was], to, self._clock, holder=self.lease_holder, **columns
        )


async def _set_placeholder(conn: Connection, job_id: str, message_id: int, clock: Clock) -> None:
    await conn.execute(
        "UPDATE jobs SET placeholder_message_id = ?, updated_at = ? WHERE id = ?",
        (message_id, clock(), job_id),
    )


# A job with the credits its hold set aside (its price may change later: see mark_running).
async def _get_job(conn: Connection, job_id: str) -> Job | None:
    row = await conn.fetchone(f"{JOB_ROWS} WHERE jobs.id = ?", (job_id,))
    return None if row is None else job_from_row(row)


async def _jobs_in(conn: Connection, phases: list[str]) -> list[Job]:
    rows = await conn.fetchall(
        f"{JOB_ROWS} WHERE jobs.state IN ({marks(phases)}) ORDER BY jobs.seq", phases
    )
    return [job_from_row(r) for r in rows]


async def _count_in(conn: Connection, phases: list[str]) -> dict[JobPhase, int]:
    rows = await conn.fetchall(
        f"SELECT state, COUNT(*) FROM jobs WHERE state IN ({marks(phases)}) GROUP BY state", phases
    )
    counts = dict.fromkeys(map(JobPhase, phases), 0)
    counts.update((JobPhase(str(row[0])), int(row[1])) for row in rows)
    return counts


async def _active_of(conn: Connection, guild_id: int, user_id: int) -> list[Job]:
    active = [str(p) for p in ACTIVE_PHASES]
    rows = await conn.fetchall(
        f"{JOB_ROWS} WHERE jobs.guild_id = ? AND jobs.user_id = ?"
        f" AND jobs.state IN ({marks(active)}) ORDER BY jobs.seq",
        (guild_id, user_id, *active),
    )
    return [job_from_row(r) for r in rows]
