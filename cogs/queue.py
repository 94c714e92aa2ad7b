"""/jobs: your own queued and running jobs in this server, each with a Cancel button."""

from __future__ import annotations

import time
from typing import Any

import discord
from discord.ext import commands

from cogs.client import WanBot
from cogs.render import queue as render
from cogs.respond import NO_PINGS, acknowledged_if_slow, locale_of
from cogs.slash import server_command
from cogs.ui.actions import JobButton
from wanbot.jobs.service import JobService


class Queue(commands.Cog):
    def __init__(self, *, jobs: JobService) -> None:
        self.jobs = jobs

    @server_command("jobs", "Your queued and running jobs in this server")
    async def member_jobs(self, interaction: discord.Interaction[Any]) -> None:
        assert interaction.guild_id is not None
        locale = locale_of(interaction)
        async with acknowledged_if_slow(interaction, ephemeral=True):
            entries = await self.jobs.member_jobs(interaction.guild_id, interaction.user.id)
        labels = [self.jobs.providers.label(e.job.provider) for e in entries]
        text = render.member_jobs(entries, labels, time.time(), locale)
        view = discord.ui.View(timeout=None)
        for index, entry in enumerate(entries[: render.MAX_SHOWN], start=1):
            if entry.cancellable:
                button = JobButton("cancel", entry.job.id)
                button.item.label = render.cancel_label(index, locale)
                view.add_item(button)
        shown = view if view.children else discord.utils.MISSING
        if interaction.response.is_done():
            await interaction.edit_original_response(
                content=text[:2000], view=shown, allowed_mentions=NO_PINGS
            )
        else:
            await interaction.response.send_message(
                text[:2000], view=shown, ephemeral=True, allowed_mentions=NO_PINGS
            )


async def setup(bot: WanBot) -> None:
    await bot.add_cog(Queue(jobs=bot.services.jobs))
