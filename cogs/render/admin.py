"""Audit-log lines and the /admin listings."""

from __future__ import annotations

from cogs.render import markup
from cogs.render.i18n import Locale, _, ngettext
from cogs.render.jobs import options_line
from cogs.render.refusals import reason_text
from wanbot.admission import Admitted, Requester
from wanbot.moderation import Refused
from wanbot.store.base import BlockEntry, GuildSettings, PeriodStats


def refusal_audit(
    requester: Requester,
    prompt: str,
    negative_prompt: str | None,
    refusal: Refused,
    locale: Locale = None,
) -> str:
    text = "🚫 " + _("%(who)s in %(where)s: %(why)s Refused, nothing charged.", locale) % {
        "who": markup.user(requester.user_id),
        "where": markup.channel(requester.channel_id),
        "why": reason_text(refusal, locale),
    }
    text += f"\n> {markup.safe(prompt)}"
    if negative_prompt:
        text += "\n> " + _("negative: %(text)s", locale) % {"text": markup.safe(negative_prompt)}
    return text


def job_audit(admitted: Admitted, placeholder_id: int | None, locale: Locale = None) -> str:
    job = admitted.job
    head = "🎨 " + _(
        "%(who)s in %(where)s · /%(kind)s · %(provider)s · %(options)s · %(held)s credits held",
        locale,
    ) % {
        "who": markup.user(job.user_id),
        "where": markup.channel(job.channel_id),
        "kind": job.kind,
        "provider": admitted.provider_label,
        "options": options_line(job.request, locale),
        "held": job.hold_amount,
    }
    if job.private:
        where = _("private result (only the member sees it)", locale)
    elif placeholder_id is None:
        where = _("no placeholder; the result goes to the channel", locale)
    else:
        where = markup.message_link(job.guild_id, job.channel_id, placeholder_id)
    lines = [head, f"> {markup.safe(job.request.prompt)}"]
    if job.request.negative_prompt:
        negative = markup.safe(job.request.negative_prompt)
        lines.append("> " + _("negative: %(text)s", locale) % {"text": negative})
    lines.append(where)
    return "\n".join(lines)


def period(name: str, stats: PeriodStats, locale: Locale = None) -> str:
    values = {"name": _(name, locale), "jobs": stats.jobs, "credits": stats.credits}
    text = ngettext("%(name)s: %(jobs)s job", "%(name)s: %(jobs)s jobs", stats.jobs, locale)
    text %= values
    if stats.failed:
        text += " " + _("(%(failed)s failed)", locale) % {"failed": stats.failed}
    return text + " · " + _("%(credits)s credits spent", locale) % values


def channel_rules(settings: GuildSettings, locale: Locale = None) -> str:
    allowed = " ".join(markup.channel(c) for c in sorted(settings.allowed_channels))
    denied = " ".join(markup.channel(c) for c in sorted(settings.denied_channels))
    if not allowed and not denied:
        return _("Every channel may generate images (no channel rules).", locale)
    lines = []
    if allowed:
        lines.append(_("Only these channels may generate: %(list)s", locale) % {"list": allowed})
    else:
        lines.append(_("Every channel may generate except the denied ones.", locale))
    if denied:
        lines.append(_("Denied: %(list)s", locale) % {"list": denied})
    return "\n".join(lines)


def blocklist(entries: tuple[BlockEntry, ...], locale: Locale = None) -> str:
    if not entries:
        return _("The blocklist is empty (the built-in checks still apply).", locale)
    shown = [
        _("`%(pattern)s` (regex)", locale) % {"pattern": markup.in_code(e.pattern)}
        if e.is_regex
        else markup.safe(e.pattern, 100)
        for e in entries
    ]
    text = _("Blocked: %(list)s", locale) % {"list": " · ".join(shown)}
    return text if len(text) <= 2000 else text[:1990] + " …"
