"""The Store protocol: what the bot asks of its database, in words of intent.

Every method is one transaction. SQL lives only in the implementations.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

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


@dataclass(frozen=True)
class BlockEntry:
    """One server blocklist entry: a word or phrase (matched on word boundaries) or a regex."""

    id: int
    pattern: str
    is_regex: bool


@dataclass(frozen=True)
class GuildSettings:
    """A server's generation policy, read in one go for each request."""

    guild_id: int
    audit_channel_id: int | None = None
    nsfw_policy: str = "filter"  # in age-restricted channels: "allow" or "filter"
    allowed_channels: frozenset[int] = frozenset()  # empty: every channel not denied
    denied_channels: frozenset[int] = frozenset()
    blocklist: tuple[BlockEntry, ...] = ()


@dataclass(frozen=True)
class MemberBan:
    user_id: int
    reason: str | None
    actor_id: int | None
    created_at: float


@dataclass(frozen=True)
class Activity:
    """A ledger entry that changed the spendable balance, with what its job was."""

    kind: str  # refill, grant, revoke, hold, release
    amount: int
    job_kind: str | None
    prompt: str | None
    job_state: str | None
    actor_id: int | None
    reason: str | None
    created_at: float


@dataclass(frozen=True)
class MemberSpend:
    user_id: int
    jobs: int
    credits: int


@dataclass(frozen=True)
class PeriodStats:
    jobs: int
    failed: int
    credits: int  # captured: paid for delivered images


@dataclass(frozen=True)
class GuildStats:
    today: PeriodStats
    month: PeriodStats
    top: tuple[MemberSpend, ...]  # this month, most credits first


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

    # -- member defaults -------------------------------------------------------------------
    async def get_preferences(self, guild_id: int, user_id: int) -> dict[str, Any]:
        """The member's saved defaults as stored (empty when none)."""
        ...

    async def save_preferences(self, guild_id: int, user_id: int, prefs: Mapping[str, Any]) -> None:
        """Replace the member's defaults; empty `prefs` removes them."""
        ...

    # -- server policy and moderation --------------------------------------------------------
    async def guild_settings(self, guild_id: int) -> GuildSettings: ...

    async def set_audit_channel(self, guild_id: int, channel_id: int | None) -> None: ...

    async def set_nsfw_policy(self, guild_id: int, policy: str) -> None: ...

    async def set_channel_rule(
        self, guild_id: int, channel_id: int, rule: str | None, actor_id: int | None
    ) -> bool:
        """Allow or deny one channel, or remove its rule (None); False if nothing changed."""
        ...

    async def clear_channel_rules(self, guild_id: int) -> int: ...

    async def add_blocked(
        self, guild_id: int, pattern: str, is_regex: bool, actor_id: int | None
    ) -> bool:
        """False if the entry was there already."""
        ...

    async def remove_blocked(self, guild_id: int, pattern: str) -> bool: ...

    async def ban_member(
        self, guild_id: int, user_id: int, actor_id: int | None, reason: str | None
    ) -> bool:
        """False if the member was banned already (the first ban's reason stays)."""
        ...

    async def unban_member(self, guild_id: int, user_id: int) -> bool: ...

    async def member_ban(self, guild_id: int, user_id: int) -> MemberBan | None: ...

    async def bans(self, guild_id: int) -> list[MemberBan]: ...

    # -- reporting ---------------------------------------------------------------------------
    async def last_job_at(self, guild_id: int, user_id: int) -> float | None:
        """When the member's latest job was admitted."""
        ...

    async def held_credits(self, guild_id: int, user_id: int) -> int:
        """Credits set aside for the member's unfinished jobs."""
        ...

    async def activity(self, guild_id: int, user_id: int, limit: int = 5) -> list[Activity]:
        """The member's latest balance changes, newest first, with each job's kind and prompt."""
        ...

    async def guild_stats(
        self, guild_id: int, day_start: float, month_start: float, top: int = 5
    ) -> GuildStats: ...

    async def close(self) -> None: ...
