"""One error boundary: a member gets a short ephemeral reply; the unexpected is logged in full."""

from __future__ import annotations

import logging
import uuid
from typing import Any

import discord
from discord import app_commands

from wanbot.errors import UserFacingError
from wanbot.providers.errors import ProviderError

log = logging.getLogger(__name__)


async def reply(interaction: discord.Interaction[Any], message: str) -> None:
    """An ephemeral answer, whether or not the interaction was acknowledged already."""
    if interaction.response.is_done():
        await interaction.followup.send(message, ephemeral=True)
    else:
        await interaction.response.send_message(message, ephemeral=True)


class ErrorBoundary(app_commands.CommandTree[Any]):
    async def on_error(
        self, interaction: discord.Interaction[Any], error: app_commands.AppCommandError
    ) -> None:
        original = getattr(error, "original", error)
        if isinstance(original, UserFacingError):
            message = original.user_message
        elif isinstance(original, ProviderError):
            message = f"{original.user_message[:1].upper()}{original.user_message[1:]}."
        elif isinstance(error, app_commands.CheckFailure):
            message = str(error) or "You can't use this command here."
        else:
            ref = uuid.uuid4().hex[:8]
            log.error(
                "command %s failed (ref %s)",
                interaction.command.qualified_name if interaction.command else "?",
                ref,
                exc_info=original,
            )
            message = f"Something went wrong on the bot's side (ref {ref})."
        try:
            await reply(interaction, message)
        except discord.HTTPException:
            log.warning("could not tell the member about an error", exc_info=True)
