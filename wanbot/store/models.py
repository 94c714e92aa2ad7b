"""The store's records: what a job, a ledger entry or a server's policy is, free of any SQL."""

from __future__ import annotations

import enum
import hashlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from wanbot.providers.models import GenerationRequest

__all__ = [
    "ACTIVE_PHASES",
    "IN_FLIGHT_PHASES",
    "REMOVED_PROMPT",
    "TERMINAL_PHASES",
    "WALLET_PERIODS",
    "Activity",
    "BlockEntry",
    "Budget",
    "GuildSettings",
    "GuildStats",
    "InFlight",
    "Job",
    "JobPhase",
    "LedgerEntry",
    "MemberBan",
    "MemberForgotten",
    "MemberSpend",
    "NewJob",
    "NewWallet",
    "Paid",
    "PeriodKeys",
    "PeriodStats",
    "Settlement",
    "SpendCaps",
    "Wallet",
    "WalletChooser",
    "WalletEntry",
    "WalletFunds",
    "WalletTerms",
    "token_digest",
]


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
        return self in TERMINAL_PHASES


ACTIVE_PHASES = (JobPhase.QUEUED, JobPhase.SUBMITTING, JobPhase.RUNNING, JobPhase.DELIVERING)
TERMINAL_PHASES = (JobPhase.DONE, JobPhase.FAILED, JobPhase.CANCELLED)
IN_FLIGHT_PHASES = (JobPhase.SUBMITTING, JobPhase.RUNNING, JobPhase.DELIVERING)


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
    locale: str | None = None  # the Discord locale of the command that started it ("zh-CN")
    # The team wallet that pays (None: the member). Chosen by the store as it admits the job;
    # what a caller sets here before admission is ignored.
    wallet_id: str | None = None

    @property
    def hold_amount(self) -> int:
        return self.image_cost * self.request.n


def token_digest(token: str) -> str:
    """What a finished job keeps of its interaction token: enough to find the job by the token,
    useless for posting as the bot."""
    return "sha256:" + hashlib.sha256(token.encode()).hexdigest()


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
    worker_id: str | None = None  # the process working on it (its lease), if any
    lease_until: float | None = None
    held: int | None = None  # what the hold set aside, when known; see hold_amount

    @property
    def hold_amount(self) -> int:
        """The credits held for the job: fixed at admission, even when a fallback host that
        makes the images has another price (`image_cost` is then that host's price)."""
        return self.image_cost * self.request.n if self.held is None else self.held

    def for_interaction(self, token: str) -> bool:
        """Whether this job was made by the interaction with this token (finished or not)."""
        return self.interaction_token in (token, token_digest(token))


@dataclass(frozen=True)
class InFlight:
    """Jobs past the queue and not yet ended (submitting, running, delivering), in every process,
    counted as the scheduler's limits count them."""

    total: int
    by_provider: dict[str, int]
    by_member: dict[tuple[int, int], int]  # (guild id, user id)


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
    balance: int  # of whoever paid: the member, or the wallet
    wallet_id: str | None = None  # the team wallet that paid, if one did


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


# Stands in for a prompt that was removed on request or by age; the request stays loadable.
REMOVED_PROMPT = "[removed]"


@dataclass(frozen=True)
class MemberForgotten:
    """What `forget_member` removed. Active jobs are left alone: cancel them, then forget again."""

    jobs: int  # finished jobs whose prompts were removed and whose member was anonymised
    preferences: int  # saved-defaults rows deleted (0 or 1)
    active_jobs: int
    input_paths: tuple[str, ...]  # kept input files of those jobs, for the caller to delete


# -- team wallets -------------------------------------------------------------------------------

WALLET_PERIODS = ("daily", "weekly", "monthly", "never")


@dataclass(frozen=True)
class NewWallet:
    """A budget a server gives a role: every member with the role spends from it first."""

    id: str  # chosen by the caller, as a job's is
    guild_id: int
    name: str
    role_id: int
    allowance: int  # a refill tops the balance up to this, once per period
    period: str  # daily, weekly, monthly, never
    actor_id: int | None  # who created it


@dataclass(frozen=True)
class Wallet(NewWallet):
    created_at: float = 0.0
    deleted_at: float | None = None  # deleted wallets pay for nothing new


@dataclass(frozen=True)
class WalletFunds:
    """A wallet and its credits: spendable, and set aside for unfinished jobs."""

    wallet: Wallet
    balance: int
    held: int = 0


@dataclass(frozen=True)
class WalletEntry:
    id: int
    wallet_id: str
    user_id: int | None  # whose job (holds, captures, releases)
    kind: str  # refill, grant, hold, capture, release
    available: int
    held: int
    job_id: str | None
    actor_id: int | None
    reason: str | None
    created_at: float


# The wallet that pays for a job costing `cost`, among the member's wallets (after refills), or
# None for the member's own balance. The credit policy supplies it.
WalletChooser = Callable[[Sequence[WalletFunds], int], WalletFunds | None]
# A wallet's period ("daily", ...) → the name of the refill period containing now (see Budget).
PeriodKeys = Mapping[str, str | None]


@dataclass(frozen=True)
class WalletTerms:
    """Which wallets may pay for a member's job and how one is chosen, in the hold's transaction."""

    role_ids: tuple[int, ...]
    period_keys: PeriodKeys
    choose: WalletChooser


@dataclass(frozen=True)
class Paid:
    """Who pays for an admitted job and what they have left after the hold."""

    balance: int
    wallet: Wallet | None = None  # None: the member
