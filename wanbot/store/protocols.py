"""What the bot asks of its database, in words of intent, one narrow protocol per table family.

Every method is one transaction that a cancelled caller can never leave open. SQL lives only in the
implementations. A consumer types its dependency as the narrowest protocol it uses; `Store` is the
union, for the composition root.

`admit_job` and the two `settle_*` methods touch the jobs table as well as the ledger, yet belong
to `LedgerStore`: their transaction exists to keep the ledger's guarantees (a hold only with its
job, caps and balance checked in the hold's own transaction, one hold/capture/release per job);
the job row is the subject of the hold. `JobStore` holds the transitions that move no credits.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from wanbot.store.models import (
    Activity,
    Budget,
    GuildSettings,
    GuildStats,
    InFlight,
    Job,
    JobPhase,
    LedgerEntry,
    MemberBan,
    MemberForgotten,
    NewJob,
    NewWallet,
    Paid,
    PeriodKeys,
    Settlement,
    SpendCaps,
    WalletEntry,
    WalletFunds,
    WalletTerms,
)

__all__ = [
    "GuildPolicyStore",
    "JobStateError",
    "JobStore",
    "LeaseLost",
    "LeaseStore",
    "LedgerStore",
    "MemberDataStore",
    "MetaStore",
    "PreferenceStore",
    "StatsStore",
    "Store",
    "StoreInUse",
    "WalletStore",
]


class JobStateError(Exception):
    """A transition asked of a job that is not in a state that allows it."""


class LeaseLost(JobStateError):
    """The job's lease is held by another process now (this one stalled past it): the
    transition was refused, and this process must leave the job to its new holder."""


class StoreInUse(Exception):
    """Another process has this database open; one process per SQLite file."""


class MetaStore(Protocol):
    async def get_meta(self, key: str) -> str | None: ...

    async def set_meta(self, key: str, value: str) -> None: ...


class JobStore(Protocol):
    async def set_placeholder(self, job_id: str, message_id: int) -> None: ...

    async def get_job(self, job_id: str) -> Job | None: ...

    async def jobs_in(self, phases: Sequence[JobPhase]) -> list[Job]: ...

    async def count_in(self, phases: Sequence[JobPhase]) -> dict[JobPhase, int]:
        """How many jobs are in each of `phases` (0 for none), without reading a job."""
        ...

    async def active_jobs_of(self, guild_id: int, user_id: int) -> list[Job]:
        """The member's unfinished jobs in one server, oldest first."""
        ...

    async def mark_submitting(self, job_id: str) -> bool:
        """queued → submitting; False if the job is no longer queued (cancelled meanwhile)."""
        ...

    async def mark_requeued(self, job_id: str) -> bool:
        """submitting → queued: the host refused the submission (busy), so it has no job there.

        False if the job was not submitting (cancelled meanwhile). Nothing else changes: the
        hold stays, and the job is submitted again when its turn comes.
        """
        ...

    async def mark_running(
        self, job_id: str, provider: str, provider_job_id: str, *, image_cost: int | None = None
    ) -> None:
        """submitting → running on `provider`. `image_cost`: that host's price per image, when it
        is not the host the job was admitted for (a fallback); the hold stays as it is, and
        settlement captures images × this price, at most the hold."""
        ...

    async def mark_delivering(
        self, job_id: str, result_urls: Sequence[str], provider_cost: float | None
    ) -> None: ...


class LedgerStore(Protocol):
    async def admit_job(
        self, job: NewJob, budget: Budget, caps: SpendCaps, max_queued_per_user: int
    ) -> int:
        """Refill if due, hold the job's cost and insert it as queued; return the balance left.

        Raise InsufficientCredits, SpendCapReached or QueueFull with nothing written.
        """
        ...

    async def admit_job_paid(
        self,
        job: NewJob,
        budget: Budget,
        caps: SpendCaps,
        max_queued_per_user: int,
        terms: WalletTerms,
    ) -> Paid:
        """`admit_job`, with the member's team wallets first: refill those due, let
        `terms.choose` pick the one that pays, and hold there (the job's `wallet_id`); when
        none does, the member pays as with `admit_job`. All in the one transaction, so the
        choice sees the balances the hold changes. InsufficientCredits names the member's
        best-provided wallet (`wallet`, `wallet_balance`) when there is one.
        """
        ...

    async def settle_delivered(
        self, job_id: str, message_ids: Sequence[int], delivered: int
    ) -> Settlement:
        """Record the delivery, capture `delivered` images' cost, release the rest, mark done.

        The job's interaction token is replaced by its digest (`token_digest`): a finished job
        needs it no more, and `Job.for_interaction(token)` still finds it.
        """
        ...

    async def settle_failed(
        self, job_id: str, error: str, *, cancelled: bool = False
    ) -> Settlement:
        """Release the whole hold and end the job failed (or cancelled); drop its token."""
        ...

    async def balance(self, guild_id: int, user_id: int, budget: Budget | None = None) -> int:
        """The member's spendable credits, after a refill if one is due."""
        ...

    async def grant(
        self, guild_id: int, user_id: int, amount: int, actor_id: int | None, reason: str | None
    ) -> int: ...

    async def ledger(self, guild_id: int, user_id: int, limit: int = 10) -> list[LedgerEntry]: ...

    async def held_credits(self, guild_id: int, user_id: int) -> int:
        """Credits set aside for the member's unfinished jobs."""
        ...

    async def activity(self, guild_id: int, user_id: int, limit: int = 5) -> list[Activity]:
        """The member's latest balance changes, newest first, with each job's kind and prompt."""
        ...


class GuildPolicyStore(Protocol):
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


class PreferenceStore(Protocol):
    async def get_preferences(self, guild_id: int, user_id: int) -> dict[str, Any]:
        """The member's saved defaults as stored (empty when none)."""
        ...

    async def save_preferences(self, guild_id: int, user_id: int, prefs: Mapping[str, Any]) -> None:
        """Replace the member's defaults; empty `prefs` removes them."""
        ...

    async def private_members(self) -> list[tuple[int, int]]:
        """(server, member) of everyone whose results are private by default."""
        ...


class StatsStore(Protocol):
    async def recent_durations(self, provider: str, size: str, limit: int = 20) -> list[float]:
        """Seconds from submission to result of the last jobs of this provider and size."""
        ...

    async def last_job_at(self, guild_id: int, user_id: int) -> float | None:
        """When the member's latest job was admitted."""
        ...

    async def guild_stats(
        self, guild_id: int, day_start: float, month_start: float, top: int = 5
    ) -> GuildStats: ...


class MemberDataStore(Protocol):
    async def forget_member(self, guild_id: int, user_id: int) -> MemberForgotten:
        """Remove the member's prompts and preferences in one server and anonymise their finished
        jobs; the ledger (and so every balance and total) stays exactly as it was. Removed text
        does not linger in the database file."""
        ...

    async def blank_prompts_older_than(self, before: float) -> int:
        """Remove the prompts of finished jobs admitted before `before`; return how many."""
        ...


class LeaseStore(Protocol):
    """Jobs shared by several processes: who works on which, until when; the queue from the
    database. With one process (SQLite) the same calls work, and nobody else ever claims."""

    def lease_new_jobs_to(self, worker_id: str | None, lease_s: float = 0.0) -> None:
        """From now on, jobs this store admits are leased to `worker_id` for `lease_s` seconds
        from their admission (the process that admits a job runs it; if it dies first, the lease
        runs out and another takes the job over). None: admitted jobs carry no lease."""
        ...

    async def claim_jobs(
        self, worker_id: str, phases: Sequence[JobPhase], limit: int, lease_s: float
    ) -> list[Job]:
        """Lease to `worker_id`, for `lease_s` seconds, up to `limit` jobs in `phases` that no
        live lease holds (never leased, released, or expired), oldest first; return them.
        Concurrent claimers never get the same job."""
        ...

    async def renew_leases(
        self, worker_id: str, job_ids: Sequence[str], lease_s: float
    ) -> set[str]:
        """Extend the worker's leases on these unfinished jobs; return the ids it still holds
        (a job missing was taken over after its lease ran out, or has ended)."""
        ...

    async def release_leases(self, worker_id: str, job_ids: Sequence[str] | None = None) -> int:
        """Give up the worker's leases (all, or these) on unfinished jobs, so any process may
        claim them at once; wake waiting processes. Return how many were released."""
        ...

    async def expired_leases(self) -> list[Job]:
        """Unfinished jobs whose lease ran out (their process died or stalled), oldest first."""
        ...

    async def wait_for_jobs(self, timeout_s: float) -> bool:
        """Wait until a job is admitted or leases are released, in any process; False after
        `timeout_s` seconds. A spare wake-up is possible: claim, and wait again if none."""
        ...

    async def queue_positions(self) -> dict[str, int]:
        """1-based place in line of every queued job of every process, members taking turns."""
        ...

    async def queued_ahead(self, job_id: str) -> int | None:
        """How many queued jobs are served before this one; None if it is not queued."""
        ...

    async def in_flight(self) -> InFlight:
        """Jobs submitting, running or delivering, by provider and by member, in every process."""
        ...


class WalletStore(Protocol):
    """Team wallets: a role's shared budget. `period_keys` (from the credit policy) name the
    refill period each wallet period is in now; reading balances applies the refills due."""

    async def create_wallet(self, wallet: NewWallet, period_keys: PeriodKeys) -> WalletFunds:
        """Create and fill it; Refusal(WALLET_ADMIN) if the name is taken or too many exist."""
        ...

    async def delete_wallet(self, guild_id: int, name: str) -> WalletFunds | None:
        """Stop it paying for new jobs (its unfinished jobs still settle into it); None if
        there is no such wallet. Its ledger stays."""
        ...

    async def grant_wallet(
        self,
        guild_id: int,
        name: str,
        amount: int,
        actor_id: int | None,
        reason: str | None,
        period_keys: PeriodKeys,
    ) -> tuple[WalletFunds, int] | None:
        """Add credits after the refill due; the wallet after, and what that refill added.
        None if there is no such wallet."""
        ...

    async def wallets(
        self, guild_id: int, period_keys: PeriodKeys, role_ids: Sequence[int] | None = None
    ) -> list[WalletFunds]:
        """The server's live wallets (only those of `role_ids`, if given), refilled if due."""
        ...

    async def wallet_funds(self, wallet_id: str) -> WalletFunds | None:
        """A wallet (live or deleted) and its balance as it stands, without any refill."""
        ...

    async def wallet_entries(self, wallet_id: str, limit: int = 10) -> list[WalletEntry]:
        """The wallet's latest ledger entries, newest first."""
        ...


class Store(
    MetaStore,
    JobStore,
    LedgerStore,
    GuildPolicyStore,
    PreferenceStore,
    StatsStore,
    MemberDataStore,
    LeaseStore,
    WalletStore,
    Protocol,
):
    async def close(self) -> None: ...
