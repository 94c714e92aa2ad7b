"""From an interaction to a queued job, shared by /imagine, /edit, the Edit modal, Reroll and Vary:
admit, show the placeholder, queue, audit. Whatever happens between admission and the queue,
the job ends queued or released."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import discord
from discord import app_commands

from cogs import audit
from cogs.render import jobs as render_jobs
from cogs.respond import (
    AdmissionTurns,
    locale_of,
    reply_handle_of,
    requester_of,
    show_placeholder,
)
from cogs.ui.actions import ActionRouter, progress_view
from wanbot.admission import Admission, Ask, Cleared
from wanbot.jobs.ports import Progress
from wanbot.jobs.service import JobService
from wanbot.providers.models import GenerationRequest
from wanbot.store.base import JobStore

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class JobFlow:
    """What the cogs that start jobs and act on them share: admission, the job service, the
    audit log, the jobs' records and the router of the job buttons (built once by the client)."""

    admission: Admission
    jobs: JobService
    audit: audit.DiscordAudit
    store: JobStore
    actions: ActionRouter
    turns: AdmissionTurns = field(default_factory=AdmissionTurns)

    def visibility(
        self, interaction: discord.Interaction[Any], private: bool | None
    ) -> bool | None:
        """Whether a command's answer will be private, as far as known before reading the
        member's defaults: the option given, else their default as last read (None: unknown)."""
        if private is not None or interaction.guild_id is None:
            return private
        return self.admission.private_hint(interaction.guild_id, interaction.user.id)

    def provider_choices(self, current: str) -> list[app_commands.Choice[str]]:
        """Autocomplete for a `provider` option: the enabled hosts matching what is typed."""
        choices = self.admission.provider_choices(current)
        return [app_commands.Choice(name=label, value=key) for label, key in choices]

    async def start(
        self,
        interaction: discord.Interaction[Any],
        request: GenerationRequest,
        ask: Ask,
        cleared: Cleared | None = None,
    ) -> None:
        """Admit, show the placeholder, queue, audit; released if anything between fails."""
        async with self.turns.turn(interaction, ephemeral=ask.private):
            admitted = await self.admission.admit(
                requester_of(interaction), reply_handle_of(interaction), ask, request, cleared
            )
        job = admitted.job
        queued = False
        try:
            placeholder_id: int | None = None
            progress = Progress(phase="queued", provider_label=admitted.provider_label)
            text = render_jobs.placeholder(job.request, progress, locale=locale_of(interaction))
            try:
                placeholder_id = await show_placeholder(
                    interaction,
                    text,
                    progress_view(job.id, locale_of(interaction)),
                    private=ask.private,
                )
            except (discord.HTTPException, TimeoutError):
                # The job is paid for and stays admitted: it is delivered to the channel instead.
                log.warning("job %s: could not show a placeholder", job.id, exc_info=True)
            await self.jobs.enqueue(job, placeholder_id)
            queued = True
        finally:
            if not queued:
                await self.jobs.release(job, "interrupted before it was queued")
        self.audit.admitted(admitted, placeholder_id)
