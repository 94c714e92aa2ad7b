"""The one path from a member's request to an admitted job, for commands, buttons and modals.

    screen      ban, channel rules, NSFW policy, built-in terms and the server's blocklist
    provider    the host asked for (by key or label) or the default, and its capabilities, once
    price       the host's image cost; the member's allowance from their roles
    cooldown    one admission at a time per member, and the configured pause between jobs
    hold        the store holds the cost and records the job as queued, in one transaction:
                from the member's team wallet that has the most left, else their own balance

No Discord here: the caller passes plain ids and flags, and gets an `Admitted` job or a Refusal.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import math
import time
import uuid
import weakref
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Protocol

from wanbot.config import GenerationConfig
from wanbot.credits import CreditPolicy
from wanbot.errors import InsufficientCredits, Refusal, RefusalReason
from wanbot.metrics import Metrics
from wanbot.moderation import Moderator, Refused, Review, cooldown_until
from wanbot.preferences import Preferences
from wanbot.providers.models import GenerationRequest
from wanbot.providers.registry import ProviderSet
from wanbot.store.base import (
    GuildPolicyStore,
    GuildSettings,
    LedgerStore,
    NewJob,
    PreferenceStore,
    StatsStore,
)

log = logging.getLogger(__name__)

TOKEN_LIFETIME_S = 15 * 60.0


@dataclass(frozen=True)
class Requester:
    """Who asks, and where: the channel the result goes to and the one whose rules apply (a
    thread follows its parent)."""

    guild_id: int
    channel_id: int
    rules_channel_id: int
    channel_nsfw: bool
    user_id: int
    role_ids: tuple[int, ...] = ()


@dataclass(frozen=True)
class ReplyHandle:
    """How to reach the member later without the live interaction."""

    application_id: int
    interaction_token: str
    created_at: float
    upload_limit: int
    locale: str | None = None  # the member's Discord client language ("zh-CN"), kept with the job


@dataclass(frozen=True)
class Ask:
    """What kind of job, on which host (None: the default), and who sees the result."""

    kind: str  # imagine, edit
    provider: str | None = None
    private: bool = False
    parent_job_id: str | None = None


@dataclass(frozen=True)
class Cleared:
    """A request that passed the server's screen."""

    review: Review
    settings: GuildSettings


@dataclass(frozen=True)
class Admitted:
    job: NewJob  # its `wallet_id` says which team wallet pays, if one does
    balance: int  # what the payer has left
    provider_label: str
    audit_channel_id: int | None
    wallet_name: str | None = None


@dataclass(frozen=True)
class Limits:
    cooldown_s: float
    job_timeout_s: float
    max_queued_per_user: int

    @classmethod
    def of(cls, generation: GenerationConfig) -> Limits:
        return cls(generation.cooldown_s, generation.job_timeout_s, generation.max_queued_per_user)


class AdmissionStore(LedgerStore, GuildPolicyStore, PreferenceStore, StatsStore, Protocol):
    """What admission reads (policy, bans, defaults, the last job) and writes (the hold)."""


@dataclass(frozen=True)
class RefusalNotice:
    """A refusal moderators should hear of: who asked, where, for what, and why not."""

    requester: Requester
    prompt: str
    negative_prompt: str | None
    refusal: Refused


class AuditLog(Protocol):
    """Where moderators hear of refusals and jobs; best effort, never failing the action."""

    def refused(self, channel_id: int, notice: RefusalNotice) -> None:
        """Post in the background: a refusal must answer within Discord's 3 s."""
        ...


@dataclass(kw_only=True)
class Admission:
    store: AdmissionStore
    providers: ProviderSet
    credits: CreditPolicy
    moderator: Moderator
    limits: Limits
    image_cost: Callable[[str], int]  # credits per image on a provider
    audit: AuditLog
    metrics: Metrics = field(default_factory=Metrics)
    clock: Callable[[], float] = time.time
    # Per member, so a cooldown check and the admission after it can't interleave.
    _admitting: weakref.WeakValueDictionary[tuple[int, int], asyncio.Lock] = field(
        default_factory=weakref.WeakValueDictionary, init=False, repr=False
    )
    # Members' "private results" default as last read: a hint for acknowledging a command
    # before its defaults are read, never the answer itself.
    _private: set[tuple[int, int]] = field(default_factory=set, init=False, repr=False)
    _private_known: bool = field(default=False, init=False, repr=False)

    # -- providers -------------------------------------------------------------------------
    def provider_key(self, name: str | None) -> str | None:
        """The provider a member typed, by key or label in any case ("Mock", " mock ")."""
        wanted = (name or "").strip().casefold()
        if not wanted:
            return None
        for key, provider in self.providers.providers.items():
            if wanted in (key.casefold(), provider.label.casefold()):
                return key
        return name

    def provider_choices(self, current: str) -> list[tuple[str, str]]:
        """(label, key) of the enabled providers matching what a member is typing."""
        current = current.lower()
        return [
            (p.label, key)
            for key, p in self.providers.providers.items()
            if current in key or current in p.label.lower()
        ][:25]

    def resolve_provider(self, name: str | None, request: GenerationRequest) -> str:
        """The host that runs `request`, after the one capability check; else a Refusal."""
        providers = self.providers
        asked = self.provider_key(name)
        chosen = asked or providers.default
        if chosen not in providers.providers:
            raise Refusal(
                RefusalReason.PROVIDER_NOT_ENABLED,
                {"name": chosen, "enabled": [p.label for p in providers.providers.values()]},
            )
        capabilities = providers.get(chosen).capabilities
        if request.suffix and len(request.prompt) > capabilities.prompt_max:
            raise Refusal(
                RefusalReason.PROMPT_SUFFIX,
                {
                    "problem": "too_long_for_host",
                    "provider": capabilities.label,
                    "length": len(request.prompt),
                    "limit": capabilities.prompt_max,
                },
            )
        issue = capabilities.issue(request)
        if issue is not None:
            others = [
                key
                for key, p in providers.providers.items()
                if key not in (chosen, "mock") and p.capabilities.issue(request) is None
            ]
            raise Refusal(
                RefusalReason.UNSUPPORTED_OPTION,
                {
                    "provider": chosen,
                    "problem": str(issue),  # English, for logs
                    "issue": issue.key,
                    "issue_values": issue.values,
                    "other": others[0] if others else None,
                    "asked_for": asked is not None,
                },
            )
        return chosen

    async def defaults(
        self, guild_id: int, user_id: int, provider: str | None, *, edit: bool
    ) -> Preferences:
        """The member's saved defaults, minus those the provider that will run the job can't use."""
        prefs = Preferences.from_stored(await self.store.get_preferences(guild_id, user_id))
        self.remember_private(guild_id, user_id, bool(prefs.private))
        name = self.provider_key(provider) or self.providers.default
        if name in self.providers.providers:
            prefs = prefs.fitted(self.providers.get(name).capabilities, edit=edit)
        return prefs

    async def learn_private_defaults(self) -> None:
        """Read who keeps their results private, for `private_hint` (once, at start)."""
        self._private = set(await self.store.private_members())
        self._private_known = True

    def private_hint(self, guild_id: int, user_id: int) -> bool | None:
        """Whether the member's results are private by default, as last known in this process
        (None before `learn_private_defaults`): a hint for acknowledging a command before its
        defaults are read, never the answer itself."""
        if (guild_id, user_id) in self._private:
            return True
        return False if self._private_known else None

    def remember_private(self, guild_id: int, user_id: int, private: bool) -> None:
        if private:
            self._private.add((guild_id, user_id))
        else:
            self._private.discard((guild_id, user_id))

    # -- the screen ------------------------------------------------------------------------
    async def screen(
        self, requester: Requester, prompt: str, negative_prompt: str | None = None
    ) -> Cleared:
        """The server's policy for this member, channel and prompt; Refused, audited if it says
        so, when it does not pass."""
        settings = await self.store.guild_settings(requester.guild_id)
        ban = await self.store.member_ban(requester.guild_id, requester.user_id)
        try:
            review = self.moderator.review(
                settings,
                channel_id=requester.rules_channel_id,
                channel_nsfw=requester.channel_nsfw,
                ban=ban,
                prompt=prompt,
                negative_prompt=negative_prompt,
            )
        except Refused as refused:
            if refused.audited and settings.audit_channel_id is not None:
                notice = RefusalNotice(requester, prompt, negative_prompt, refused)
                self.audit.refused(settings.audit_channel_id, notice)
            raise
        return Cleared(review=review, settings=settings)

    async def precheck(
        self, requester: Requester, prompt: str, provider: str | None = None
    ) -> Cleared:
        """What can refuse a job before its input images are fetched and nothing is written:
        the screen and the cooldown. (Credits are checked at the hold: reading a balance may
        write the refill due, and a refused request writes nothing.) `provider`, the host
        asked for, only labels a refusal in the metrics."""
        with self._counting_refusals(provider):
            cleared = await self.screen(requester, prompt)
            await self._check_cooldown(requester)
        return cleared

    # -- admission -------------------------------------------------------------------------
    async def admit(
        self,
        requester: Requester,
        reply: ReplyHandle,
        ask: Ask,
        request: GenerationRequest,
        cleared: Cleared | None = None,
    ) -> Admitted:
        """Screen (unless `cleared` already), choose the host, price, and hold under the
        member's cooldown; the job is recorded `queued` but not yet scheduled."""
        with self._counting_refusals(ask.provider):
            return await self._admit(requester, reply, ask, request, cleared)

    @contextlib.contextmanager
    def _counting_refusals(self, asked: str | None) -> Iterator[None]:
        """Count a refusal as a job that ended `refused`, under the host it would have run on."""
        try:
            yield
        except Refusal:
            key = self.provider_key(asked) or self.providers.default
            # Only enabled hosts label series: a typed name must not grow the metric's labels.
            self.metrics.job_finished(
                key if key in self.providers.providers else "unknown", "refused"
            )
            raise

    async def _admit(
        self,
        requester: Requester,
        reply: ReplyHandle,
        ask: Ask,
        request: GenerationRequest,
        cleared: Cleared | None,
    ) -> Admitted:
        if cleared is None:
            cleared = await self.screen(requester, request.prompt, request.negative_prompt)
        # What the screen decides, never what an earlier job (a reroll's) carried.
        request = request.model_copy(
            update={"filtered": cleared.review.filtered, "safety_checker": None}
        )
        chosen = self.resolve_provider(ask.provider, request)
        request = self.providers.get(chosen).capabilities.prepared(request)
        now = self.clock()
        job = NewJob(
            id=uuid.uuid4().hex,
            kind=ask.kind,
            guild_id=requester.guild_id,
            channel_id=requester.channel_id,
            user_id=requester.user_id,
            application_id=reply.application_id,
            interaction_token=reply.interaction_token,
            token_expires_at=reply.created_at + TOKEN_LIFETIME_S,
            request=request,
            provider=chosen,
            image_cost=self.image_cost(chosen),
            deadline_at=now + self.limits.job_timeout_s,
            upload_limit=reply.upload_limit,
            private=ask.private,
            parent_job_id=ask.parent_job_id,
            locale=reply.locale,
        )
        allowance, _ = self.credits.allowance_for(requester.role_ids)
        async with self._lock(requester):
            await self._check_cooldown(requester)
            try:
                paid = await self.store.admit_job_paid(
                    job,
                    self.credits.budget(now, allowance),
                    self.credits.caps(now),
                    self.limits.max_queued_per_user,
                    self.credits.wallet_terms(now, requester.role_ids),
                )
            except InsufficientCredits as e:
                raise self._with_refill(e) from None
        wallet = paid.wallet
        return Admitted(
            job=dataclasses.replace(job, wallet_id=wallet.id if wallet else None),
            balance=paid.balance,
            provider_label=self.providers.label(chosen),
            audit_channel_id=cleared.settings.audit_channel_id,
            wallet_name=wallet.name if wallet else None,
        )

    def _lock(self, requester: Requester) -> asyncio.Lock:
        key = (requester.guild_id, requester.user_id)
        lock = self._admitting.get(key)
        if lock is None:
            lock = self._admitting[key] = asyncio.Lock()
        return lock

    async def _check_cooldown(self, requester: Requester) -> None:
        cooldown = self.limits.cooldown_s
        if cooldown <= 0:
            return
        last = await self.store.last_job_at(requester.guild_id, requester.user_id)
        ready = cooldown_until(last, cooldown, self.clock())
        if ready is not None:
            raise Refusal(RefusalReason.COOLDOWN, {"ready_at": math.ceil(ready)})

    def _with_refill(self, error: InsufficientCredits) -> InsufficientCredits:
        error.details["refills_at"] = self.credits.next_refill(self.clock())
        return error
