"""The credit policy's part in team wallets: which wallet pays, and the refill periods."""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

from cogs.admin_wallets import WalletAdmin, clean_name
from wanbot.config import CreditsConfig
from wanbot.credits import CreditPolicy, choose_wallet, period_keys
from wanbot.errors import Refusal
from wanbot.store import SQLiteStore
from wanbot.store.base import NewWallet, Wallet, WalletFunds


def funds(name: str, balance: int, created_at: float) -> WalletFunds:
    wallet = Wallet(name * 32, 1, name, 7, 10, "daily", None, created_at=created_at)
    return WalletFunds(wallet, balance)


def test_the_wallet_with_the_most_left_that_covers_the_job_pays() -> None:
    a, b, c = funds("a", 10, 1.0), funds("b", 12, 2.0), funds("c", 3, 0.0)
    assert choose_wallet([a, b, c], 4) is b
    assert choose_wallet([a, c], 4) is a
    assert choose_wallet([a, b], 11) is b
    assert choose_wallet([a, b], 13) is None  # nobody can pay it all: the member pays
    assert choose_wallet([], 1) is None


def test_on_a_tie_the_oldest_wallet_pays() -> None:
    older, newer = funds("o", 8, 1.0), funds("n", 8, 2.0)
    assert choose_wallet([newer, older], 8) is older


def test_period_keys_name_each_wallet_period() -> None:
    now = dt.datetime(2026, 3, 2, 12, tzinfo=dt.UTC).timestamp()  # a Monday
    assert period_keys(now) == {
        "daily": "2026-03-02",
        "weekly": "2026-W10",
        "monthly": "2026-03",
        "never": "initial",
    }
    terms = CreditPolicy(CreditsConfig()).wallet_terms(now, [5, 6])
    assert terms.role_ids == (5, 6) and terms.period_keys == period_keys(now)
    assert terms.choose is choose_wallet


def test_wallet_names_are_cleaned() -> None:
    assert clean_name("  Design \u200b  team\n") == "Design team"
    for bad in ("\u200b", "x" * 41):
        try:
            clean_name(bad)
        except Refusal as e:
            assert e.details["problem"] == "bad_name"
        else:
            raise AssertionError(f"{bad!r} was accepted")


async def test_wallet_name_autocomplete_offers_live_wallets(tmp_path: Path) -> None:
    store = await SQLiteStore.open(tmp_path / "wanbot.db")
    try:
        keys = period_keys(0.0)
        for wallet_id, name in (("1", "Design team"), ("2", "Marketing"), ("3", "Old design")):
            await store.create_wallet(NewWallet(wallet_id * 32, 1, name, 7, 5, "daily", 1), keys)
        await store.delete_wallet(1, "Old design")
        admin = cast(Any, SimpleNamespace(store=store))
        interaction = cast(Any, SimpleNamespace(guild_id=1))
        complete = cast(Callable[..., Awaitable[list[Any]]], WalletAdmin._wallet_names)
        found = await complete(admin, interaction, "DES")
        assert [c.value for c in found] == ["Design team"]
    finally:
        await store.close()
