"""The "Edit image" modal and the "Vary which image?" menu, and where a message's images are."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import discord

from cogs.render import prompts as render_prompts
from cogs.render.i18n import Locale, _, number
from cogs.respond import guarded
from wanbot.errors import Refusal, RefusalReason
from wanbot.inputs import Offered


@dataclass(frozen=True)
class ImageSource:
    """An image on Discord that can be fetched: an attachment or an embed image."""

    url: str
    offered: Offered


# (interaction, prompt, sources, n, parent job id): what a submitted modal or a chosen image runs.
EditRunner = Callable[
    [discord.Interaction[Any], str, list[ImageSource], int, str | None], Awaitable[None]
]
# (interaction, job id): what opens the Remix box for a job.
RemixOpener = Callable[[discord.Interaction[Any], str], Awaitable[None]]
REMIX_CHOICE = "remix"


def sources_of(message: discord.Message) -> list[ImageSource]:
    """The images of a message: attachments, then embed images through Discord's media proxy
    (never the third-party address an embed points at)."""
    found: list[ImageSource] = []
    for a in message.attachments:
        if (a.content_type or "").startswith("image/") or a.width:
            found.append(
                ImageSource(a.url, Offered(a.filename, a.size, a.content_type, a.width, a.height))
            )
    for embed in message.embeds:
        for media in (embed.image, embed.thumbnail):
            if media.proxy_url:
                name = media.proxy_url.rsplit("/", 1)[-1].split("?", 1)[0] or "embed-image"
                found.append(
                    ImageSource(media.proxy_url, Offered(name, 1, None, media.width, media.height))
                )
                break
    return found


class EditModal(discord.ui.Modal):
    """What should change, and how many images: built in the member's language."""

    def __init__(
        self,
        run_edit: EditRunner,
        sources: list[ImageSource],
        parent_job_id: str | None,
        locale: Locale = None,
    ) -> None:
        super().__init__(title=_("Edit image", locale), timeout=600)
        self.prompt: discord.ui.TextInput[EditModal] = discord.ui.TextInput(
            label=_("What should change?", locale),
            style=discord.TextStyle.paragraph,
            max_length=4000,
            custom_id="wanbot:edit-modal:prompt",
        )
        self.count: discord.ui.TextInput[EditModal] = discord.ui.TextInput(
            label=_("How many images (1-4)", locale),
            required=False,
            max_length=1,
            default="1",
            custom_id="wanbot:edit-modal:n",
        )
        self.add_item(self.prompt)
        self.add_item(self.count)
        self.run_edit = run_edit
        self.sources = sources
        self.parent_job_id = parent_job_id

    async def on_submit(self, interaction: discord.Interaction[Any]) -> None:
        text = (self.count.value or "1").strip()
        async with guarded(interaction, "edit modal", self.parent_job_id):
            if not text.isdigit() or not 1 <= int(text) <= 4:
                raise Refusal(RefusalReason.BAD_OPTION, {"problem": "edit_count"})
            await self.run_edit(
                interaction, self.prompt.value, self.sources, int(text), self.parent_job_id
            )


class VarySelect(discord.ui.Select["VaryMenu"]):
    """Which result image to vary, when a result has several, or Remix (lives as long as the
    reply)."""

    def __init__(
        self,
        run_edit: EditRunner,
        job_id: str,
        prompt: str,
        sources: list[ImageSource],
        locale: Locale = None,
        remix: RemixOpener | None = None,
    ) -> None:
        options = [
            discord.SelectOption(
                label=_("Vary image %(index)s", locale) % {"index": number(i + 1, locale)},
                value=str(i),
            )
            for i in range(len(sources))
        ]
        if remix is not None:
            options.append(
                discord.SelectOption(label=render_prompts.remix_choice(locale), value=REMIX_CHOICE)
            )
        super().__init__(placeholder=_("Vary which image?", locale), options=options)
        self.run_edit = run_edit
        self.job_id = job_id
        self.prompt = prompt
        self.sources = sources
        self.remix = remix

    async def callback(self, interaction: discord.Interaction[Any]) -> None:
        async with guarded(interaction, "vary select", self.job_id):
            if self.values[0] == REMIX_CHOICE and self.remix is not None:
                await self.remix(interaction, self.job_id)
                return
            source = self.sources[int(self.values[0])]
            await self.run_edit(interaction, self.prompt, [source], 1, self.job_id)


class VaryMenu(discord.ui.View):
    def __init__(self, choice: VarySelect) -> None:
        super().__init__(timeout=600)
        self.add_item(choice)
