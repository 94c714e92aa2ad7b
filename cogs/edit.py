"""Image editing three ways: /edit with attachments, the "Edit image" context menu, Vary and Edit
buttons on a result. All three check the inputs before anything is charged, then share the
generation flow of cogs.generate.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import aiohttp
import discord
from discord import app_commands
from discord.ext import commands

from cogs.errors import guarded, reply
from cogs.generate import acknowledged_if_slow
from wanbot.errors import UserFacingError
from wanbot.inputs import MAX_INPUT_BYTES, Offered, precheck, store_input
from wanbot.options import build_request
from wanbot.preferences import pick
from wanbot.providers.models import ASPECT_RATIOS, AspectRatio, InputImage

if TYPE_CHECKING:
    from cogs.client import WanBot
    from cogs.generate import Generation

log = logging.getLogger(__name__)

MAX_EDIT_INPUTS = 4


@dataclass(frozen=True)
class ImageSource:
    """An image on Discord that can be fetched: an attachment or an embed image."""

    url: str
    offered: Offered


def sources_of(message: discord.Message) -> list[ImageSource]:
    found: list[ImageSource] = []
    for a in message.attachments:
        if (a.content_type or "").startswith("image/") or a.width:
            found.append(
                ImageSource(a.url, Offered(a.filename, a.size, a.content_type, a.width, a.height))
            )
    for embed in message.embeds:
        for media in (embed.image, embed.thumbnail):
            if media.url:
                name = media.url.rsplit("/", 1)[-1].split("?", 1)[0] or "embed-image"
                found.append(
                    ImageSource(media.url, Offered(name, 1, None, media.width, media.height))
                )
                break
    return found


def closest_ratio(width: int, height: int) -> AspectRatio:
    """The supported aspect ratio nearest the input's shape, so an edit keeps its framing."""
    shape = width / height

    def distance(ratio: str) -> float:
        w, h = (int(x) for x in ratio.split(":"))
        return abs(w / h - shape)

    return min(ASPECT_RATIOS, key=distance)


class EditModal(discord.ui.Modal, title="Edit image"):
    prompt: discord.ui.TextInput[EditModal] = discord.ui.TextInput(
        label="What should change?",
        style=discord.TextStyle.paragraph,
        max_length=4000,
        custom_id="wanbot:edit-modal:prompt",
    )
    count: discord.ui.TextInput[EditModal] = discord.ui.TextInput(
        label="How many images (1-4)",
        required=False,
        max_length=1,
        default="1",
        custom_id="wanbot:edit-modal:n",
    )

    def __init__(self, cog: Editing, sources: list[ImageSource], parent_job_id: str | None):
        super().__init__(timeout=600)
        self.cog = cog
        self.sources = sources
        self.parent_job_id = parent_job_id

    async def on_submit(self, interaction: discord.Interaction[Any]) -> None:
        text = (self.count.value or "1").strip()
        async with guarded(interaction, "edit modal"):
            if not text.isdigit() or not 1 <= int(text) <= 4:
                raise UserFacingError("How many images must be a number from 1 to 4.")
            await self.cog.run_edit(
                interaction,
                self.prompt.value,
                self.sources,
                n=int(text),
                parent_job_id=self.parent_job_id,
            )


class VarySelect(discord.ui.Select["VaryMenu"]):
    """Which result image to vary, when a result has several (lives as long as the reply)."""

    def __init__(self, cog: Editing, job_id: str, prompt: str, sources: list[ImageSource]):
        super().__init__(
            placeholder="Vary which image?",
            options=[
                discord.SelectOption(label=f"Vary image {i + 1}", value=str(i))
                for i in range(len(sources))
            ],
        )
        self.cog = cog
        self.job_id = job_id
        self.prompt = prompt
        self.sources = sources

    async def callback(self, interaction: discord.Interaction[Any]) -> None:
        source = self.sources[int(self.values[0])]
        async with guarded(interaction, "vary select"):
            await self.cog.run_edit(
                interaction, self.prompt, [source], n=1, parent_job_id=self.job_id
            )


class VaryMenu(discord.ui.View):
    def __init__(self, choice: VarySelect) -> None:
        super().__init__(timeout=600)
        self.add_item(choice)


class Editing(commands.Cog):
    def __init__(self, bot: WanBot) -> None:
        self.bot = bot
        self.menu = app_commands.ContextMenu(name="Edit image", callback=self.edit_image_menu)
        self.menu.guild_only = True

    async def cog_load(self) -> None:
        self.bot.tree.add_command(self.menu)

    async def cog_unload(self) -> None:
        self.bot.tree.remove_command(self.menu.name, type=self.menu.type)

    @property
    def generation(self) -> Generation:
        return self.bot.generation

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
        if not sources:
            raise UserFacingError("There is no image to edit. Nothing was charged.")
        if len(sources) > MAX_EDIT_INPUTS:
            raise UserFacingError(
                f"You can edit up to {MAX_EDIT_INPUTS} images at once; that was {len(sources)}. "
                "Nothing was charged."
            )
        for source in sources:
            precheck(source.offered)
        # Reading saved defaults and fetching large inputs may outlast Discord's 3 s: acknowledge
        # ("thinking…") once 1.5 s have passed, whatever is still being waited for.
        async with acknowledged_if_slow(interaction, ephemeral=private):
            saved = await self.generation.defaults(interaction, provider, edit=True)
        private = bool(pick(private, saved.private))
        async with acknowledged_if_slow(interaction, ephemeral=private):
            inputs = await self._fetch_all(sources)
        first = inputs[0]
        request = build_request(
            prompt=prompt,
            negative_prompt=saved.negative_prompt,
            size=saved.size,
            n=pick(n, saved.n),
            seed=seed,
            thinking=saved.thinking,
            input_images=inputs,
            aspect_ratio=closest_ratio(first.width, first.height),
        )
        await self.generation.start_job(
            interaction,
            request,
            kind="edit",
            provider=provider,
            private=private,
            parent_job_id=parent_job_id,
        )

    async def _fetch_all(self, sources: list[ImageSource]) -> list[InputImage]:
        return list(await asyncio.gather(*(self._fetch(s) for s in sources)))

    async def _fetch(self, source: ImageSource) -> InputImage:
        name = source.offered.filename[:60]
        timeout = aiohttp.ClientTimeout(total=30, sock_connect=10)
        try:
            async with self.bot.session.get(source.url, timeout=timeout) as resp:
                if resp.status != 200:
                    raise UserFacingError(
                        f"I couldn't download {name} (Discord answered {resp.status}). "
                        "Nothing was charged."
                    )
                data = bytearray()
                async for chunk in resp.content.iter_chunked(256 * 1024):
                    data += chunk
                    if len(data) > MAX_INPUT_BYTES:
                        break
        except (aiohttp.ClientError, TimeoutError):
            raise UserFacingError(f"I couldn't download {name}. Nothing was charged.") from None
        if len(data) > MAX_INPUT_BYTES:
            raise UserFacingError(
                f"{name} is over {MAX_INPUT_BYTES // (1024 * 1024)} MB. Nothing was charged."
            )
        return await asyncio.to_thread(
            store_input, self.bot.data_dir, bytes(data), source.offered.filename, source.url
        )

    # -- /edit -----------------------------------------------------------------------------
    @app_commands.command(name="edit", description="Edit images with a prompt")
    @app_commands.guild_only()
    @app_commands.describe(
        prompt="What should change",
        image="The image to edit",
        image2="Another reference image",
        image3="Another reference image",
        image4="Another reference image",
        n="How many images (1-4)",
        seed="Same seed and prompt give similar images",
        provider="Which image host to use",
        private="Only you see the result",
    )
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
        return self.generation.provider_choices(current)

    # -- context menu and buttons ----------------------------------------------------------
    async def edit_image_menu(
        self, interaction: discord.Interaction[Any], message: discord.Message
    ) -> None:
        sources = sources_of(message)
        if not sources:
            await reply(interaction, "That message has no images to edit.")
            return
        if len(sources) > MAX_EDIT_INPUTS:
            sources = sources[:MAX_EDIT_INPUTS]
        await interaction.response.send_modal(EditModal(self, sources, None))

    async def vary(self, interaction: discord.Interaction[Any], job_id: str) -> None:
        job = await self.bot.store.get_job(job_id)
        message = interaction.message
        sources = sources_of(message) if message else []
        if job is None or not sources:
            await reply(interaction, "I can't find the images of that result any more.")
            return
        if len(sources) == 1:
            await self.run_edit(interaction, job.request.prompt, sources, n=1, parent_job_id=job_id)
            return
        await interaction.response.send_message(
            "Which image should I vary?",
            view=VaryMenu(VarySelect(self, job_id, job.request.prompt, sources)),
            ephemeral=True,
        )

    async def edit_result(self, interaction: discord.Interaction[Any], job_id: str) -> None:
        message = interaction.message
        sources = sources_of(message)[:MAX_EDIT_INPUTS] if message else []
        if not sources:
            await reply(interaction, "I can't find the images of that result any more.")
            return
        await interaction.response.send_modal(EditModal(self, sources, job_id))


async def setup(bot: WanBot) -> None:
    await bot.add_cog(Editing(bot))
