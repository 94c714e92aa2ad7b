"""/imagine and the flow every generation shares: check, admit, show a placeholder, queue."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import math
import random
import time
import uuid
import weakref
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import discord
from discord import app_commands
from discord.ext import commands

from cogs import render
from cogs.account import member_allowance
from cogs.admin import job_audit_text, post_audit, screen
from cogs.views import progress_view
from wanbot.errors import InsufficientCredits, UserFacingError
from wanbot.jobs.ports import Progress
from wanbot.moderation import cooldown_until
from wanbot.options import build_request
from wanbot.preferences import Preferences, pick
from wanbot.providers.errors import UnsupportedRequest
from wanbot.providers.models import MAX_SEED, GenerationRequest
from wanbot.store.base import NewJob

if TYPE_CHECKING:
    from cogs.client import WanBot

log = logging.getLogger(__name__)

TOKEN_LIFETIME = dt.timedelta(minutes=15)
# Discord drops an interaction not acknowledged within 3 s; past this, acknowledge first.
ACK_AFTER_S = 1.5
_ACK_BY = "wanbot_ack_by"
_DEFERRED_EPHEMERAL = "wanbot_deferred_ephemeral"
AspectChoice = Literal["1:1", "16:9", "9:16", "4:3", "3:4", "5:4", "4:5"]
SizeChoice = Literal["1K", "2K", "4K"]


@contextlib.asynccontextmanager
async def acknowledged_if_slow(
    interaction: discord.Interaction[Any], *, ephemeral: bool | None
) -> AsyncIterator[None]:
    """Defer the interaction ("thinking…") if the work inside is still going ACK_AFTER_S after
    the interaction was created (say the database is locked by another writer for a while).

    `ephemeral=None` means visibility isn't known yet: the deferral is then ephemeral, and
    `start_job` posts a public placeholder as a followup instead of filling it.
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
        private = True if ephemeral is None else ephemeral
        try:
            await interaction.response.defer(thinking=True, ephemeral=private)
            interaction.extras[_DEFERRED_EPHEMERAL] = private
            log.info("interaction %s acknowledged early: still working", interaction.id)
        except discord.HTTPException:
            log.warning("could not acknowledge interaction %s", interaction.id, exc_info=True)

    timer = asyncio.create_task(defer_when_due())
    try:
        yield
    finally:
        if not deferring:  # once the deferral is on the wire, let it finish
            timer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await timer


class Generation(commands.Cog):
    """Slash commands that make images, and the shared path from a request to a queued job."""

    def __init__(self, bot: WanBot) -> None:
        self.bot = bot
        # Per member, so a cooldown check and the admission after it can't interleave.
        self._admitting: weakref.WeakValueDictionary[tuple[int, int], asyncio.Lock] = (
            weakref.WeakValueDictionary()
        )

    async def defaults(
        self, interaction: discord.Interaction[Any], provider: str | None, *, edit: bool
    ) -> Preferences:
        """The member's saved defaults, minus those the provider that will run the job can't use."""
        assert interaction.guild_id is not None
        stored = await self.bot.store.get_preferences(interaction.guild_id, interaction.user.id)
        prefs = Preferences.from_stored(stored)
        providers = self.bot.providers
        name = self.provider_key(provider) or providers.default
        if name in providers.providers:
            prefs = prefs.fitted(providers.get(name).capabilities, edit=edit)
        return prefs

    # -- the shared flow -------------------------------------------------------------------
    def provider_key(self, name: str | None) -> str | None:
        """The provider a member typed, by key or label in any case ("Mock", " mock ")."""
        wanted = (name or "").strip().casefold()
        if not wanted:
            return None
        for key, provider in self.bot.providers.providers.items():
            if wanted in (key.casefold(), provider.label.casefold()):
                return key
        return name

    def resolve_provider(self, name: str | None, request: GenerationRequest) -> str:
        providers = self.bot.providers
        name = self.provider_key(name)
        chosen = name or providers.default
        if chosen not in providers.providers:
            enabled = ", ".join(p.label for p in providers.providers.values())
            shown = chosen if len(chosen) <= 40 else chosen[:39] + "…"
            raise UserFacingError(
                f"{shown!r} is not enabled on this bot. Enabled: {enabled}. Nothing was charged."
            )
        problem = providers.get(chosen).capabilities.problem(request)
        if problem:
            others = [
                n
                for n, p in providers.providers.items()
                if n != chosen and n != "mock" and p.capabilities.problem(request) is None
            ]
            hint = f" Try provider:{others[0]}." if others and name is None else ""
            if others and name is not None:
                hint = f" Try /imagine provider:{others[0]}, or change that option."
            raise UnsupportedRequest(f"{problem}{hint} Nothing was charged.")
        return chosen

    async def start_job(
        self,
        interaction: discord.Interaction[Any],
        request: GenerationRequest,
        *,
        kind: str,
        provider: str | None,
        private: bool = False,
        parent_job_id: str | None = None,
    ) -> None:
        assert interaction.guild_id is not None and interaction.channel_id is not None
        async with acknowledged_if_slow(interaction, ephemeral=private):
            review, guild_settings = await screen(self.bot, interaction, request)
            chosen = self.resolve_provider(provider, request)
            if review.filtered and self.bot.providers.get(chosen).capabilities.safety_checker:
                request = request.model_copy(update={"safety_checker": True})
            settings = self.bot.config.settings
            cost_override = getattr(settings.providers, chosen).image_cost
            image_cost = settings.credits.image_cost if cost_override is None else cost_override
            now = time.time()
            job = NewJob(
                id=uuid.uuid4().hex,
                kind=kind,
                guild_id=interaction.guild_id,
                channel_id=interaction.channel_id,
                user_id=interaction.user.id,
                application_id=interaction.application_id,
                interaction_token=interaction.token,
                token_expires_at=(interaction.created_at + TOKEN_LIFETIME).timestamp(),
                request=request,
                provider=chosen,
                image_cost=image_cost,
                deadline_at=now + settings.generation.job_timeout_s,
                upload_limit=interaction.filesize_limit,
                private=private,
                parent_job_id=parent_job_id,
            )
            await self._admit(job, member_allowance(self.bot, interaction.user)[0])
        placeholder_id: int | None = None
        progress = Progress(phase="queued", provider_label=self.bot.providers.label(chosen))
        text = render.placeholder(request, progress)
        try:
            if interaction.extras.get(_DEFERRED_EPHEMERAL) and not private:
                # Acknowledged privately before it was known the job is public: the public
                # placeholder is a followup, and the private "thinking…" goes away.
                with contextlib.suppress(discord.HTTPException):
                    await interaction.delete_original_response()
                followup = await interaction.followup.send(
                    text,
                    view=progress_view(job.id),
                    wait=True,
                    allowed_mentions=discord.AllowedMentions.none(),
                )
                placeholder_id = followup.id
            elif interaction.response.is_done():  # acknowledged already (inputs, or slow admission)
                message = await interaction.edit_original_response(
                    content=text,
                    view=progress_view(job.id),
                    allowed_mentions=discord.AllowedMentions.none(),
                )
                placeholder_id = message.id
            else:
                response = await interaction.response.send_message(
                    text,
                    view=progress_view(job.id),
                    ephemeral=private,
                    allowed_mentions=discord.AllowedMentions.none(),
                )
                placeholder_id = response.message_id
        except discord.HTTPException:
            # The job is paid for and stays admitted: it is delivered to the channel instead.
            log.warning("job %s: could not show a placeholder", job.id, exc_info=True)
        await self.bot.jobs.enqueue(job.id, placeholder_id)
        audit = job_audit_text(job, placeholder_id, self.bot.providers.label(chosen))
        await post_audit(self.bot, guild_settings.audit_channel_id, audit)

    async def _admit(self, job: NewJob, allowance: int) -> None:
        """Admit under the member's cooldown; every refusal says nothing was charged."""
        key = (job.guild_id, job.user_id)
        lock = self._admitting.get(key)
        if lock is None:
            lock = self._admitting[key] = asyncio.Lock()
        async with lock:
            now = time.time()
            cooldown = self.bot.config.settings.generation.cooldown_s
            if cooldown > 0:
                last = await self.bot.store.last_job_at(job.guild_id, job.user_id)
                ready = cooldown_until(last, cooldown, now)
                if ready is not None:
                    raise UserFacingError(
                        f"You can start another job <t:{math.ceil(ready)}:R>. Nothing was charged."
                    )
            try:
                await self.bot.jobs.admit(job, allowance=allowance)
            except InsufficientCredits as e:
                hint = self.bot.credits.refill_hint(now)
                raise UserFacingError(f"{e.user_message} {hint} Nothing was charged.") from None

    async def reroll(self, interaction: discord.Interaction[Any], job_id: str) -> None:
        async with acknowledged_if_slow(interaction, ephemeral=None):
            job = await self.bot.store.get_job(job_id)
        if job is None:
            raise UserFacingError("That job no longer exists.")
        if not _inputs_kept(job.request):
            raise UserFacingError(
                "The images that edit started from are no longer kept. Use Vary or /edit instead."
            )
        request = job.request.model_copy(update={"seed": random.randint(0, MAX_SEED)})
        await self.start_job(
            interaction,
            request,
            kind=job.kind,
            provider=job.provider,
            private=job.private,
            parent_job_id=job.id,
        )

    # -- commands --------------------------------------------------------------------------
    @app_commands.command(name="imagine", description="Make images from a prompt")
    @app_commands.guild_only()
    @app_commands.describe(
        prompt="What to draw",
        negative_prompt="What to keep out of the image",
        aspect_ratio="Shape of the image",
        size="Resolution tier",
        n="How many images (1-4, up to 12 with image_set)",
        seed="Same seed and prompt give similar images",
        thinking="The model's thinking mode: better quality, slower",
        image_set="A coherent set of related images, up to n",
        palette="3-10 colours like #FF0000 #00FF00 #0000FF (optionally #RRGGBB:NN%)",
        provider="Which image host to use",
        private="Only you see the result",
    )
    async def imagine(
        self,
        interaction: discord.Interaction[Any],
        prompt: app_commands.Range[str, 1, 6000],
        negative_prompt: app_commands.Range[str, 1, 2000] | None = None,
        aspect_ratio: AspectChoice | None = None,
        size: SizeChoice | None = None,
        n: app_commands.Range[int, 1, 12] | None = None,
        seed: app_commands.Range[int, 0, 2147483647] | None = None,
        thinking: bool | None = None,
        image_set: bool | None = None,
        palette: app_commands.Range[str, 1, 200] | None = None,
        provider: str | None = None,
        private: bool | None = None,
    ) -> None:
        async with acknowledged_if_slow(interaction, ephemeral=private):
            saved = await self.defaults(interaction, provider, edit=False)
        request = build_request(
            prompt=prompt,
            negative_prompt=pick(negative_prompt, saved.negative_prompt),
            aspect_ratio=pick(aspect_ratio, saved.aspect_ratio),
            size=pick(size, saved.size),
            n=pick(n, saved.n),
            seed=seed,
            thinking=pick(thinking, saved.thinking),
            image_set=image_set,
            palette=palette,
        )
        await self.start_job(
            interaction,
            request,
            kind="imagine",
            provider=provider,
            private=bool(pick(private, saved.private)),
        )

    def provider_choices(self, current: str) -> list[app_commands.Choice[str]]:
        current = current.lower()
        return [
            app_commands.Choice(name=p.label, value=name)
            for name, p in self.bot.providers.providers.items()
            if current in name or current in p.label.lower()
        ][:25]

    @imagine.autocomplete("provider")
    async def _provider_autocomplete(
        self, interaction: discord.Interaction[Any], current: str
    ) -> list[app_commands.Choice[str]]:
        return self.provider_choices(current)


def _inputs_kept(request: GenerationRequest) -> bool:
    return all(Path(image.path).exists() for image in request.input_images)


async def setup(bot: WanBot) -> None:
    await bot.add_cog(Generation(bot))
