"""What every table family shares: the database, the clock, row mapping and job transitions."""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from wanbot.providers.models import GenerationRequest
from wanbot.store.database import Connection, Database, Row
from wanbot.store.models import Job, JobPhase, MemberBan
from wanbot.store.protocols import LeaseLost

# Notified when there may be a job to claim: one admitted, or leases given up.
JOBS_CHANNEL = "jobs"


Clock = Callable[[], float]
R = TypeVar("R")


class _Now:
    """A column value meaning: the transaction's own time (read once it holds the database)."""

    def __repr__(self) -> str:
        return "NOW"


NOW: Any = _Now()


class SqlFamily:
    """Base of the per-family mixins that `SqlStore` combines."""

    def __init__(self, db: Database, clock: Callable[[], float] = time.time) -> None:
        self.database = db
        self._clock = clock
        # (worker id, seconds): jobs this store admits are leased to that worker from birth.
        self.admission_lease: tuple[str, float] | None = None

    @property
    def lease_holder(self) -> str | None:
        """The worker whose lease a job's transitions require (None: no leases, one process)."""
        return None if self.admission_lease is None else self.admission_lease[0]


def marks(values: Sequence[Any]) -> str:
    """`?, ?, ?` for an IN list of this many values."""
    return ", ".join("?" for _ in values)


async def transition(
    conn: Connection,
    /,
    job_id: str,
    allowed: Sequence[JobPhase],
    to: JobPhase,
    now: float,
    *,
    holder: str | None = None,
    **columns: Any,
) -> bool:
    """Move a job from one of `allowed` to `to`, setting `columns`; False if it was elsewhere.

    With `holder` (a worker id), only while that worker holds the job's lease: raises
    `LeaseLost` when another one does."""
    sets = ", ".join([f"{name} = ?" for name in columns] + ["state = ?", "updated_at = ?"])
    values = [now if value is NOW else value for value in columns.values()]
    where = f"id = ? AND state IN ({marks(allowed)})"
    params = [*values, str(to), now, job_id, *(str(a) for a in allowed)]
    if holder is not None:
        where += " AND worker_id = ?"
        params.append(holder)
    changed = await conn.execute(f"UPDATE jobs SET {sets} WHERE {where}", params)
    if changed != 1 and holder is not None:
        row = await conn.fetchone("SELECT worker_id FROM jobs WHERE id = ?", (job_id,))
        if row is not None and row["worker_id"] != holder:
            raise LeaseLost(f"job {job_id} is leased to {row['worker_id']}, not {holder}")
    return changed == 1


async def transition_now(
    conn: Connection,
    /,
    job_id: str,
    allowed: Sequence[JobPhase],
    to: JobPhase,
    clock: Clock,
    *,
    holder: str | None = None,
    **columns: Any,
) -> bool:
    """`transition` at the time the transaction runs (after any wait for the database)."""
    return await transition(conn, job_id, allowed, to, clock(), holder=holder, **columns)


def record(cls: type[R], row: Row, **converted: Any) -> R:
    """A record from a row whose columns carry its fields' names; `converted` gives the fields
    whose column needs decoding (JSON, booleans, enums)."""
    return cls(
        **{
            f.name: converted[f.name] if f.name in converted else row[f.name]
            for f in dataclasses.fields(cls)  # type: ignore[arg-type]
        }
    )


# Every read of whole jobs goes through this, so `Job.held` comes from the job's hold: in the
# member's ledger, or in the wallet's when a team wallet pays (`jobs.wallet_id`; never both).
JOB_ROWS = (
    "SELECT jobs.*, COALESCE(h.held, wh.held) AS held FROM jobs"
    " LEFT JOIN ledger h ON h.job_id = jobs.id AND h.kind = 'hold'"
    " LEFT JOIN wallet_ledger wh ON wh.job_id = jobs.id AND wh.kind = 'hold'"
)


def job_from_row(row: Row) -> Job:
    return record(
        Job,
        row,
        request=GenerationRequest.model_validate_json(row["request_json"]),
        private=bool(row["private"]),
        state=JobPhase(row["state"]),
        result_urls=tuple(json.loads(row["result_urls_json"] or "[]")),
        message_ids=tuple(json.loads(row["message_ids_json"] or "[]")),
    )


def ban_from_row(row: Row) -> MemberBan:
    return record(MemberBan, row)
