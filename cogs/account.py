"""A member's own settings and budget: /set (saved defaults) and /credits."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import discord
from discord import app_commands
from discord.ext import commands

from cogs import render
from wanbot.credits import next_refill
from wanbot.moderation import role_allowance
from wanbot.preferences import Preferences
from wanbot.providers.models import AspectRatio, SizeTier
from wanbot.store.base import Activity

if TYPE_CHECKING:
    from cogs.client import WanBot

RECENT = 5
PER_PERIOD = {"daily": "a day", "weekly": "a week", "monthly": "a month"}
SET_HINT = "Change them with /set aspect_ratio:... n:... — or /set reset:true."


def member_allowance(bot: WanBot, member: discord.abc.User) -> tuple[int, int | None]:
    """(allowance, role id it comes from or None): the best of the member's configured roles,
    else the server-wide allowance."""
    credits = bot.config.settings.credits
    roles = [r.id for r in getattr(member, "roles", [])]
    found = role_allowance(roles, credits.role_allowances)
    if found is None:
        return credits.allowance, None
    return found


def _signed(amount: int) -> str:
    return f"+{amount}" if amount >= 0 else f"−{-amount}"


def describe_activity(entry: Activity, period: str) -> str:
    """One ledger entry as /credits lists it: `−4 /imagine "a red fox…"`, `+50 daily refill`."""
    amount = _signed(entry.amount)
    if entry.kind == "hold":
        prompt = render.safe(entry.prompt or "", 20)
        return f'{amount} /{entry.job_kind or "imagine"} "{prompt}"'
    if entry.kind == "release":
        why = {"failed": "failed", "cancelled": "cancelled", "done": "not delivered"}.get(
            entry.job_state or "", "returned"
        )
        return f"{amount} refund ({why})"
    if entry.kind == "refill":
        return f"{amount} {period} refill" if period in PER_PERIOD else f"{amount} allowance"
    who = f"<@{entry.actor_id}>" if entry.actor_id else "the bot"
    text = f"{amount} from {who}" if entry.kind == "grant" else f"{amount} removed by {who}"
    if entry.reason:
        text += f" ({render.safe(entry.reason, 40)})"
    return text


async def credits_summary(bot: WanBot, guild_id: int, member: discord.abc.User) -> str:
    """Balance (after any refill due), allowance, next refill and the latest entries."""
    now = time.time()
    allowance, role_id = member_allowance(bot, member)
    period = bot.credits.config.period
    balance = await bot.store.balance(guild_id, member.id, bot.credits.budget(now, allowance))
    held = await bot.store.held_credits(guild_id, member.id)
    recent = await bot.store.activity(guild_id, member.id, RECENT)
    parts = [f"{balance} credit" if balance == 1 else f"{balance} credits"]
    source = f" (from <@&{role_id}>)" if role_id else ""
    if period in PER_PERIOD:
        parts.append(f"allowance {allowance} {PER_PERIOD[period]}{source}")
        when = next_refill(period, now)
        if when is not None:
            parts.append(f"refills <t:{int(when)}:R>")
    else:
        parts.append(f"allowance {allowance}{source}, no refills (ask a server admin for more)")
    if held:
        parts.append(f"{held} held for unfinished jobs")
    lines = [" · ".join(parts)]
    if recent:
        shown = " · ".join(describe_activity(e, period) for e in recent)
        lines.append(f"Last {len(recent)}: {shown}")
    else:
        lines.append("No activity yet.")
    return "\n".join(lines)


class Account(commands.Cog):
    def __init__(self, bot: WanBot) -> None:
        self.bot = bot

    @app_commands.command(name="set", description="Show or change your default image options")
    @app_commands.guild_only()
    @app_commands.describe(
        aspect_ratio="Default shape of the image",
        size="Default resolution tier",
        n="Default number of images (1-4)",
        negative_prompt='What to keep out of your images by default ("none" clears it)',
        thinking="The model's thinking mode by default",
        private="Only you see your results by default",
        reset="Forget every default (options given with it are then saved)",
    )
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
    ) -> None:
        assert interaction.guild_id is not None
        store = self.bot.store
        guild_id, user_id = interaction.guild_id, interaction.user.id
        changes = (aspect_ratio, size, n, negative_prompt, thinking, private)
        current = Preferences() if reset else await self._load(guild_id, user_id)
        if not reset and all(c is None for c in changes):
            await self._reply(interaction, f"Your defaults: {current.describe()}\n{SET_HINT}")
            return
        updated = current.updated(
            aspect_ratio=aspect_ratio,
            size=size,
            n=n,
            negative_prompt=negative_prompt,
            thinking=thinking,
            private=private,
        )
        await store.save_preferences(guild_id, user_id, updated.to_stored())
        head = "Defaults cleared." if reset and updated.empty else "Saved."
        await self._reply(interaction, f"{head} Your defaults: {updated.describe()}\n{SET_HINT}")

    async def _load(self, guild_id: int, user_id: int) -> Preferences:
        return Preferences.from_stored(await self.bot.store.get_preferences(guild_id, user_id))

    @app_commands.command(name="credits", description="Your credits, allowance and recent activity")
    @app_commands.guild_only()
    async def credits(self, interaction: discord.Interaction[Any]) -> None:
        assert interaction.guild_id is not None
        text = await credits_summary(self.bot, interaction.guild_id, interaction.user)
        await self._reply(interaction, text)

    @staticmethod
    async def _reply(interaction: discord.Interaction[Any], text: str) -> None:
        await interaction.response.send_message(
            text[:2000], ephemeral=True, allowed_mentions=discord.AllowedMentions.none()
        )


async def setup(bot: WanBot) -> None:
    await bot.add_cog(Account(bot))
