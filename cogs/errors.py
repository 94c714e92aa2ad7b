"""One error boundary: a member gets a short ephemeral reply; the unexpected is logged in full."""

from __future__ import annotations

import contextlib
import logging
import uuid
from collections.abc import AsyncIterator
from typing import Any

import discord
from discord import app_commands

from wanbot.errors import UserFacingError
from wanbot.providers.errors import ProviderError

log = logging.getLogger(__name__)


async def reply(interaction: discord.Interaction[Any], message: str) -> None:
    """An ephemeral answer, whether or not the interaction was acknowledged already.

    After a public "thinking…" acknowledgement, that message is removed first, so a refusal
    stays between the bot and the member.
    """
    if not interaction.response.is_done():
        await interaction.response.send_message(message, ephemeral=True)
        return
    if interaction.response.type is discord.InteractionResponseType.deferred_channel_message:
        with contextlib.suppress(discord.HTTPException):
            await interaction.delete_original_response()
    await interaction.followup.send(message, ephemeral=True)


def describe(error: BaseException, where: str) -> str:
    """The member-facing words for an error; the unexpected is logged with a reference."""
    if isinstance(error, UserFacingError):
        return error.user_message
    if isinstance(error, ProviderError):
        return f"{error.user_message[:1].upper()}{error.user_message[1:]}."
    if isinstance(error, app_commands.CheckFailure):
        return str(error) or "You can't use this here."
    ref = uuid.uuid4().hex[:8]
    log.error("%s failed (ref %s)", where, ref, exc_info=error)
    return f"Something went wrong on the bot's side (ref {ref})."


async def report(interaction: discord.Interaction[Any], error: BaseException, where: str) -> None:
    try:
        await reply(interaction, describe(error, where))
    except discord.HTTPException:
        log.warning("could not tell the member about an error in %s", where, exc_info=True)


@contextlib.asynccontextmanager
async def guarded(interaction: discord.Interaction[Any], where: str) -> AsyncIterator[None]:
    """The error boundary for buttons, menus and modals (commands have the tree's)."""
    try:
        yield
    except Exception as e:
        await report(interaction, e, where)


class ErrorBoundary(app_commands.CommandTree[Any]):
    async def on_error(
        self, interaction: discord.Interaction[Any], error: app_commands.AppCommandError
    ) -> None:
        original = getattr(error, "original", error)
        name = interaction.command.qualified_name if interaction.command else "?"
        await report(interaction, original, f"command {name}")
