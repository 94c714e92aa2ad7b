"""Persistent buttons: each `custom_id` carries the job id, so they keep working after a restart."""

from __future__ import annotations

import contextlib
import logging
import re
from typing import TYPE_CHECKING, Any, cast

import discord

from cogs.errors import guarded

if TYPE_CHECKING:
    from cogs.client import WanBot

log = logging.getLogger(__name__)

JOB_ID = r"(?P<job>[0-9a-f]{32})"


def _bot(interaction: discord.Interaction[Any]) -> WanBot:
    return cast("WanBot", interaction.client)


def _button(
    action: str, job_id: str, label: str, emoji: str | None = None
) -> discord.ui.Button[Any]:
    return discord.ui.Button(
        label=label,
        emoji=emoji,
        style=discord.ButtonStyle.secondary,
        custom_id=f"wanbot:{action}:{job_id}",
    )


def _may_moderate(interaction: discord.Interaction[Any]) -> bool:
    perms = interaction.permissions
    return bool(perms.manage_messages or perms.manage_guild)


class CancelButton(
    discord.ui.DynamicItem[discord.ui.Button[Any]], template=f"wanbot:cancel:{JOB_ID}"
):
    def __init__(self, job_id: str) -> None:
        super().__init__(_button("cancel", job_id, "Cancel"))
        self.job_id = job_id

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction[Any], item: discord.ui.Item[Any], match: re.Match[str]
    ) -> CancelButton:
        return cls(match["job"])

    async def callback(self, interaction: discord.Interaction[Any]) -> None:
        bot = _bot(interaction)
        job = await bot.store.get_job(self.job_id)
        if job is None:
            await interaction.response.send_message("That job no longer exists.", ephemeral=True)
            return
        if interaction.user.id != job.user_id and not _may_moderate(interaction):
            await interaction.response.send_message(
                "Only the member who asked for these images can cancel them.", ephemeral=True
            )
            return
        await interaction.response.defer(ephemeral=True, thinking=False)
        message = await bot.jobs.cancel(self.job_id)
        await interaction.followup.send(message, ephemeral=True)


class RerollButton(
    discord.ui.DynamicItem[discord.ui.Button[Any]], template=f"wanbot:reroll:{JOB_ID}"
):
    def __init__(self, job_id: str) -> None:
        super().__init__(_button("reroll", job_id, "Reroll", emoji="🔁"))
        self.job_id = job_id

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction[Any], item: discord.ui.Item[Any], match: re.Match[str]
    ) -> RerollButton:
        return cls(match["job"])

    async def callback(self, interaction: discord.Interaction[Any]) -> None:
        async with guarded(interaction, "reroll"):
            await _bot(interaction).generation.reroll(interaction, self.job_id)


class DeleteButton(
    discord.ui.DynamicItem[discord.ui.Button[Any]], template=f"wanbot:delete:{JOB_ID}"
):
    def __init__(self, job_id: str) -> None:
        super().__init__(_button("delete", job_id, "Delete", emoji="🗑"))
        self.job_id = job_id

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction[Any], item: discord.ui.Item[Any], match: re.Match[str]
    ) -> DeleteButton:
        return cls(match["job"])

    async def callback(self, interaction: discord.Interaction[Any]) -> None:
        bot = _bot(interaction)
        job = await bot.store.get_job(self.job_id)
        owner = job.user_id if job else None
        if interaction.user.id != owner and not _may_moderate(interaction):
            await interaction.response.send_message(
                "Only the member who made these images or a moderator can delete them.",
                ephemeral=True,
            )
            return
        await interaction.response.defer()
        await interaction.delete_original_response()
        if job is not None:
            channel = interaction.client.get_partial_messageable(job.channel_id)
            clicked = interaction.message.id if interaction.message else None
            for message_id in job.message_ids:
                if message_id != clicked:
                    with contextlib.suppress(discord.HTTPException):
                        await channel.get_partial_message(message_id).delete()


class VaryButton(discord.ui.DynamicItem[discord.ui.Button[Any]], template=f"wanbot:vary:{JOB_ID}"):
    def __init__(self, job_id: str) -> None:
        super().__init__(_button("vary", job_id, "Vary", emoji="🎨"))
        self.job_id = job_id

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction[Any], item: discord.ui.Item[Any], match: re.Match[str]
    ) -> VaryButton:
        return cls(match["job"])

    async def callback(self, interaction: discord.Interaction[Any]) -> None:
        async with guarded(interaction, "vary"):
            await _bot(interaction).editing.vary(interaction, self.job_id)


class EditButton(discord.ui.DynamicItem[discord.ui.Button[Any]], template=f"wanbot:edit:{JOB_ID}"):
    def __init__(self, job_id: str) -> None:
        super().__init__(_button("edit", job_id, "Edit", emoji="✏️"))
        self.job_id = job_id

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction[Any], item: discord.ui.Item[Any], match: re.Match[str]
    ) -> EditButton:
        return cls(match["job"])

    async def callback(self, interaction: discord.Interaction[Any]) -> None:
        async with guarded(interaction, "edit button"):
            await _bot(interaction).editing.edit_result(interaction, self.job_id)


def progress_view(job_id: str) -> discord.ui.View:
    view = discord.ui.View(timeout=None)
    view.add_item(CancelButton(job_id))
    return view


def result_view(job_id: str) -> discord.ui.View:
    view = discord.ui.View(timeout=None)
    view.add_item(RerollButton(job_id))
    view.add_item(VaryButton(job_id))
    view.add_item(EditButton(job_id))
    view.add_item(DeleteButton(job_id))
    return view


DYNAMIC_ITEMS: tuple[type[discord.ui.DynamicItem[Any]], ...] = (
    CancelButton,
    RerollButton,
    VaryButton,
    EditButton,
    DeleteButton,
)
