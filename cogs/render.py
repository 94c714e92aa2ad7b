"""The words members see: placeholders, captions, refusals. Pure functions, no I/O."""

from __future__ import annotations

import time

import discord

from wanbot.jobs.ports import Delivery, Progress
from wanbot.providers.models import GenerationRequest
from wanbot.store.base import Job

PROMPT_SHOWN = 300  # characters of the prompt a message repeats; the whole prompt stays stored


def safe(text: str, limit: int = PROMPT_SHOWN) -> str:
    """User text made inert: no markdown tricks, no mentions, bounded length."""
    text = " ".join(text.split())
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return discord.utils.escape_mentions(discord.utils.escape_markdown(text))


def ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def clock(seconds: float) -> str:
    seconds = int(max(0, seconds))
    return f"{seconds // 60}:{seconds % 60:02d}"


def options_line(request: GenerationRequest) -> str:
    parts = [f"{request.n} × {request.aspect_ratio}" if request.n > 1 else request.aspect_ratio]
    parts.append(request.size)
    if request.image_set:
        parts.append("image set")
    return " · ".join(parts)


def placeholder(request: GenerationRequest, progress: Progress, now: float | None = None) -> str:
    now = time.time() if now is None else now
    head = f"🎨 {safe(request.prompt)}"
    if progress.phase == "queued":
        place = (
            f"{ordinal(progress.queue_position)} in line" if progress.queue_position else "starting"
        )
        line = f"Queued · {place} · {progress.provider_label} · {options_line(request)}"
        return f"{head}\n{line}"
    line = f"Generating · {clock(progress.elapsed_s)} elapsed"
    if progress.eta_s is not None and progress.eta_basis:
        line += (
            f" · ready about {clock(progress.eta_s)} from now (<t:{int(now + progress.eta_s)}:R>)"
        )
    elif progress.eta_s is not None:
        line += f" · usually about {clock(progress.eta_s + progress.elapsed_s)} in all"
    lines = [head, line]
    fraction = progress.fraction
    if fraction is None and progress.eta_s is not None and progress.eta_basis:
        total = progress.eta_s + progress.elapsed_s
        fraction = progress.elapsed_s / total if total else None
    if fraction is not None:
        filled = max(0, min(10, round(fraction * 10)))
        bar = "▰" * filled + "▱" * (10 - filled)
        if progress.eta_basis:
            jobs = "job" if progress.eta_basis == 1 else f"{progress.eta_basis} jobs"
            bar += f"  (estimate from the last {jobs} like this one)"
        lines.append(bar)
    return "\n".join(lines)


def origin(job: Job, parent: Job | None) -> str | None:
    """Where a result came from: the images an edit started from, and the result it followed."""
    parts = []
    if job.request.input_images:
        names = ", ".join(safe(i.filename, 60) for i in job.request.input_images)
        parts.append(f"edit of {names}")
    if parent is not None and parent.message_ids:
        link = (
            f"https://discord.com/channels/{parent.guild_id}/{parent.channel_id}/"
            f"{parent.message_ids[0]}"
        )
        parts.append(f"{'from' if job.request.input_images else 'reroll of'} {link}")
    return " · ".join(parts) or None


def caption(
    job: Job,
    delivery: Delivery,
    *,
    part: int,
    parts: int,
    first: int,
    last: int,
    total: int,
    mention: bool,
    source: str | None = None,
) -> str:
    request = job.request
    who = f"<@{job.user_id}>"
    head = f"{safe(request.prompt)} — for {who}"
    if mention:
        head = f"{who} your images are ready: {safe(request.prompt)}"
    credits = "credit" if delivery.charged == 1 else "credits"
    detail = [
        request.aspect_ratio,
        request.size,
        f"seed {request.seed}" if request.seed is not None else "",
        delivery.provider_label,
        f"{delivery.charged} {credits}, {delivery.balance_after} left",
    ]
    lines = [head, " · ".join(d for d in detail if d)]
    if source and part == 1:
        lines.append(source)
    if parts > 1:
        lines.append(
            f"images {first}-{last} of {total}" if first != last else f"image {first} of {total}"
        )
    if request.n > total:
        lines.append(f"The model made {total} of the {request.n} asked for; you paid for {total}.")
    notes = [f"image {i + 1}: {f.note}" for i, f in enumerate(delivery.files) if f.note]
    if part == 1 and notes:
        lines.extend(notes)
    return "\n".join(lines)[:2000]


def ended(request: GenerationRequest, message: str) -> str:
    return f"🎨 {safe(request.prompt)}\n{message}"
