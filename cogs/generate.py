"""/imagine, and the job buttons every result carries: cancel, reroll, delete."""

from __future__ import annotations

import contextlib
import logging
import random
from pathlib import Path
from typing import Any, Literal

import discord
from discord import app_commands
from discord.ext import commands

from cogs.client import WanBot
from cogs.jobflow import JobFlow
from cogs.render import jobs as render_jobs
from cogs.respond import acknowledged_if_slow, locale_of, reply
from cogs.slash import IMAGINE, server_command
from cogs.ui.actions import may_moderate
from wanbot.admission import Ask
from wanbot.errors import Refusal, RefusalReason
from wanbot.options import build_request
from wanbot.preferences import pick
from wanbot.providers.models import MAX_SEED, GenerationRequest

log = logging.getLogger(__name__)

AspectChoice = Literal["1:1", "16:9", "9:16", "4:3", "3:4", "5:4", "4:5"]
SizeChoice = Literal["1K", "2K", "4K"]


class Generation(commands.Cog):
    """/imagine and the actions on a job that need no input image."""

    def __init__(self, *, flow: JobFlow) -> None:
        self.flow = flow
        self.store = flow.store
        self.actions = flow.actions

    async def cog_load(self) -> None:
        self.actions.register("cancel", self.cancel)
        self.actions.register("reroll", self.reroll)
        self.actions.register("delete", self.delete)

    async def cog_unload(self) -> None:
        for action in ("cancel", "reroll", "delete"):
            self.actions.unregister(action)

    # -- buttons ---------------------------------------------------------------------------
    async def cancel(self, interaction: discord.Interaction[Any], job_id: str) -> None:
        # The store may be busy for longer than Discord waits: acknowledged if slow.
        async with acknowledged_if_slow(interaction, ephemeral=True):
            job = await self.store.get_job(job_id)
            if job is None:
                raise Refusal(RefusalReason.JOB_GONE)
            if interaction.user.id != job.user_id and not may_moderate(interaction):
                raise Refusal(RefusalReason.NOT_OWNER, {"action": "cancel"})
            result = await self.flow.jobs.cancel(job_id)
        await reply(interaction, render_jobs.cancel_reply(result, locale_of(interaction)))

    async def delete(self, interaction: discord.Interaction[Any], job_id: str) -> None:
        await interaction.response.defer()
        job = await self.store.get_job(job_id)
        owner = job.user_id if job else None
        if interaction.user.id != owner and not may_moderate(interaction):
            raise Refusal(RefusalReason.NOT_OWNER, {"action": "delete"})
        await interaction.delete_original_response()
        if job is not None:
            channel = interaction.client.get_partial_messageable(job.channel_id)
            clicked = interaction.message.id if interaction.message else None
            for message_id in job.message_ids:
                if message_id != clicked:
                    with contextlib.suppress(discord.HTTPException):
                        await channel.get_partial_message(message_id).delete()

    async def reroll(self, interaction: discord.Interaction[Any], job_id: str) -> None:
        async with self.flow.turns.turn(interaction, ephemeral=None):
            job = await self.store.get_job(job_id)
        if job is None:
            raise Refusal(RefusalReason.JOB_GONE)
        if not _inputs_kept(job.request):
            raise Refusal(RefusalReason.INPUTS_GONE)
        request = job.request.model_copy(update={"seed": random.randint(0, MAX_SEED)})
        ask = Ask(kind=job.kind, provider=job.provider, private=job.private, parent_job_id=job.id)
        await self.flow.start(interaction, request, ask)

    # -- commands --------------------------------------------------------------------------
    @server_command("imagine", "Make images from a prompt", IMAGINE)
    async def imagine(
        self,
        interaction: discord.Interaction[Any],
        prompt: app_commands.Range[str, 1, 6000],
        negative_prompt: app_commands.Range[str, 1, 2000] | None = None,
        aspect_ratio: AspectChoice | None = None,
        size: SizeChoice | None = None,
        n: app_commands.Range[int, 1, 12] | None = None,
        seed: app_commands.Range[int, 0, 2147483647] | None = None,
        thinking: bool | None = None,
        image_set: bool | None = None,
        palette: app_commands.Range[str, 1, 200] | None = None,
        provider: str | None = None,
        private: bool | None = None,
    ) -> None:
        assert interaction.guild_id is not None
        async with self.flow.turns.turn(
            interaction, ephemeral=self.flow.visibility(interaction, private)
        ):
            saved = await self.flow.admission.defaults(
                interaction.guild_id, interaction.user.id, provider, edit=False
            )
        request = build_request(
            prompt=prompt,
            negative_prompt=pick(negative_prompt, saved.negative_prompt),
            aspect_ratio=pick(aspect_ratio, saved.aspect_ratio),
            size=pick(size, saved.size),
            n=pick(n, saved.n),
            seed=seed,
            thinking=pick(thinking, saved.thinking),
            image_set=image_set,
            palette=palette,
            suffix=saved.suffix,
        )
        ask = Ask(kind="imagine", provider=provider, private=bool(pick(private, saved.private)))
        await self.flow.start(interaction, request, ask)

    @imagine.autocomplete("provider")
    async def _provider_autocomplete(
        self, interaction: discord.Interaction[Any], current: str
    ) -> list[app_commands.Choice[str]]:
        return self.flow.provider_choices(current)


def _inputs_kept(request: GenerationRequest) -> bool:
    return all(Path(image.path).exists() for image in request.input_images)


async def setup(bot: WanBot) -> None:
    await bot.add_cog(Generation(flow=bot.job_flow))
