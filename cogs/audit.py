"""The server's audit channel: refusals worth a moderator's attention and every admitted job.
Best effort and in the background: an audit post never fails or delays the action. Lines are in
the server's language (its preferred locale), since its moderators read them."""

from __future__ import annotations

import asyncio
import logging

import discord

from cogs.render import audit as render_audit
from wanbot.admission import Admitted, RefusalNotice

log = logging.getLogger(__name__)

NO_PINGS = discord.AllowedMentions.none()


class DiscordAudit:
    def __init__(self, client: discord.Client) -> None:
        self._client = client
        self._posting: set[asyncio.Task[None]] = set()

    def _in_background(self, channel_id: int | None, text: str) -> None:
        if channel_id is None:
            return
        task = asyncio.create_task(self.post(channel_id, text))
        self._posting.add(task)
        task.add_done_callback(self._posting.discard)

    async def post(self, channel_id: int | None, text: str) -> None:
        """Best effort: an audit line that can't be posted is logged, never failing the action."""
        if channel_id is None:
            return
        try:
            channel = self._client.get_partial_messageable(channel_id)
            await channel.send(text[:2000], allowed_mentions=NO_PINGS)
        except discord.HTTPException:
            log.warning("could not post to audit channel %s", channel_id, exc_info=True)

    def guild_locale(self, guild_id: int) -> str | None:
        """The server's preferred locale, as the gateway last told it; None (English) if unknown."""
        guild = self._client.get_guild(guild_id)
        return str(guild.preferred_locale) if guild is not None else None

    def refused(self, channel_id: int, notice: RefusalNotice) -> None:
        locale = self.guild_locale(notice.requester.guild_id)
        text = render_audit.refusal_audit(
            notice.requester, notice.prompt, notice.negative_prompt, notice.refusal, locale
        )
        self._in_background(channel_id, text)

    def admitted(self, admitted: Admitted, placeholder_id: int | None) -> None:
        locale = self.guild_locale(admitted.job.guild_id)
        self._in_background(
            admitted.audit_channel_id, render_audit.job_audit(admitted, placeholder_id, locale)
        )

    async def drain(self) -> None:
        if self._posting:
            await asyncio.gather(*self._posting, return_exceptions=True)
