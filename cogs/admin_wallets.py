"""/admin wallet create|grant|delete|list: team wallets, a role's shared budget.

A mixin of the /admin cog (cogs/admin.py), so these are subcommands of its group and pass its
Manage Server check. Members with the wallet's role spend from it before their own credits.
"""

from __future__ import annotations

import logging
import time
import unicodedata
import uuid
from typing import Any, Literal

import discord
from discord import app_commands
from discord.ext import commands

from cogs.audit import DiscordAudit
from cogs.render import wallets as render
from cogs.respond import NO_PINGS, locale_of
from cogs.slash import WALLET_CREATE
from wanbot.credits import CreditPolicy, period_keys
from wanbot.errors import Refusal, RefusalReason
from wanbot.store.base import NewWallet, Store

log = logging.getLogger(__name__)

MAX_WALLET_CREDITS = 1_000_000
MAX_NAME = 40
Period = Literal["daily", "weekly", "monthly", "never"]


def clean_name(text: str) -> str:
    """A wallet name as stored: one line, single spaces, no control or format characters."""
    kept = "".join(c for c in text if unicodedata.category(c) not in ("Cc", "Cf"))
    name = " ".join(kept.split())
    if not 1 <= len(name) <= MAX_NAME:
        raise Refusal(RefusalReason.WALLET_ADMIN, {"problem": "bad_name", "limit": MAX_NAME})
    return name


class WalletAdmin(commands.Cog):
    """The /admin wallet subcommands, mixed into the /admin cog, which sets the store, the
    credit policy and the audit log."""

    store: Store
    credits: CreditPolicy
    audit: DiscordAudit

    wallet = app_commands.Group(
        name="wallet", description="Team wallets: a budget a role shares (Manage Server)"
    )

    @wallet.command(name="create", description="Give a role a shared budget that refills")
    @app_commands.describe(**WALLET_CREATE)
    async def wallet_create(
        self,
        interaction: discord.Interaction[Any],
        name: app_commands.Range[str, 1, MAX_NAME],
        role: discord.Role,
        amount: app_commands.Range[int, 1, MAX_WALLET_CREDITS],
        period: Period | None = None,
    ) -> None:
        assert interaction.guild_id is not None
        now = time.time()
        new = NewWallet(
            id=uuid.uuid4().hex,
            guild_id=interaction.guild_id,
            name=clean_name(name),
            role_id=role.id,
            allowance=amount,
            period=period or self.credits.config.period,
            actor_id=interaction.user.id,
        )
        funds = await self.store.create_wallet(new, period_keys(now))
        log.info("wallet %s created in guild %s", new.id, new.guild_id)
        await self._wallet_reply(interaction, render.created(funds, now, locale_of(interaction)))
        await self._wallet_audit(interaction, render.audit_created(interaction.user.id, funds, now))

    @wallet.command(name="grant", description="Add credits to a team wallet")
    @app_commands.describe(name="Which wallet", amount="How many credits", reason="Why (kept)")
    async def wallet_grant(
        self,
        interaction: discord.Interaction[Any],
        name: app_commands.Range[str, 1, MAX_NAME],
        amount: app_commands.Range[int, 1, MAX_WALLET_CREDITS],
        reason: app_commands.Range[str, 1, 200] | None = None,
    ) -> None:
        assert interaction.guild_id is not None
        keys = period_keys(time.time())
        found = await self.store.grant_wallet(
            interaction.guild_id, name, amount, interaction.user.id, reason, keys
        )
        if found is None:
            raise Refusal(RefusalReason.WALLET_ADMIN, {"problem": "no_wallet", "name": name})
        funds, _refilled = found
        text = render.granted(funds, amount, locale_of(interaction))
        await self._wallet_reply(interaction, text)
        await self._wallet_audit(
            interaction, render.audit_granted(interaction.user.id, funds, amount)
        )

    @wallet.command(name="delete", description="Stop a team wallet paying for new jobs")
    @app_commands.describe(name="Which wallet")
    async def wallet_delete(
        self, interaction: discord.Interaction[Any], name: app_commands.Range[str, 1, MAX_NAME]
    ) -> None:
        assert interaction.guild_id is not None
        funds = await self.store.delete_wallet(interaction.guild_id, name)
        if funds is None:
            raise Refusal(RefusalReason.WALLET_ADMIN, {"problem": "no_wallet", "name": name})
        await self._wallet_reply(interaction, render.deleted(funds, locale_of(interaction)))
        await self._wallet_audit(interaction, render.audit_deleted(interaction.user.id, funds))

    @wallet.command(name="list", description="The team wallets and what they have left")
    async def wallet_list(self, interaction: discord.Interaction[Any]) -> None:
        assert interaction.guild_id is not None
        now = time.time()
        found = await self.store.wallets(interaction.guild_id, period_keys(now))
        await self._wallet_reply(
            interaction, render.wallet_list(found, now, locale_of(interaction))
        )

    @wallet_grant.autocomplete("name")
    @wallet_delete.autocomplete("name")
    async def _wallet_names(
        self, interaction: discord.Interaction[Any], current: str
    ) -> list[app_commands.Choice[str]]:
        if interaction.guild_id is None:
            return []
        found = await self.store.wallets(interaction.guild_id, {})
        wanted = current.casefold()
        names = [f.wallet.name for f in found if wanted in f.wallet.name.casefold()]
        return [app_commands.Choice(name=n, value=n) for n in names[:25]]

    @staticmethod
    async def _wallet_reply(interaction: discord.Interaction[Any], text: str) -> None:
        await interaction.response.send_message(
            text[:2000], ephemeral=True, allowed_mentions=NO_PINGS
        )

    async def _wallet_audit(self, interaction: discord.Interaction[Any], text: str) -> None:
        assert interaction.guild_id is not None
        settings = await self.store.guild_settings(interaction.guild_id)
        await self.audit.post(settings.audit_channel_id, text)
