"""What every table family shares: the database, the clock, row mapping and job transitions."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from typing import Any

from wanbot.providers.models import GenerationRequest
from wanbot.store.database import Connection, Database, Row
from wanbot.store.models import Job, JobPhase, MemberBan

ACTIVE_PHASES = (JobPhase.QUEUED, JobPhase.SUBMITTING, JobPhase.RUNNING, JobPhase.DELIVERING)
TERMINAL_PHASES = (JobPhase.DONE, JobPhase.FAILED, JobPhase.CANCELLED)


Clock = Callable[[], float]


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
    **columns: Any,
) -> bool:
    """Move a job from one of `allowed` to `to`, setting `columns`; False if it was elsewhere."""
    sets = ", ".join([f"{name} = ?" for name in columns] + ["state = ?", "updated_at = ?"])
    values = [now if value is NOW else value for value in columns.values()]
    changed = await conn.execute(
        f"UPDATE jobs SET {sets} WHERE id = ? AND state IN ({marks(allowed)})",
        [*values, str(to), now, job_id, *(str(a) for a in allowed)],
    )
    return changed == 1


async def transition_now(
    conn: Connection,
    /,
    job_id: str,
    allowed: Sequence[JobPhase],
    to: JobPhase,
    clock: Clock,
    **columns: Any,
) -> bool:
    """`transition` at the time the transaction runs (after any wait for the database)."""
    return await transition(conn, job_id, allowed, to, clock(), **columns)


def job_from_row(row: Row) -> Job:
    return Job(
        id=row["id"],
        kind=row["kind"],
        guild_id=row["guild_id"],
        channel_id=row["channel_id"],
        user_id=row["user_id"],
        application_id=row["application_id"],
        interaction_token=row["interaction_token"],
        token_expires_at=row["token_expires_at"],
        request=GenerationRequest.model_validate_json(row["request_json"]),
        provider=row["provider"],
        image_cost=row["image_cost"],
        deadline_at=row["deadline_at"],
        upload_limit=row["upload_limit"],
        private=bool(row["private"]),
        parent_job_id=row["parent_job_id"],
        placeholder_message_id=row["placeholder_message_id"],
        wallet_id=row["wallet_id"],
        seq=row["seq"],
        state=JobPhase(row["state"]),
        provider_job_id=row["provider_job_id"],
        provider_cost=row["provider_cost"],
        images_delivered=row["images_delivered"],
        result_urls=tuple(json.loads(row["result_urls_json"] or "[]")),
        message_ids=tuple(json.loads(row["message_ids_json"] or "[]")),
        error=row["error"],
        created_at=row["created_at"],
        submitted_at=row["submitted_at"],
        finished_at=row["finished_at"],
    )


def ban_from_row(row: Row) -> MemberBan:
    return MemberBan(
        user_id=row["user_id"],
        reason=row["reason"],
        actor_id=row["actor_id"],
        created_at=row["created_at"],
    )
