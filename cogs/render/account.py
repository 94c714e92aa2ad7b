"""/set and /credits in the member's words."""

from __future__ import annotations

from cogs.render import markup
from cogs.render.i18n import N_, Locale, _, command_name, ngettext, number, sentences
from wanbot.credits import CreditSummary
from wanbot.preferences import Preferences
from wanbot.store.base import Activity

PERIODS = ("daily", "weekly", "monthly")
SET_HINT = N_("Change them with /set aspect_ratio:... n:... — or /set reset:true.")
_THINKING = {
    True: N_("thinking on"),
    False: N_("thinking off"),
    None: N_("thinking as the host decides"),
}
_RELEASED = {"failed": N_("failed"), "cancelled": N_("cancelled"), "done": N_("not delivered")}
_RETURNED = N_("returned")
_REFILL = {
    "daily": N_("%(amount)s daily refill"),
    "weekly": N_("%(amount)s weekly refill"),
    "monthly": N_("%(amount)s monthly refill"),
}
_ALLOWANCE = {
    "daily": N_("allowance %(allowance)s a day%(source)s"),
    "weekly": N_("allowance %(allowance)s a week%(source)s"),
    "monthly": N_("allowance %(allowance)s a month%(source)s"),
}
_HEADS = {"saved": N_("Saved."), "cleared": N_("Defaults cleared.")}


def preferences(prefs: Preferences, locale: Locale = None) -> str:
    """One line, as /set shows it."""
    n = prefs.n or 1
    parts = [
        prefs.aspect_ratio or "1:1",
        prefs.size or "2K",
        ngettext("%(n)s image", "%(n)s images", n, locale) % {"n": number(n, locale)},
        _(_THINKING[prefs.thinking], locale),
    ]
    if prefs.negative_prompt:
        shown = markup.safe(prefs.negative_prompt, 60)
        parts.append(_('negative: "%(text)s"', locale) % {"text": shown})
    parts.append(_("private results", locale) if prefs.private else _("public results", locale))
    return " · ".join(parts)


def defaults_reply(prefs: Preferences, head: str | None, locale: Locale = None) -> str:
    """`head` is "saved", "cleared" or None (only showing them)."""
    line = _("Your defaults: %(line)s", locale) % {"line": preferences(prefs, locale)}
    if head is not None:
        line = sentences(_(_HEADS[head], locale), line)
    return f"{line}\n{_(SET_HINT, locale)}"


def aside(text: str | None, locale: Locale = None, limit: int = 200) -> str:
    """A member's reason shown after a sentence: ` (text)`, `（text）`; empty without one."""
    if not text:
        return ""
    return _(" (%(reason)s)", locale) % {"reason": markup.safe(text, limit)}


def _signed(amount: int, locale: Locale) -> str:
    return f"+{number(amount, locale)}" if amount >= 0 else f"−{number(-amount, locale)}"


def activity(entry: Activity, period: str, locale: Locale = None) -> str:
    """One ledger entry as /credits lists it: `−4 /imagine "a red fox…"`, `+50 daily refill`."""
    values: dict[str, object] = {"amount": _signed(entry.amount, locale)}
    if entry.kind == "hold":
        values.update(
            kind=command_name(entry.job_kind or "imagine", locale),
            prompt=markup.safe(entry.prompt or "", 20),
        )
        return _('%(amount)s /%(kind)s "%(prompt)s"', locale) % values
    if entry.kind == "release":
        why = _(_RELEASED.get(entry.job_state or "", _RETURNED), locale)
        return _("%(amount)s refund (%(why)s)", locale) % {**values, "why": why}
    if entry.kind == "refill":
        if period in _REFILL:
            return _(_REFILL[period], locale) % values
        return _("%(amount)s allowance", locale) % values
    values["who"] = markup.user(entry.actor_id) if entry.actor_id else _("the bot", locale)
    if entry.kind == "grant":
        text = _("%(amount)s from %(who)s", locale) % values
    else:
        text = _("%(amount)s removed by %(who)s", locale) % values
    return text + aside(entry.reason, locale, 40)


def credits_summary(summary: CreditSummary, locale: Locale = None) -> str:
    """Balance (after any refill due), allowance, next refill and the latest entries."""
    parts = [
        ngettext("%(balance)s credit", "%(balance)s credits", summary.balance, locale)
        % {"balance": number(summary.balance, locale)}
    ]
    source = (
        _(" (from %(role)s)", locale) % {"role": markup.role(summary.role_id)}
        if summary.role_id
        else ""
    )
    values = {"allowance": number(summary.allowance, locale), "source": source}
    if summary.period in _ALLOWANCE:
        parts.append(_(_ALLOWANCE[summary.period], locale) % values)
        if summary.refills_at is not None:
            when = markup.relative_time(summary.refills_at)
            parts.append(_("refills %(when)s", locale) % {"when": when})
    else:
        parts.append(
            _("allowance %(allowance)s%(source)s, no refills (ask a server admin for more)", locale)
            % values
        )
    if summary.held:
        parts.append(
            ngettext(
                "%(held)s credit held for unfinished jobs",
                "%(held)s credits held for unfinished jobs",
                summary.held,
                locale,
            )
            % {"held": number(summary.held, locale)}
        )
    lines = [" · ".join(parts)]
    if summary.recent:
        shown = " · ".join(activity(e, summary.period, locale) for e in summary.recent)
        lines.append(
            _("Last %(count)s: %(shown)s", locale)
            % {"count": number(len(summary.recent), locale), "shown": shown}
        )
    else:
        lines.append(_("No activity yet.", locale))
    return "\n".join(lines)
