"""The budget policy without Discord: refill periods in UTC, the daily window of the spend caps,
allowances by role, and what /credits shows, read from a real SQLite file."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from tests.jobs.kit import GUILD, USER, open_kit
from wanbot.config import CreditsConfig
from wanbot.credits import CreditPolicy, credit_summary, day_start, next_refill, period_key


def at(text: str) -> float:
    return dt.datetime.fromisoformat(text).replace(tzinfo=dt.UTC).timestamp()


@pytest.mark.parametrize(
    ("period", "when", "key", "next_at"),
    [
        ("daily", "2025-03-09 23:59:59", "2025-03-09", "2025-03-10 00:00:00"),
        ("daily", "2025-03-10 00:00:00", "2025-03-10", "2025-03-11 00:00:00"),
        ("weekly", "2025-03-09 12:00:00", "2025-W10", "2025-03-10 00:00:00"),  # a Sunday
        ("weekly", "2025-03-10 00:00:00", "2025-W11", "2025-03-17 00:00:00"),  # the Monday
        ("weekly", "2024-12-30 08:00:00", "2025-W01", "2025-01-06 00:00:00"),  # ISO year
        ("monthly", "2025-01-31 22:00:00", "2025-01", "2025-02-01 00:00:00"),
        ("monthly", "2024-12-15 00:00:00", "2024-12", "2025-01-01 00:00:00"),
        ("never", "2025-03-09 12:00:00", "initial", None),
    ],
)
def test_periods_and_their_next_refill_in_utc(
    period: str, when: str, key: str, next_at: str | None
) -> None:
    assert period_key(period, at(when)) == key
    assert next_refill(period, at(when)) == (None if next_at is None else at(next_at))


def test_the_spend_caps_count_from_midnight_utc() -> None:
    policy = CreditPolicy(CreditsConfig(daily_cap_per_guild=40, daily_cap_total=100))
    caps = policy.caps(at("2025-03-09 17:30:00"))
    assert caps.day_start == day_start(at("2025-03-09 17:30:00")) == at("2025-03-09 00:00:00")
    assert (caps.per_guild, caps.total) == (40, 100)


def test_budget_uses_the_allowance_given_or_the_configured_one() -> None:
    policy = CreditPolicy(CreditsConfig(allowance=50, period="weekly"))
    now = at("2025-03-12 09:00:00")
    assert policy.budget(now).allowance == 50
    assert policy.budget(now, 120).allowance == 120
    assert policy.budget(now).period_key == "2025-W11"


def test_allowance_by_role_is_the_best_configured_else_the_default() -> None:
    policy = CreditPolicy(CreditsConfig(allowance=50, role_allowances={"7": 10, "8": 200}))
    assert policy.allowance_for([]) == (50, None)
    assert policy.allowance_for([3]) == (50, None)
    assert policy.allowance_for([7]) == (10, 7)  # a role can also limit
    assert policy.allowance_for([7, 8, 3]) == (200, 8)


async def test_credit_summary_refills_then_shows_held_and_recent(tmp_path: Path) -> None:
    now = at("2025-03-12 09:00:00")
    async with open_kit(tmp_path, start=False, clock=lambda: now) as kit:
        policy = kit.admission.credits
        fresh = await credit_summary(kit.store, policy, GUILD, USER, [], now)
        assert (fresh.balance, fresh.allowance, fresh.held, fresh.role_id) == (50, 50, 0, None)
        assert fresh.refills_at == at("2025-03-13 00:00:00")
        assert [a.kind for a in fresh.recent] == ["refill"]

        admitted = await kit.admit(n=3)
        await kit.store.grant(GUILD, USER, 5, actor_id=1, reason="a prize")
        summary = await credit_summary(kit.store, policy, GUILD, USER, [], now)
        assert (summary.balance, summary.held) == (50 - 6 + 5, 6)
        assert [a.kind for a in summary.recent] == ["grant", "hold", "refill"]
        hold = summary.recent[1]
        assert (hold.amount, hold.job_kind, hold.prompt) == (-6, "imagine", "a red fox in snow")
        assert admitted.job.id
