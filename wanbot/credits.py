"""Budget policy: which refill is due when, and the daily spending window."""

from __future__ import annotations

import datetime as dt

from wanbot.config import CreditsConfig
from wanbot.store.base import Budget, SpendCaps


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

    def refill_hint(self, now: float) -> str:
        when = next_refill(self.config.period, now)
        if when is None:
            return "Ask a server admin for more."
        return f"Your allowance refills <t:{int(when)}:R>."
