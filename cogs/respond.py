"""The one way to answer an interaction: acknowledge if slow, show a placeholder, refuse, and
the error boundary that commands, buttons, selects and modals all pass through."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import AsyncIterator, Sequence
from typing import Any

import discord
from discord import app_commands

from cogs.render import refusals
from wanbot.admission import ReplyHandle, Requester
from wanbot.errors import Refusal, RefusalReason
from wanbot.providers.errors import ProviderError

log = logging.getLogger(__name__)

# Discord drops an interaction not acknowledged within 3 s; past this, acknowledge first.
ACK_AFTER_S = 1.5
_ACK_BY = "wanbot_ack_by"
_DEFERRED_EPHEMERAL = "wanbot_deferred_ephemeral"
_DEFERRED_MESSAGE = "wanbot_deferred_message"
NO_PINGS = discord.AllowedMentions.none()


def locale_of(interaction: discord.Interaction[Any]) -> str:
    """The member's client language ("zh-CN"): what their replies are written in."""
    return str(interaction.locale)


def guild_locale_of(interaction: discord.Interaction[Any]) -> str | None:
    """The server's language: what audit lines, read by its moderators, are written in."""
    return str(interaction.guild_locale) if interaction.guild_locale else None


async def _acknowledge(interaction: discord.Interaction[Any], ephemeral: bool | None) -> None:
    """Defer ("thinking…"); the loading message's id is kept for `show_placeholder`."""
    private = True if ephemeral is None else ephemeral
    try:
        answered = await interaction.response.defer(thinking=True, ephemeral=private)
    except discord.HTTPException:
        log.warning("could not acknowledge interaction %s", interaction.id, exc_info=True)
        return
    interaction.extras[_DEFERRED_EPHEMERAL] = private
    if answered is not None and answered.message_id is not None:
        interaction.extras[_DEFERRED_MESSAGE] = answered.message_id
    log.info("interaction %s acknowledged before its answer was ready", interaction.id)


@contextlib.asynccontextmanager
async def acknowledged_if_slow(
    interaction: discord.Interaction[Any], *, ephemeral: bool | None
) -> AsyncIterator[None]:
    """Defer the interaction ("thinking…") if the work inside is still going ACK_AFTER_S after
    the interaction was created (say the database is locked by another writer for a while).

    `ephemeral=None` means visibility isn't known yet: the deferral is then ephemeral, and
    `show_placeholder` posts a public placeholder as a followup instead of filling it.
    """
    loop = asyncio.get_running_loop()
    age = max(0.0, time.time() - interaction.created_at.timestamp())
    ack_by: float = interaction.extras.setdefault(
        _ACK_BY, loop.time() + max(0.0, ACK_AFTER_S - age)
    )
    deferring = False

    async def defer_when_due() -> None:
        nonlocal deferring
        await asyncio.sleep(max(0.0, ack_by - loop.time()))
        if interaction.response.is_done():
            return
        deferring = True
        await _acknowledge(interaction, ephemeral)

    timer = asyncio.create_task(defer_when_due())
    try:
        yield
    finally:
        if not deferring:  # once the deferral is on the wire, let it finish
            timer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await timer


class AdmissionTurns:
    """Interactions that use the store before they can be answered take turns at it.

    In a burst (dozens of commands within a second) the store work of all of them at once holds
    every answer back behind everyone's transactions. Instead, a command arriving while another
    one's turn is on is acknowledged at once ("thinking…") and then waits for its turn; its
    placeholder fills the acknowledged message. A lone command is still answered in one go.
    """

    def __init__(self, width: int = 1) -> None:
        self._turns = asyncio.Semaphore(width)

    @contextlib.asynccontextmanager
    async def turn(
        self, interaction: discord.Interaction[Any], *, ephemeral: bool | None
    ) -> AsyncIterator[None]:
        async with acknowledged_if_slow(interaction, ephemeral=ephemeral):
            if self._turns.locked() and not interaction.response.is_done():
                await _acknowledge(interaction, ephemeral)
            async with self._turns:
                yield


async def show_placeholder(
    interaction: discord.Interaction[Any], text: str, view: discord.ui.View, *, private: bool
) -> int | None:
    """Post the job's placeholder as the answer to the interaction; its message id, if known.

    Where the interaction was acknowledged already with a message of the right visibility, that
    message is the placeholder as it stands: the job's progress reports fill it, and they give
    way to results while Discord says the channel is busy (one edit fewer per job in a burst).
    """
    deferred_private: bool | None = interaction.extras.get(_DEFERRED_EPHEMERAL)
    if deferred_private is not None and deferred_private != private:
        # Acknowledged with the other visibility before the job's was known: that message
        # goes away, and the placeholder is a followup with the job's own.
        with contextlib.suppress(discord.HTTPException):
            await interaction.delete_original_response()
        followup = await interaction.followup.send(
            text, view=view, wait=True, ephemeral=private, allowed_mentions=NO_PINGS
        )
        return followup.id
    loading: int | None = interaction.extras.get(_DEFERRED_MESSAGE)
    if loading is not None:
        return loading
    if interaction.response.is_done():  # acknowledged already (inputs, or slow admission)
        message = await interaction.edit_original_response(
            content=text, view=view, allowed_mentions=NO_PINGS
        )
        return message.id
    response = await interaction.response.send_message(
        text, view=view, ephemeral=private, allowed_mentions=NO_PINGS
    )
    return response.message_id


async def reply(interaction: discord.Interaction[Any], message: str) -> None:
    """An ephemeral answer, whether or not the interaction was acknowledged already.

    After a public "thinking…" acknowledgement, that message is removed first, so a refusal
    stays between the bot and the member.
    """
    message = message[:2000]
    if not interaction.response.is_done():
        await interaction.response.send_message(message, ephemeral=True, allowed_mentions=NO_PINGS)
        return
    deferred = interaction.response.type is discord.InteractionResponseType.deferred_channel_message
    if deferred and interaction.extras.get(_DEFERRED_EPHEMERAL):
        await interaction.edit_original_response(content=message, allowed_mentions=NO_PINGS)
        return
    if deferred:
        with contextlib.suppress(discord.HTTPException):
            await interaction.delete_original_response()
    await interaction.followup.send(message, ephemeral=True, allowed_mentions=NO_PINGS)


def describe(error: BaseException, where: str, job_id: str | None, locale: str | None) -> str:
    """The member-facing words for an error; the unexpected is logged with a reference."""
    if isinstance(error, Refusal):
        return refusals.refusal(error, locale)
    if isinstance(error, ProviderError):
        return refusals.host_error(error, locale)
    if isinstance(error, app_commands.CheckFailure):
        if isinstance(error.__cause__, Refusal):
            return refusals.refusal(error.__cause__, locale)
        # discord.py's own checks (guild only, permissions) say why in English only
        log.info("%s: check failed: %s", where, error)
        return refusals.not_usable_here(locale)
    ref = uuid.uuid4().hex[:8]
    log.error("%s failed (ref %s, job %s)", where, ref, job_id or "-", exc_info=error)
    return refusals.unexpected(ref, locale)


async def report(
    interaction: discord.Interaction[Any],
    error: BaseException,
    where: str,
    job_id: str | None = None,
) -> None:
    try:
        await reply(interaction, describe(error, where, job_id, locale_of(interaction)))
    except discord.HTTPException:
        log.warning("could not tell the member about an error in %s", where, exc_info=True)


@contextlib.asynccontextmanager
async def guarded(
    interaction: discord.Interaction[Any], where: str, job_id: str | None = None
) -> AsyncIterator[None]:
    """The error boundary for buttons, menus and modals (commands have the tree's)."""
    try:
        yield
    except Exception as e:
        await report(interaction, e, where, job_id)


def requester_of(interaction: discord.Interaction[Any]) -> Requester:
    """Who asks and where, as plain data: a thread follows its parent's channel rules."""
    assert interaction.guild_id is not None and interaction.channel_id is not None
    channel = interaction.channel
    rules_id = interaction.channel_id
    if isinstance(channel, discord.Thread) and channel.parent_id:
        rules_id = channel.parent_id
    is_nsfw = getattr(channel, "is_nsfw", None)
    roles = getattr(interaction.user, "roles", [])
    return Requester(
        guild_id=interaction.guild_id,
        channel_id=interaction.channel_id,
        rules_channel_id=rules_id,
        channel_nsfw=bool(is_nsfw()) if callable(is_nsfw) else False,
        user_id=interaction.user.id,
        role_ids=tuple(r.id for r in roles),
    )


def reply_handle_of(interaction: discord.Interaction[Any]) -> ReplyHandle:
    return ReplyHandle(
        application_id=interaction.application_id,
        interaction_token=interaction.token,
        created_at=interaction.created_at.timestamp(),
        upload_limit=interaction.filesize_limit,
        locale=locale_of(interaction),
    )


def guild_allowed(allowed: Sequence[int], guild_id: int | None) -> bool:
    return not allowed or (guild_id is not None and guild_id in allowed)


class ErrorBoundary(app_commands.CommandTree[Any]):
    """Every slash command and context menu: refused outside the allowed servers, and every
    error turned into a short ephemeral reply."""

    allowed_guilds: tuple[int, ...] = ()

    async def interaction_check(self, interaction: discord.Interaction[Any], /) -> bool:
        if guild_allowed(self.allowed_guilds, interaction.guild_id):
            return True
        await reply(
            interaction,
            refusals.refusal(Refusal(RefusalReason.NOT_ALLOWED_GUILD), locale_of(interaction)),
        )
        return False

    async def on_error(
        self, interaction: discord.Interaction[Any], error: app_commands.AppCommandError
    ) -> None:
        original = getattr(error, "original", error)
        name = interaction.command.qualified_name if interaction.command else "?"
        await report(interaction, original, f"command {name}")
