"""Budget policy: allowances by role, team wallets, which refill is due when, and the daily
spending window."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from wanbot.config import CreditsConfig
from wanbot.store.base import (
    Activity,
    Budget,
    LedgerStore,
    SpendCaps,
    WalletFunds,
    WalletStore,
    WalletTerms,
)
from wanbot.store.models import WALLET_PERIODS

RECENT = 5


def _utc(now: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(now, tz=dt.UTC)


def period_key(period: str, now: float) -> str | None:
    """A name for the refill period containing `now` (UTC); one refill is allowed per name."""
    day = _utc(now).date()
    if period == "daily":
        return day.isoformat()
    if period == "weekly":
        year, week, _ = day.isocalendar()
        return f"{year}-W{week:02d}"
    if period == "monthly":
        return f"{day.year}-{day.month:02d}"
    return "initial"  # "never": one allowance when the member first appears, no refills


def next_refill(period: str, now: float) -> float | None:
    """When the next period starts (UTC), or None when the allowance never refills."""
    day = _utc(now).date()
    if period == "daily":
        start = day + dt.timedelta(days=1)
    elif period == "weekly":
        start = day + dt.timedelta(days=7 - day.weekday())
    elif period == "monthly":
        start = (day.replace(day=1) + dt.timedelta(days=32)).replace(day=1)
    else:
        return None
    return dt.datetime.combine(start, dt.time(), tzinfo=dt.UTC).timestamp()


def period_keys(now: float) -> dict[str, str | None]:
    """Every wallet period's refill period containing `now`: what a wallet's refill is keyed by."""
    return {period: period_key(period, now) for period in WALLET_PERIODS}


def choose_wallet(offered: Sequence[WalletFunds], cost: int) -> WalletFunds | None:
    """The team wallet that pays a job costing `cost`: of the member's wallets that can pay all of
    it, the one with the most left (on a tie, the oldest). None: the member pays from their own
    allowance. A job is never split between payers."""
    able = [f for f in offered if f.balance >= cost]
    if not able:
        return None
    return min(able, key=lambda f: (-f.balance, f.wallet.created_at, f.wallet.id))


def day_start(now: float) -> float:
    day = _utc(now).date()
    return dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC).timestamp()


class CreditPolicy:
    def __init__(self, config: CreditsConfig) -> None:
        self.config = config

    def budget(self, now: float, allowance: int | None = None) -> Budget:
        chosen = self.config.allowance if allowance is None else allowance
        return Budget(allowance=chosen, period_key=period_key(self.config.period, now))

    def caps(self, now: float) -> SpendCaps:
        return SpendCaps(
            day_start=day_start(now),
            per_guild=self.config.daily_cap_per_guild,
            total=self.config.daily_cap_total,
        )

    def allowance_for(self, role_ids: Iterable[int]) -> tuple[int, int | None]:
        """(allowance, role id it comes from or None): the best of the member's configured
        roles, else the server-wide allowance."""
        found = role_allowance(role_ids, self.config.role_allowances)
        if found is None:
            return self.config.allowance, None
        return found

    def next_refill(self, now: float) -> float | None:
        return next_refill(self.config.period, now)

    def wallet_terms(self, now: float, role_ids: Iterable[int]) -> WalletTerms:
        """How a member's team wallets pay at `now`: those of their roles, by `choose_wallet`."""
        return WalletTerms(tuple(role_ids), period_keys(now), choose_wallet)


def role_allowance(role_ids: Iterable[int], table: Mapping[str, int]) -> tuple[int, int] | None:
    """(allowance, role id) of the member's best-provided role in `table`, or None."""
    best: tuple[int, int] | None = None
    for role_id in role_ids:
        amount = table.get(str(role_id))
        if amount is not None and (best is None or amount > best[0]):
            best = (amount, role_id)
    return best


@dataclass(frozen=True)
class CreditSummary:
    """What /credits shows: the balance after any refill due, where the allowance comes from."""

    balance: int
    allowance: int
    role_id: int | None
    period: str
    refills_at: float | None
    held: int
    recent: tuple[Activity, ...]
    wallets: tuple[WalletFunds, ...] = ()  # the member's team wallets, which pay first


class CreditStore(LedgerStore, WalletStore, Protocol):
    """What a member's credit summary reads: their ledger and their team wallets."""


async def credit_summary(
    store: CreditStore,
    policy: CreditPolicy,
    guild_id: int,
    user_id: int,
    role_ids: Iterable[int],
    now: float,
) -> CreditSummary:
    roles = list(role_ids)
    allowance, role_id = policy.allowance_for(roles)
    balance = await store.balance(guild_id, user_id, policy.budget(now, allowance))
    held = await store.held_credits(guild_id, user_id)
    recent = await store.activity(guild_id, user_id, RECENT)
    wallets = await store.wallets(guild_id, period_keys(now), roles) if roles else []
    return CreditSummary(
        balance=balance,
        allowance=allowance,
        role_id=role_id,
        period=policy.config.period,
        refills_at=policy.next_refill(now),
        held=held,
        recent=tuple(recent),
        wallets=tuple(sorted(wallets, key=lambda f: (-f.balance, f.wallet.created_at))),
    )
