"""The composition root: every service built once, in order, and handed to whoever needs it.

The chat adapter plugs in later (`Services.plug`), once the client exists: the job pipeline
and admission only know the ports.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import aiohttp

from wanbot.admission import Admission, AuditLog, Limits, RefusalNotice
from wanbot.balance import BalanceTracker, thresholds_from
from wanbot.config import KEYED_PROVIDERS, Config
from wanbot.credits import CreditPolicy
from wanbot.fetch import InputFetcher
from wanbot.http.hooks import WebhookRegistry
from wanbot.jobs.fitting import Downloader
from wanbot.jobs.leases import LeaseSettings
from wanbot.jobs.pacing import ChannelPressure
from wanbot.jobs.polling import PollBudget
from wanbot.jobs.ports import Delivery, JobOutcome, Notifier, Progress
from wanbot.jobs.scheduler import DEFAULT_HOST_FLOOR
from wanbot.jobs.scheduler import Limits as RunLimits
from wanbot.jobs.service import JobService
from wanbot.member_data import MemberData
from wanbot.metrics import Metrics
from wanbot.moderation import Moderator
from wanbot.providers.registry import ProviderSet, build_providers
from wanbot.store.base import Job, Store
from wanbot.store.url import is_postgres

log = logging.getLogger(__name__)


class _Unplugged(RuntimeError):
    pass


class NotifierPort:
    """The job pipeline's notifier, forwarding to the chat adapter once it is plugged in."""

    def __init__(self) -> None:
        self.target: Notifier | None = None

    def _to(self) -> Notifier:
        if self.target is None:
            raise _Unplugged("no notifier plugged in")
        return self.target

    async def show_progress(self, job: Job, progress: Progress) -> None:
        await self._to().show_progress(job, progress)

    async def deliver(self, job: Job, delivery: Delivery) -> list[int]:
        return await self._to().deliver(job, delivery)

    async def show_failure(self, job: Job, outcome: JobOutcome) -> None:
        await self._to().show_failure(job, outcome)


class AuditPort:
    """Admission's audit log, forwarding to the chat adapter once it is plugged in."""

    def __init__(self) -> None:
        self.target: AuditLog | None = None

    def refused(self, channel_id: int, notice: RefusalNotice) -> None:
        if self.target is None:
            log.warning("refusal not audited: no audit log plugged in")
            return
        self.target.refused(channel_id, notice)


@dataclass
class Services:
    config: Config
    store: Store
    session: aiohttp.ClientSession
    inputs: InputFetcher  # members' input images: Discord's CDN only, a connection pool of its own
    providers: ProviderSet
    data_dir: Path
    credits: CreditPolicy
    moderator: Moderator
    admission: Admission
    jobs: JobService
    notifier: NotifierPort
    audit: AuditPort
    metrics: Metrics
    balances: BalanceTracker
    member_data: MemberData
    pressure: ChannelPressure  # fed by the chat client's answers; progress edits yield to it

    def plug(self, notifier: Notifier, audit: AuditLog) -> None:
        self.notifier.target = notifier
        self.audit.target = audit


def build_services(
    config: Config,
    session: aiohttp.ClientSession,
    store: Store,
    data_dir: Path,
    inputs: InputFetcher,
    *,
    metrics: Metrics | None = None,
    balances: BalanceTracker | None = None,
    hooks: WebhookRegistry | None = None,
) -> Services:
    """Every service, once. `metrics` and `balances` come from the operators' side when it
    exists (the HTTP server exports them; otherwise the services count into their own); `hooks`
    is the registry the HTTP server answers host webhooks from."""
    settings = config.settings
    if metrics is None:
        metrics = Metrics()
    if balances is None:
        balances = BalanceTracker(thresholds_from(settings.providers), metrics=metrics)
    providers = build_providers(config, session, data_dir)
    log.info(
        "providers enabled: %s (default %s)", ", ".join(providers.providers), providers.default
    )
    credits = CreditPolicy(settings.credits)
    moderator = Moderator()
    notifier = NotifierPort()
    audit = AuditPort()
    gen = settings.generation
    pressure = ChannelPressure()

    def image_cost(provider: str) -> int:
        override: int | None = getattr(settings.providers, provider).image_cost
        return settings.credits.image_cost if override is None else override

    admission = Admission(
        store=store,
        providers=providers,
        credits=credits,
        moderator=moderator,
        limits=Limits.of(gen),
        image_cost=image_cost,
        audit=audit,
        metrics=metrics,
    )
    jobs = JobService(
        store=store,
        providers=providers,
        notifier=notifier,
        downloader=Downloader(session, mock_dir=data_dir / "mock"),
        credits=credits,
        limits=RunLimits(
            total=gen.max_concurrent_jobs,
            per_provider=gen.max_jobs_per_provider,
            per_user=gen.max_running_per_user,
            host_floor=DEFAULT_HOST_FLOOR,
        ),
        data_dir=data_dir,
        # PostgreSQL may be shared by several processes: each leases the jobs it works on.
        leases=LeaseSettings.for_this_process() if is_postgres(settings.storage.url) else None,
        image_cost=image_cost,
        metrics=metrics,
        balances=balances,
        pressure=pressure,
        polls=PollBudget(poll_rates(config)),
        hooks=hooks,
        public_url=webhook_base(config, hooks),
    )
    member_data = MemberData(
        store=store,
        jobs=jobs,
        data_dir=data_dir,
        keep_prompts_days=settings.storage.keep_prompts_days,
    )
    return Services(
        config=config,
        store=store,
        session=session,
        inputs=inputs,
        providers=providers,
        data_dir=data_dir,
        credits=credits,
        moderator=moderator,
        admission=admission,
        jobs=jobs,
        notifier=notifier,
        audit=audit,
        metrics=metrics,
        balances=balances,
        member_data=member_data,
        pressure=pressure,
    )


def poll_rates(config: Config) -> dict[str, float]:
    """Status requests per second per host, where the configuration sets them."""
    providers = config.settings.providers
    rates = {name: getattr(providers, name).polls_per_s for name in KEYED_PROVIDERS}
    return {name: rate for name, rate in rates.items() if rate is not None}


def webhook_base(config: Config, hooks: WebhookRegistry | None) -> str:
    """`http.public_url` when hosts can push to it: it needs the HTTP server and its registry."""
    http = config.settings.http
    if not http.public_url:
        return ""
    if not http.listen or hooks is None:
        log.warning(
            "http.public_url is set but http.listen is not: hosts' pushes go nowhere; polling"
        )
        return ""
    return http.public_url
