"""The Store protocol: what the bot asks of its database, in words of intent.

Every method is one transaction. SQL lives only in the implementations.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from wanbot.providers.models import GenerationRequest


class JobPhase(enum.StrEnum):
    QUEUED = "queued"
    SUBMITTING = "submitting"
    RUNNING = "running"
    DELIVERING = "delivering"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def terminal(self) -> bool:
        return self in (JobPhase.DONE, JobPhase.FAILED, JobPhase.CANCELLED)


@dataclass(frozen=True)
class NewJob:
    """Everything needed to finish a job without the live Interaction."""

    id: str
    kind: str  # imagine, edit
    guild_id: int
    channel_id: int
    user_id: int
    application_id: int
    interaction_token: str
    token_expires_at: float
    request: GenerationRequest
    provider: str
    image_cost: int
    deadline_at: float
    upload_limit: int = 10 * 1024 * 1024  # the interaction's attachment size limit
    private: bool = False
    parent_job_id: str | None = None
    placeholder_message_id: int | None = None

    @property
    def hold_amount(self) -> int:
        return self.image_cost * self.request.n


@dataclass(frozen=True)
class Job(NewJob):
    seq: int = 0
    state: JobPhase = JobPhase.QUEUED
    provider_job_id: str | None = None
    provider_cost: float | None = None
    images_delivered: int | None = None
    result_urls: tuple[str, ...] = ()
    message_ids: tuple[int, ...] = ()
    error: str | None = None
    created_at: float = 0.0
    submitted_at: float | None = None
    finished_at: float | None = None


@dataclass(frozen=True)
class Budget:
    """The refill due at admission: top the balance up to `allowance` once per `period_key`."""

    allowance: int
    period_key: str | None  # None: no refill applies


@dataclass(frozen=True)
class SpendCaps:
    """Daily limits in credits committed (held or captured); 0 means no limit."""

    day_start: float
    per_guild: int = 0
    total: int = 0


@dataclass(frozen=True)
class LedgerEntry:
    id: int
    guild_id: int
    user_id: int
    kind: str
    available: int
    held: int
    job_id: str | None
    actor_id: int | None
    reason: str | None
    created_at: float


@dataclass(frozen=True)
class Settlement:
    captured: int
    released: int
    balance: int


class Store(Protocol):
    async def get_meta(self, key: str) -> str | None: ...

    async def set_meta(self, key: str, value: str) -> None: ...

    async def admit_job(
        self, job: NewJob, budget: Budget, caps: SpendCaps, max_queued_per_user: int
    ) -> int:
        """Refill if due, hold the job's cost and insert it as queued; return the balance left.

        Raise InsufficientCredits, SpendCapReached or QueueFull with nothing written.
        """
        ...

    async def set_placeholder(self, job_id: str, message_id: int) -> None: ...

    async def get_job(self, job_id: str) -> Job | None: ...

    async def jobs_in(self, phases: Sequence[JobPhase]) -> list[Job]: ...

    async def mark_submitting(self, job_id: str) -> bool:
        """queued → submitting; False if the job is no longer queued (cancelled meanwhile)."""
        ...

    async def mark_running(self, job_id: str, provider: str, provider_job_id: str) -> None: ...

    async def mark_delivering(
        self, job_id: str, result_urls: Sequence[str], provider_cost: float | None
    ) -> None: ...

    async def settle_delivered(
        self, job_id: str, message_ids: Sequence[int], delivered: int
    ) -> Settlement:
        """Record the delivery, capture `delivered` images' cost, release the rest, mark done."""
        ...

    async def settle_failed(
        self, job_id: str, error: str, *, cancelled: bool = False
    ) -> Settlement:
        """Release the whole hold and end the job failed (or cancelled)."""
        ...

    async def balance(self, guild_id: int, user_id: int, budget: Budget | None = None) -> int:
        """The member's spendable credits, after a refill if one is due."""
        ...

    async def grant(
        self, guild_id: int, user_id: int, amount: int, actor_id: int | None, reason: str | None
    ) -> int: ...

    async def ledger(self, guild_id: int, user_id: int, limit: int = 10) -> list[LedgerEntry]: ...

    async def recent_durations(self, provider: str, size: str, limit: int = 20) -> list[float]:
        """Seconds from submission to result of the last jobs of this provider and size."""
        ...

    async def close(self) -> None: ...
