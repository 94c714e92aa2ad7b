"""A member's own settings and budget: /set (saved defaults) and /credits."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import discord
from discord import app_commands
from discord.ext import commands

from cogs.client import WanBot
from cogs.render import account as render
from cogs.render import prompts as render_prompts
from cogs.render import wallets as render_wallets
from cogs.respond import NO_PINGS, locale_of
from cogs.slash import SET_DEFAULTS, server_command
from wanbot.credits import CreditPolicy, credit_summary
from wanbot.options import MAX_SUFFIX
from wanbot.preferences import Preferences
from wanbot.providers.models import AspectRatio, SizeTier
from wanbot.store.base import Store


class Account(commands.Cog):
    def __init__(
        self,
        *,
        store: Store,
        credits: CreditPolicy,
        remember_private: Callable[[int, int, bool], None],
    ) -> None:
        self.store = store
        self.policy = credits
        self.remember_private = remember_private  # acknowledgements in a burst follow /set

    @server_command("set", "Show or change your default image options", SET_DEFAULTS)
    async def set_defaults(
        self,
        interaction: discord.Interaction[Any],
        aspect_ratio: AspectRatio | None = None,
        size: SizeTier | None = None,
        n: app_commands.Range[int, 1, 4] | None = None,
        negative_prompt: app_commands.Range[str, 1, 500] | None = None,
        thinking: bool | None = None,
        private: bool | None = None,
        reset: bool | None = None,
        suffix: app_commands.Range[str, 1, MAX_SUFFIX] | None = None,
    ) -> None:
        assert interaction.guild_id is not None
        locale = locale_of(interaction)
        guild_id, user_id = interaction.guild_id, interaction.user.id
        changes = (aspect_ratio, size, n, negative_prompt, thinking, private, suffix)
        current = Preferences() if reset else await self._load(guild_id, user_id)
        if not reset and all(c is None for c in changes):
            await self._reply(interaction, self._defaults(current, None, locale))
            return
        updated = current.updated(
            aspect_ratio=aspect_ratio,
            size=size,
            n=n,
            negative_prompt=negative_prompt,
            thinking=thinking,
            private=private,
            suffix=suffix,
        )
        await self.store.save_preferences(guild_id, user_id, updated.to_stored())
        self.remember_private(guild_id, user_id, bool(updated.private))
        head = "cleared" if reset and updated.empty else "saved"
        await self._reply(interaction, self._defaults(updated, head, locale))

    @staticmethod
    def _defaults(prefs: Preferences, head: str | None, locale: str) -> str:
        text = render.defaults_reply(prefs, head, locale)
        suffix = render_prompts.suffix_setting(prefs, locale)
        return f"{text}\n{suffix}" if suffix else text

    async def _load(self, guild_id: int, user_id: int) -> Preferences:
        return Preferences.from_stored(await self.store.get_preferences(guild_id, user_id))

    @server_command("credits", "Your credits, allowance and recent activity")
    async def credits(self, interaction: discord.Interaction[Any]) -> None:
        assert interaction.guild_id is not None
        roles = [r.id for r in getattr(interaction.user, "roles", [])]
        now = time.time()
        summary = await credit_summary(
            self.store, self.policy, interaction.guild_id, interaction.user.id, roles, now
        )
        locale = locale_of(interaction)
        text = render.credits_summary(summary, locale)
        wallets = render_wallets.member_wallets(summary.wallets, now, locale)
        await self._reply(interaction, f"{text}\n{wallets}" if wallets else text)

    @staticmethod
    async def _reply(interaction: discord.Interaction[Any], text: str) -> None:
        await interaction.response.send_message(
            text[:2000], ephemeral=True, allowed_mentions=NO_PINGS
        )


async def setup(bot: WanBot) -> None:
    admission = bot.services.admission
    await bot.add_cog(
        Account(
            store=bot.services.store,
            credits=bot.services.credits,
            remember_private=admission.remember_private,
        )
    )
