"""Image editing three ways: /edit with attachments, the "Edit image" context menu, Vary and Edit
buttons on a result. All three screen the member and prompt before fetching any input image,
then share the job flow of cogs.jobflow.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

import discord
from discord import app_commands
from discord.ext import commands

from cogs.client import WanBot
from cogs.jobflow import JobFlow
from cogs.render.i18n import _
from cogs.respond import acknowledged_if_slow, locale_of, requester_of
from cogs.slash import EDIT, server_command
from cogs.ui.edit import EditModal, ImageSource, VaryMenu, VarySelect, sources_of
from wanbot.admission import Ask
from wanbot.errors import Refusal, RefusalReason
from wanbot.fetch import InputFetcher
from wanbot.inputs import Offered, precheck
from wanbot.options import build_request, suffixed
from wanbot.preferences import pick
from wanbot.providers.models import ASPECT_RATIOS, AspectRatio, InputImage

log = logging.getLogger(__name__)

MAX_EDIT_INPUTS = 4


def closest_ratio(width: int, height: int) -> AspectRatio:
    """The supported aspect ratio nearest the input's shape, so an edit keeps its framing."""
    shape = width / height

    def distance(ratio: str) -> float:
        w, h = (int(x) for x in ratio.split(":"))
        return abs(w / h - shape)

    return min(ASPECT_RATIOS, key=distance)


class Editing(commands.Cog):
    def __init__(
        self,
        *,
        flow: JobFlow,
        inputs: InputFetcher,
        tree: app_commands.CommandTree[Any],
    ) -> None:
        self.flow, self.store, self.actions = flow, flow.store, flow.actions
        self.inputs = inputs
        self.tree = tree
        self.menu = app_commands.ContextMenu(name="Edit image", callback=self.edit_image_menu)
        self.menu.guild_only = True

    async def cog_load(self) -> None:
        self.tree.add_command(self.menu)
        self.actions.register("vary", self.vary)
        self.actions.register("edit", self.edit_result)

    async def cog_unload(self) -> None:
        self.tree.remove_command(self.menu.name, type=self.menu.type)
        for action in ("vary", "edit"):
            self.actions.unregister(action)

    # -- the shared path -------------------------------------------------------------------
    async def run_edit(
        self,
        interaction: discord.Interaction[Any],
        prompt: str,
        sources: list[ImageSource],
        *,
        n: int | None = None,
        seed: int | None = None,
        provider: str | None = None,
        private: bool | None = None,
        parent_job_id: str | None = None,
    ) -> None:
        assert interaction.guild_id is not None
        if not sources:
            raise Refusal(RefusalReason.NO_IMAGE)
        if len(sources) > MAX_EDIT_INPUTS:
            raise Refusal(
                RefusalReason.TOO_MANY_IMAGES, {"limit": MAX_EDIT_INPUTS, "count": len(sources)}
            )
        for source in sources:
            precheck(source.offered)
        requester = requester_of(interaction)
        # Reading saved defaults, screening and fetching large inputs may outlast Discord's 3 s:
        # acknowledge ("thinking…") once 1.5 s have passed, whatever is still being waited for.
        async with self.flow.turns.turn(
            interaction, ephemeral=self.flow.visibility(interaction, private)
        ):
            saved = await self.flow.admission.defaults(
                interaction.guild_id, interaction.user.id, provider, edit=True
            )
        private = bool(pick(private, saved.private))
        ask = Ask(kind="edit", provider=provider, private=private, parent_job_id=parent_job_id)
        count = pick(n, saved.n) or 1
        # Screen first, then fetch: a refused member makes the bot download nothing.
        async with self.flow.turns.turn(interaction, ephemeral=private):
            cleared = await self.flow.admission.precheck(
                requester, suffixed(prompt, saved.suffix), provider
            )
        async with acknowledged_if_slow(interaction, ephemeral=private):
            inputs = await self._fetch_all(sources)
        try:
            first = inputs[0]
            request = build_request(
                prompt=prompt,
                negative_prompt=saved.negative_prompt,
                size=saved.size,
                n=count,
                seed=seed,
                thinking=saved.thinking,
                input_images=inputs,
                aspect_ratio=closest_ratio(first.width, first.height),
                suffix=saved.suffix,
            )
            await self.flow.start(interaction, request, ask, cleared)
        except Refusal:
            await asyncio.to_thread(_forget_inputs, inputs)
            raise

    async def _run_from_ui(
        self,
        interaction: discord.Interaction[Any],
        prompt: str,
        sources: list[ImageSource],
        n: int,
        parent_job_id: str | None,
    ) -> None:
        await self.run_edit(interaction, prompt, sources, n=n, parent_job_id=parent_job_id)

    async def _fetch_all(self, sources: list[ImageSource]) -> list[InputImage]:
        """Every input fetched (from Discord's CDN only) and kept, or none: when one is refused,
        the copies of the others are deleted and the first refusal raised."""
        got = await asyncio.gather(
            *(self.inputs.keep(s.url, s.offered.filename) for s in sources),
            return_exceptions=True,
        )
        kept = [g for g in got if isinstance(g, InputImage)]
        failed = [g for g in got if isinstance(g, BaseException)]
        if failed:
            await asyncio.to_thread(_forget_inputs, kept)
            raise failed[0]
        return kept

    # -- /edit -----------------------------------------------------------------------------
    @server_command("edit", "Edit images with a prompt", EDIT)
    async def edit(
        self,
        interaction: discord.Interaction[Any],
        prompt: app_commands.Range[str, 1, 6000],
        image: discord.Attachment,
        image2: discord.Attachment | None = None,
        image3: discord.Attachment | None = None,
        image4: discord.Attachment | None = None,
        n: app_commands.Range[int, 1, 4] | None = None,
        seed: app_commands.Range[int, 0, 2147483647] | None = None,
        provider: str | None = None,
        private: bool | None = None,
    ) -> None:
        attachments = [a for a in (image, image2, image3, image4) if a is not None]
        sources = [
            ImageSource(a.url, Offered(a.filename, a.size, a.content_type, a.width, a.height))
            for a in attachments
        ]
        await self.run_edit(
            interaction, prompt, sources, n=n, seed=seed, provider=provider, private=private
        )

    @edit.autocomplete("provider")
    async def _provider_autocomplete(
        self, interaction: discord.Interaction[Any], current: str
    ) -> list[app_commands.Choice[str]]:
        return self.flow.provider_choices(current)

    # -- context menu and buttons ----------------------------------------------------------
    async def edit_image_menu(
        self, interaction: discord.Interaction[Any], message: discord.Message
    ) -> None:
        sources = sources_of(message)[:MAX_EDIT_INPUTS]
        if not sources:
            raise Refusal(RefusalReason.NO_IMAGE, {"where": "message"})
        await interaction.response.send_modal(
            EditModal(self._run_from_ui, sources, None, locale_of(interaction))
        )

    async def vary(self, interaction: discord.Interaction[Any], job_id: str) -> None:
        message = interaction.message
        sources = sources_of(message) if message else []
        if not sources:
            raise Refusal(RefusalReason.RESULT_IMAGES_GONE)
        async with self.flow.turns.turn(interaction, ephemeral=None):
            job = await self.store.get_job(job_id)
        if job is None:
            raise Refusal(RefusalReason.RESULT_IMAGES_GONE)
        if len(sources) == 1:
            prompt = job.request.typed_prompt
            await self.run_edit(interaction, prompt, sources, n=1, parent_job_id=job_id)
            return
        locale = locale_of(interaction)
        remix = self.actions.handler("remix")
        prompt = job.request.typed_prompt
        choice = VarySelect(self._run_from_ui, job_id, prompt, sources, locale, remix)
        menu = VaryMenu(choice)
        question = _("Which image should I vary?", locale)
        if interaction.response.is_done():
            await interaction.followup.send(question, view=menu, ephemeral=True)
        else:
            await interaction.response.send_message(question, view=menu, ephemeral=True)

    async def edit_result(self, interaction: discord.Interaction[Any], job_id: str) -> None:
        message = interaction.message
        sources = sources_of(message)[:MAX_EDIT_INPUTS] if message else []
        if not sources:
            raise Refusal(RefusalReason.RESULT_IMAGES_GONE)
        await interaction.response.send_modal(
            EditModal(self._run_from_ui, sources, job_id, locale_of(interaction))
        )


def _forget_inputs(inputs: list[InputImage]) -> None:
    """Kept inputs of a job that was refused after all: nothing will need them."""
    for image in inputs:
        Path(image.path).unlink(missing_ok=True)


async def setup(bot: WanBot) -> None:
    await bot.add_cog(Editing(flow=bot.job_flow, inputs=bot.services.inputs, tree=bot.tree))
