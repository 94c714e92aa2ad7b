"""Remix: a result's prompt in a box to change, then the same options run again with the new
words, charged to whoever clicked, its caption linking to the result it came from."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import discord
from discord.ext import commands

from cogs.client import WanBot
from cogs.jobflow import JobFlow
from cogs.respond import locale_of
from cogs.ui.remix import RemixModal
from wanbot.admission import Ask
from wanbot.errors import Refusal, RefusalReason
from wanbot.options import remixed
from wanbot.store.base import Job

log = logging.getLogger(__name__)


class Remix(commands.Cog):
    def __init__(self, *, flow: JobFlow) -> None:
        self.flow, self.admission = flow, flow.admission
        self.store, self.actions = flow.store, flow.actions

    async def cog_load(self) -> None:
        self.actions.register("remix", self.open_remix)

    async def cog_unload(self) -> None:
        self.actions.unregister("remix")

    async def open_remix(self, interaction: discord.Interaction[Any], job_id: str) -> None:
        """The Remix button (or Vary's Remix choice): the box, filled in with the job's words.
        A modal must be the first answer, so nothing here may outlast Discord's 3 s."""
        job = await self._remixable(job_id)
        request = job.request
        providers = self.admission.providers.providers
        negative_allowed = job.provider in providers and (
            providers[job.provider].capabilities.negative_prompt
        )
        modal = RemixModal(
            self.run_remix,
            job.id,
            request.typed_prompt,
            request.negative_prompt,
            ask_negative=bool(request.negative_prompt) or negative_allowed,
            locale=locale_of(interaction),
        )
        await interaction.response.send_modal(modal)

    async def run_remix(
        self,
        interaction: discord.Interaction[Any],
        job_id: str,
        prompt: str,
        negative_prompt: str | None,
    ) -> None:
        assert interaction.guild_id is not None
        async with self.flow.turns.turn(interaction, ephemeral=None):
            job = await self._remixable(job_id)
            # The clicker's own suffix, not the original's: they are the one asking.
            saved = await self.admission.defaults(
                interaction.guild_id, interaction.user.id, job.provider, edit=job.kind == "edit"
            )
        request = remixed(
            job.request, prompt=prompt, negative_prompt=negative_prompt, suffix=saved.suffix
        )
        ask = Ask(kind=job.kind, provider=job.provider, private=job.private, parent_job_id=job.id)
        await self.flow.start(interaction, request, ask)

    async def _remixable(self, job_id: str) -> Job:
        job = await self.store.get_job(job_id)
        if job is None:
            raise Refusal(RefusalReason.JOB_GONE)
        if not _inputs_kept(job):
            raise Refusal(RefusalReason.INPUTS_GONE)
        return job


def _inputs_kept(job: Job) -> bool:
    """An edit remixes the images it started from, if they are still kept."""
    return all(Path(image.path).exists() for image in job.request.input_images)


async def setup(bot: WanBot) -> None:
    await bot.add_cog(Remix(flow=bot.job_flow))
