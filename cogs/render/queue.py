"""/jobs: a member's own queued and running jobs, in the member's words."""

from __future__ import annotations

import time
from collections.abc import Sequence

from cogs.render import markup
from cogs.render.i18n import Locale, _, ngettext, number
from cogs.render.jobs import clock, options_line, ordinal
from wanbot.jobs.listing import MemberJob
from wanbot.store.base import JobPhase

PROMPT_SHOWN = 80
MAX_SHOWN = 10  # two rows of Cancel buttons


def state(entry: MemberJob, now: float, locale: Locale = None) -> str:
    """Where the job is: its place in line, or how long it has run and how long it may take."""
    progress = entry.progress
    if entry.phase is JobPhase.QUEUED:
        if progress is not None and progress.queue_position:
            place = ordinal(progress.queue_position, locale)
            return _("queued, %(place)s in line", locale) % {"place": place}
        return _("queued", locale)
    if entry.phase is JobPhase.SUBMITTING:
        return _("starting", locale)
    if entry.phase is JobPhase.DELIVERING:
        return _("delivering", locale)
    if progress is None:
        return _("generating", locale)
    text = _("generating, %(elapsed)s elapsed", locale) % {"elapsed": clock(progress.elapsed_s)}
    if progress.eta_s is not None:
        text += " · " + _("ready about %(eta)s from now (%(when)s)", locale) % {
            "eta": clock(progress.eta_s),
            "when": markup.relative_time(now + progress.eta_s),
        }
    return text


def job_line(index: int, entry: MemberJob, provider: str, now: float, locale: Locale) -> str:
    job = entry.job
    parts = [
        f"**{number(index, locale)}.** {markup.safe(job.request.typed_prompt, PROMPT_SHOWN)}",
        state(entry, now, locale),
        provider,
        options_line(job.request, locale),
    ]
    if job.placeholder_message_id is not None and not job.private:
        parts.append(markup.message_link(job.guild_id, job.channel_id, job.placeholder_message_id))
    return " · ".join(parts)


def member_jobs(
    entries: Sequence[MemberJob],
    providers: Sequence[str],
    now: float | None = None,
    locale: Locale = None,
) -> str:
    """The /jobs reply; `providers` are the labels of the entries' hosts, in order."""
    if not entries:
        return _("You have no queued or running jobs in this server.", locale)
    now = time.time() if now is None else now
    count = len(entries)
    lines = [
        ngettext(
            "Your unfinished job in this server:",
            "Your %(count)s unfinished jobs in this server:",
            count,
            locale,
        )
        % {"count": number(count, locale)}
    ]
    shown = list(zip(entries, providers, strict=True))[:MAX_SHOWN]
    lines += [job_line(i, e, p, now, locale) for i, (e, p) in enumerate(shown, start=1)]
    if count > MAX_SHOWN:
        more = count - MAX_SHOWN
        lines.append(
            ngettext("…and %(count)s more job.", "…and %(count)s more jobs.", more, locale)
            % {"count": number(more, locale)}
        )
    if any(e.cancellable for e, _p in shown):
        lines.append(_("Cancel one with its button: its credits come back.", locale))
    return "\n".join(lines)


def cancel_label(index: int, locale: Locale = None) -> str:
    return _("Cancel %(index)s", locale) % {"index": number(index, locale)}
