"""From an interaction to a queued job, shared by /imagine, /edit, the Edit modal, Reroll and Vary:
admit, show the placeholder, queue, audit. Whatever happens between admission and the queue,
the job ends queued or released."""

from __future__ import annotations

import logging
from typing import Any

import discord

from cogs import audit
from cogs.render import jobs as render_jobs
from cogs.respond import (
    acknowledged_if_slow,
    locale_of,
    reply_handle_of,
    requester_of,
    show_placeholder,
)
from cogs.ui.actions import progress_view
from wanbot.admission import Admission, Ask, Cleared
from wanbot.jobs.ports import Progress
from wanbot.jobs.service import JobService
from wanbot.providers.models import GenerationRequest

log = logging.getLogger(__name__)


async def start_job(
    interaction: discord.Interaction[Any],
    admission: Admission,
    jobs: JobService,
    auditor: audit.DiscordAudit,
    request: GenerationRequest,
    ask: Ask,
    cleared: Cleared | None = None,
) -> None:
    async with acknowledged_if_slow(interaction, ephemeral=ask.private):
        admitted = await admission.admit(
            requester_of(interaction), reply_handle_of(interaction), ask, request, cleared
        )
    job = admitted.job
    queued = False
    try:
        placeholder_id: int | None = None
        progress = Progress(phase="queued", provider_label=admitted.provider_label)
        locale = locale_of(interaction)
        text = render_jobs.placeholder(job.request, progress, locale=locale)
        try:
            placeholder_id = await show_placeholder(
                interaction, text, progress_view(job.id, locale), private=ask.private
            )
        except (discord.HTTPException, TimeoutError):
            # The job is paid for and stays admitted: it is delivered to the channel instead.
            log.warning("job %s: could not show a placeholder", job.id, exc_info=True)
        await jobs.enqueue(job, placeholder_id)
        queued = True
    finally:
        if not queued:
            await jobs.release(job, "interrupted before it was queued")
    auditor.admitted(admitted, placeholder_id)
