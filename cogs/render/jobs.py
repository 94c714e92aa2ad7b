"""What a job shows: its placeholder while it waits and runs, the caption of its results, and
how it ended when it made none. Pure functions, no I/O."""

from __future__ import annotations

import time

from cogs.render import markup, prompts, wallets
from cogs.render.i18n import N_, Locale, _, ngettext, number, numbers, sentences
from cogs.render.markup import safe
from cogs.render.refusals import host_problem
from wanbot.i18n import translator
from wanbot.jobs.ports import DeliveredFile, Delivery, FailureReason, JobOutcome, Progress
from wanbot.jobs.run import CancelResult
from wanbot.options import is_remix
from wanbot.providers.models import GenerationRequest
from wanbot.store.base import Job


def ordinal(n: int, locale: Locale = None) -> str:
    """A place in line: "3rd" in English, the bare number in Chinese (the catalog adds 第…位)."""
    return translator(locale).ordinal(n)


def clock(seconds: float) -> str:
    seconds = int(max(0, seconds))
    return f"{seconds // 60}:{seconds % 60:02d}"


def megabytes(size: int, locale: Locale = None) -> str:
    return _("%(mb)s MB", locale) % {"mb": translator(locale).number(round(size / 1e6, 1))}


def options_line(request: GenerationRequest, locale: Locale = None) -> str:
    parts = [
        f"{number(request.n, locale)} × {request.aspect_ratio}"
        if request.n > 1
        else request.aspect_ratio
    ]
    parts.append(request.size)
    if request.image_set:
        parts.append(_("image set", locale))
    return " · ".join(parts)


def placeholder(
    request: GenerationRequest,
    progress: Progress,
    now: float | None = None,
    locale: Locale = None,
) -> str:
    now = time.time() if now is None else now
    head = f"🎨 {safe(request.typed_prompt)}"
    if progress.phase == "queued":
        place = (
            _("%(place)s in line", locale) % {"place": ordinal(progress.queue_position, locale)}
            if progress.queue_position
            else _("starting", locale)
        )
        line = _("Queued · %(place)s · %(provider)s · %(options)s", locale) % {
            "place": place,
            "provider": progress.provider_label,
            "options": options_line(request, locale),
        }
        return f"{head}\n{line}"
    line = _("Generating · %(elapsed)s elapsed", locale) % {"elapsed": clock(progress.elapsed_s)}
    if progress.eta_s is not None and progress.eta_basis:
        line += " · " + _("ready about %(eta)s from now (%(when)s)", locale) % {
            "eta": clock(progress.eta_s),
            "when": markup.relative_time(now + progress.eta_s),
        }
    elif progress.eta_s is not None:
        line += " · " + _("usually about %(total)s in all", locale) % {
            "total": clock(progress.eta_s + progress.elapsed_s)
        }
    lines = [head, line]
    fraction = progress.fraction
    if fraction is None and progress.eta_s is not None and progress.eta_basis:
        total = progress.eta_s + progress.elapsed_s
        fraction = progress.elapsed_s / total if total else None
    if fraction is not None:
        filled = max(0, min(10, round(fraction * 10)))
        bar = "▰" * filled + "▱" * (10 - filled)
        if progress.eta_basis:
            bar += "  " + ngettext(
                "(estimate from the last job like this one)",
                "(estimate from the last %(count)s jobs like this one)",
                progress.eta_basis,
                locale,
            ) % {"count": number(progress.eta_basis, locale)}
        lines.append(bar)
    return "\n".join(lines)


def origin(job: Job, parent: Job | None, locale: Locale = None) -> str | None:
    """Where a result came from: the images an edit started from, and the result it followed."""
    parts = []
    if job.request.input_images:
        names = ", ".join(safe(i.filename, 60) for i in job.request.input_images)
        parts.append(_("edit of %(names)s", locale) % {"names": names})
    if parent is not None and parent.message_ids:
        link = markup.message_link(parent.guild_id, parent.channel_id, parent.message_ids[0])
        if job.request.input_images:
            parts.append(_("from %(link)s", locale) % {"link": link})
        elif is_remix(job.request, parent.request):
            parts.append(prompts.remix_of(link, locale))
        else:
            parts.append(_("reroll of %(link)s", locale) % {"link": link})
    return " · ".join(parts) or None


def file_note(file: DeliveredFile, locale: Locale = None) -> str | None:
    """What happened to a result file on its way to Discord, if anything."""
    if file.original_bytes is None:
        return file.note
    return _(
        "shown as JPEG %(width)s×%(height)s, %(size)s; original %(format)s was %(original_size)s",
        locale,
    ) % {
        "width": file.width,
        "height": file.height,
        "size": megabytes(file.size_bytes, locale),
        "format": file.original_format or "",
        "original_size": megabytes(file.original_bytes, locale),
    }


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
    locale: Locale = None,
) -> str:
    request = job.request
    values = {"prompt": safe(request.typed_prompt), "who": markup.user(job.user_id)}
    head = _("%(prompt)s — for %(who)s", locale) % values
    if mention:
        head = _("%(who)s your images are ready: %(prompt)s", locale) % values
    detail = [
        request.aspect_ratio,
        request.size,
        _("seed %(seed)s", locale) % {"seed": request.seed} if request.seed is not None else "",
        delivery.provider_label,
        ngettext(
            "%(credits)s credit, %(left)s left",
            "%(credits)s credits, %(left)s left",
            delivery.charged,
            locale,
        )
        % {
            "credits": number(delivery.charged, locale),
            "left": number(delivery.balance_after, locale),
        },
        wallets.paid_by(delivery.wallet_name, locale),
    ]
    lines = [head, " · ".join(d for d in detail if d)]
    style = prompts.style_line(request, locale)
    if style and part == 1:
        lines.append(style)
    if source and part == 1:
        lines.append(source)
    if parts > 1:
        span = numbers({"first": first, "last": last, "total": total}, locale)
        if first != last:
            lines.append(_("images %(first)s-%(last)s of %(total)s", locale) % span)
        else:
            lines.append(_("image %(first)s of %(total)s", locale) % span)
    if request.n > total:
        lines.append(
            _("The model made %(made)s of the %(asked)s asked for; you paid for %(made)s.", locale)
            % numbers({"made": total, "asked": request.n}, locale)
        )
    notes = [
        _("image %(index)s: %(note)s", locale) % {"index": number(i + 1, locale), "note": note}
        for i, f in enumerate(delivery.files)
        if (note := file_note(f, locale))
    ]
    if part == 1 and notes:
        lines.extend(notes)
    return "\n".join(lines)[:2000]


_FAILED = {
    FailureReason.CANCELLED: N_("Cancelled."),
    FailureReason.HOST_CANCELLED: N_("%(provider)s cancelled it."),
    FailureReason.HOST_FAILED: N_("%(provider)s couldn't make this one (%(problem)s)."),
    FailureReason.DEADLINE: N_("It took longer than this bot waits."),
    FailureReason.DOWNLOAD_FAILED: N_("The images could not be fetched from the image host."),
    FailureReason.PROVIDER_DISABLED: N_("%(provider)s is no longer enabled on this bot."),
    FailureReason.RESTARTED_WHILE_SUBMITTING: N_(
        "The bot restarted while sending it to the image host."
    ),
    FailureReason.INTERNAL: N_("Something went wrong on the bot's side."),
}


def refund(amount: int, locale: Locale = None) -> str:
    if amount == 0:
        return _("Nothing was charged.", locale)
    return ngettext(
        "Your %(amount)s credit is back.", "Your %(amount)s credits are back.", amount, locale
    ) % {"amount": number(amount, locale)}


def failure(outcome: JobOutcome, locale: Locale = None) -> str:
    """How a job ended without images, and what came back."""
    why = _(_FAILED[outcome.reason], locale) % {
        "provider": outcome.provider_label,
        "problem": host_problem(outcome.host_problem, locale),
    }
    return sentences(why, refund(outcome.refunded, locale))


def ended(request: GenerationRequest, outcome: JobOutcome, locale: Locale = None) -> str:
    return f"🎨 {safe(request.typed_prompt)}\n{failure(outcome, locale)}"


_CANCEL_REPLIES = {
    CancelResult.CANCELLED: N_("Cancelled."),
    CancelResult.CANCELLING: N_("Cancelling…"),
    CancelResult.TOO_LATE: N_("That job can't be cancelled any more."),
}


def cancel_reply(result: CancelResult, locale: Locale = None) -> str:
    """The answer to the Cancel button."""
    return _(_CANCEL_REPLIES[result], locale)
