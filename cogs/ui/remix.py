"""The Remix box: a result's prompt (and negative prompt) filled in, to change and run again."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import discord

from cogs.render import prompts as render
from cogs.render.i18n import Locale
from cogs.respond import guarded

MODAL_TEXT_MAX = 4000  # Discord's longest text input
NEGATIVE_MAX = 2000

# (interaction, job id, prompt, negative prompt or None): what a submitted Remix box runs.
RemixRunner = Callable[[discord.Interaction[Any], str, str, str | None], Awaitable[None]]


class RemixModal(discord.ui.Modal):
    def __init__(
        self,
        run: RemixRunner,
        job_id: str,
        prompt: str,
        negative_prompt: str | None,
        *,
        ask_negative: bool,
        locale: Locale,
    ) -> None:
        super().__init__(title=render.remix_modal_title(locale), timeout=600)
        self.run = run
        self.job_id = job_id
        self.prompt: discord.ui.TextInput[RemixModal] = discord.ui.TextInput(
            label=render.remix_prompt_label(locale),
            style=discord.TextStyle.paragraph,
            default=prompt[:MODAL_TEXT_MAX],
            max_length=MODAL_TEXT_MAX,
            custom_id="wanbot:remix-modal:prompt",
        )
        self.add_item(self.prompt)
        self.negative: discord.ui.TextInput[RemixModal] | None = None
        if ask_negative:
            self.negative = discord.ui.TextInput(
                label=render.remix_negative_label(locale),
                style=discord.TextStyle.paragraph,
                default=(negative_prompt or "")[:NEGATIVE_MAX] or None,
                required=False,
                max_length=NEGATIVE_MAX,
                custom_id="wanbot:remix-modal:negative",
            )
            self.add_item(self.negative)

    async def on_submit(self, interaction: discord.Interaction[Any]) -> None:
        negative = self.negative.value.strip() if self.negative is not None else None
        async with guarded(interaction, "remix modal", self.job_id):
            await self.run(interaction, self.job_id, self.prompt.value, negative or None)
