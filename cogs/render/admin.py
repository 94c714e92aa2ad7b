"""/admin replies and listings, in the language of the admin who asked (audit lines: audit.py)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from cogs.render import markup
from cogs.render.account import aside
from cogs.render.i18n import N_, Locale, _, command_name, ngettext, number, sentences
from wanbot.store.base import BlockEntry, GuildSettings, GuildStats, MemberBan, PeriodStats

BANS_SHOWN = 30
_NSFW_MEANING = {
    "filter": N_("prompts there are checked like everywhere else"),
    "allow": N_("adult prompts are allowed there; the blocklist still applies"),
}


def credits_count(n: int, locale: Locale = None) -> str:
    return ngettext("%(count)s credit", "%(count)s credits", n, locale) % {
        "count": number(n, locale)
    }


# -- credits ----------------------------------------------------------------------------------
def granted(member_id: int, credits: int, balance: int, reason: str | None, locale: Locale) -> str:
    return ngettext(
        "Gave %(member)s %(credits)s credit%(why)s. They have %(balance)s now.",
        "Gave %(member)s %(credits)s credits%(why)s. They have %(balance)s now.",
        credits,
        locale,
    ) % {
        "member": markup.user(member_id),
        "credits": number(credits, locale),
        "why": aside(reason, locale),
        "balance": number(balance, locale),
    }


def revoked(
    member_id: int,
    taken: int,
    asked: int,
    before: int,
    balance: int,
    reason: str | None,
    locale: Locale,
) -> str:
    """`taken` is less than `asked` when the member had less (`before`): said so."""
    text = ngettext(
        "Took %(credits)s credit from %(member)s%(why)s. They have %(balance)s now.",
        "Took %(credits)s credits from %(member)s%(why)s. They have %(balance)s now.",
        taken,
        locale,
    ) % {
        "member": markup.user(member_id),
        "credits": number(taken, locale),
        "why": aside(reason, locale),
        "balance": number(balance, locale),
    }
    if taken < asked:
        had = _("(They had only %(before)s.)", locale) % {"before": number(before, locale)}
        text = sentences(text, had)
    return text


def member_balance(member_id: int, summary: str, locale: Locale = None) -> str:
    return _("%(member)s: %(summary)s", locale) % {
        "member": markup.user(member_id),
        "summary": summary,
    }


# -- channels, blocklist, NSFW ------------------------------------------------------------------
def channel_rules_cleared(count: int, locale: Locale = None) -> str:
    return ngettext(
        "Removed %(count)s channel rule. Every channel may generate.",
        "Removed %(count)s channel rules. Every channel may generate.",
        count,
        locale,
    ) % {"count": number(count, locale)}


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


def blocklist_removed(removed: bool, locale: Locale = None) -> str:
    return _("Removed.", locale) if removed else _("That isn't on the blocklist.", locale)


def blocklist_added(entry: str, regex: bool, added: bool, locale: Locale = None) -> str:
    values = {"entry": markup.safe(entry, 200)}
    if not added:
        return _('"%(entry)s" was on the blocklist already.', locale) % values
    if regex:
        return _('Pattern "%(entry)s" added.', locale) % values
    return _('Word "%(entry)s" added.', locale) % values


def nsfw_policy(policy: str, locale: Locale = None) -> str:
    return _("Age-restricted channels: %(policy)s (%(meaning)s).", locale) % {
        "policy": command_name(policy, locale),
        "meaning": _(_NSFW_MEANING[policy], locale),
    }


# -- bans ---------------------------------------------------------------------------------------
def banned(member_id: int, added: bool, locale: Locale = None) -> str:
    values = {"member": markup.user(member_id)}
    if not added:
        return _("%(member)s can't generate already.", locale) % values
    return _("%(member)s can no longer generate images here.", locale) % values


def unbanned(member_id: int, removed: bool, locale: Locale = None) -> str:
    values = {"member": markup.user(member_id)}
    if not removed:
        return _("%(member)s wasn't stopped from generating.", locale) % values
    return _("%(member)s can generate images again.", locale) % values


def bans(found: Sequence[MemberBan], locale: Locale = None) -> str:
    if not found:
        return _("Nobody is stopped from generating.", locale)
    lines = []
    for ban in found[:BANS_SHOWN]:
        values = {
            "member": markup.user(ban.user_id),
            "date": f"<t:{int(ban.created_at)}:d>",
            "actor": markup.user(ban.actor_id) if ban.actor_id else "",
        }
        if ban.actor_id:
            line = _("%(member)s since %(date)s by %(actor)s", locale) % values
        else:
            line = _("%(member)s since %(date)s", locale) % values
        if ban.reason:
            line = _("%(line)s: %(reason)s", locale) % {
                "line": line,
                "reason": markup.safe(ban.reason, 100),
            }
        lines.append(line)
    if len(found) > BANS_SHOWN:
        more = len(found) - BANS_SHOWN
        lines.append(
            ngettext("…and %(count)s more.", "…and %(count)s more.", more, locale)
            % {"count": number(more, locale)}
        )
    return "\n".join(lines)


# -- the audit channel and stats -----------------------------------------------------------------
def audit_channel(current: int | None, locale: Locale = None) -> str:
    if current is None:
        return _("Jobs are not logged. Start with /admin audit-channel channel:#name.", locale)
    return _(
        "Jobs are logged in %(channel)s. Change it with /admin audit-channel channel:#name, "
        "or stop with clear:true.",
        locale,
    ) % {"channel": markup.channel(current)}


def audit_channel_cleared(locale: Locale = None) -> str:
    return _("Jobs are no longer logged.", locale)


def audit_channel_set(channel_id: int, locale: Locale = None) -> str:
    return _("Every job will be logged in %(channel)s.", locale) % {
        "channel": markup.channel(channel_id)
    }


def period(which: Literal["today", "month"], stats: PeriodStats, locale: Locale = None) -> str:
    if which == "today":
        text = ngettext("Today: %(jobs)s job", "Today: %(jobs)s jobs", stats.jobs, locale)
    else:
        text = ngettext("This month: %(jobs)s job", "This month: %(jobs)s jobs", stats.jobs, locale)
    text %= {"jobs": number(stats.jobs, locale)}
    if stats.failed:
        failed = _("(%(failed)s failed)", locale) % {"failed": number(stats.failed, locale)}
        text = sentences(text, failed)
    spent = ngettext(
        "%(credits)s credit spent", "%(credits)s credits spent", stats.credits, locale
    ) % {"credits": number(stats.credits, locale)}
    return f"{text} · {spent}"


def stats(found: GuildStats, locale: Locale = None) -> str:
    lines = [period("today", found.today, locale), period("month", found.month, locale)]
    if found.top:
        top = " · ".join(
            _("%(member)s %(credits)s, %(jobs)s", locale)
            % {
                "member": markup.user(m.user_id),
                "credits": credits_count(m.credits, locale),
                "jobs": ngettext("%(count)s job", "%(count)s jobs", m.jobs, locale)
                % {"count": number(m.jobs, locale)},
            }
            for m in found.top
        )
        lines.append(_("Top this month: %(top)s", locale) % {"top": top})
    return "\n".join(lines)
