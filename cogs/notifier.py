"""The job pipeline's view of Discord: placeholder edits and result posts, no live Interaction.

Everything goes through the interaction's webhook (application id + token), which lives for 15
minutes. Past that, results go to the channel as a new message that mentions the member, sent with
a nonce so a retried post can't appear twice. Every message is in the language of the command
that started the job (`job.locale`), however much later it is sent.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import time
from collections.abc import Iterator

import discord

from cogs.render import jobs as render
from cogs.ui.actions import progress_view, result_view
from wanbot.jobs.fitting import pack
from wanbot.jobs.ports import DeliveredFile, Delivery, JobOutcome, Progress
from wanbot.store.base import Job, JobStore

log = logging.getLogger(__name__)

# Stop using the token a little early: a request in flight as it expires would fail anyway.
TOKEN_MARGIN_S = 30.0
NO_PINGS = discord.AllowedMentions.none()


class DiscordNotifier:
    def __init__(self, client: discord.Client, store: JobStore) -> None:
        self._bot = client
        self._store = store

    def _webhook(self, job: Job) -> discord.Webhook:
        # The interaction's followup webhook, bound to the client so views work; an application
        # webhook, as discord.py makes for an Interaction: only that kind may send ephemeral
        # followups, which private results of more than one message need.
        webhook = discord.Webhook.partial(
            job.application_id, job.interaction_token, client=self._bot
        )
        webhook.type = discord.WebhookType.application
        return webhook

    def _token_alive(self, job: Job) -> bool:
        return time.time() < job.token_expires_at - TOKEN_MARGIN_S

    async def show_progress(self, job: Job, progress: Progress) -> None:
        if job.placeholder_message_id is None or not self._token_alive(job):
            return
        view = progress_view(job.id, job.locale) if progress.cancellable else None
        await self._webhook(job).edit_message(
            job.placeholder_message_id,
            content=render.placeholder(job.request, progress, locale=job.locale),
            view=view,
            allowed_mentions=NO_PINGS,
        )

    async def show_failure(self, job: Job, outcome: JobOutcome) -> None:
        text = render.ended(job.request, outcome, job.locale)
        if job.placeholder_message_id is not None and self._token_alive(job):
            try:
                await self._webhook(job).edit_message(
                    job.placeholder_message_id, content=text, view=None, allowed_mentions=NO_PINGS
                )
                return
            except discord.HTTPException as e:
                log.info("job %s: could not edit the placeholder (%s)", job.id, e.status)
        await self._channel_post(job, f"<@{job.user_id}> {text}", [], None, nonce=f"f{job.id[:23]}")

    async def deliver(self, job: Job, delivery: Delivery) -> list[int]:
        parent = await self._store.get_job(job.parent_job_id) if job.parent_job_id else None
        source = render.origin(job, parent, job.locale)
        batches = pack(list(delivery.files))
        ids: list[int] = []
        first = 1
        use_webhook = self._token_alive(job) and job.placeholder_message_id is not None
        for part, batch in enumerate(batches, start=1):
            last = first + len(batch) - 1
            view = result_view(job.id, job.locale) if part == 1 else None
            caption = functools.partial(
                render.caption,
                job,
                delivery,
                part=part,
                parts=len(batches),
                first=first,
                last=last,
                total=len(delivery.files),
                source=source,
                locale=job.locale,
            )
            message_id: int | None = None
            if use_webhook:
                try:
                    with _opened(batch) as files:
                        message_id = await self._webhook_post(
                            job, part, caption(mention=False), files, view
                        )
                except discord.HTTPException as e:
                    if e.status != 401 and e.code not in (10015, 50027):
                        raise
                    log.info("job %s: token no longer valid; posting to the channel", job.id)
                    use_webhook = False
            if message_id is None:
                with _opened(batch) as files:
                    message_id = await self._channel_post(
                        job, caption(mention=True), files, view, nonce=f"{part}{job.id[:23]}"
                    )
            ids.append(message_id)
            first = last + 1
        return ids

    async def _webhook_post(
        self,
        job: Job,
        part: int,
        text: str,
        files: list[discord.File],
        view: discord.ui.View | None,
    ) -> int:
        webhook = self._webhook(job)
        if part == 1:
            assert job.placeholder_message_id is not None
            message = await webhook.edit_message(
                job.placeholder_message_id,
                content=text,
                attachments=files,
                view=view or discord.utils.MISSING,
                allowed_mentions=NO_PINGS,
            )
            return message.id
        sent = await webhook.send(
            content=text, files=files, wait=True, ephemeral=job.private, allowed_mentions=NO_PINGS
        )
        return sent.id

    async def _channel_post(
        self,
        job: Job,
        text: str,
        files: list[discord.File],
        view: discord.ui.View | None,
        *,
        nonce: str,
    ) -> int:
        mention_only_member = discord.AllowedMentions(
            everyone=False, roles=False, users=[discord.Object(job.user_id)]
        )
        if job.private:
            user = self._bot.get_user(job.user_id) or await self._bot.fetch_user(job.user_id)
            message = await user.send(content=text, files=files, allowed_mentions=NO_PINGS)
            return message.id
        channel = self._bot.get_channel(job.channel_id) or await self._bot.fetch_channel(
            job.channel_id
        )
        assert isinstance(channel, discord.abc.Messageable)
        message = await channel.send(
            content=text,
            files=files,
            view=view or discord.utils.MISSING,
            allowed_mentions=mention_only_member,
            nonce=nonce,
        )
        return message.id


@contextlib.contextmanager
def _opened(batch: list[DeliveredFile]) -> Iterator[list[discord.File]]:
    """The batch as discord.py files, closed however the send ends."""
    files = [discord.File(f.path, filename=f.filename) for f in batch]
    try:
        yield files
    finally:
        for file in files:
            file.close()
