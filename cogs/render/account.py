"""/set and /credits in the member's words."""

from __future__ import annotations

from cogs.render import markup
from cogs.render.i18n import Locale, _, ngettext
from wanbot.credits import CreditSummary
from wanbot.preferences import Preferences
from wanbot.store.base import Activity

PER_PERIOD = {"daily": "a day", "weekly": "a week", "monthly": "a month"}
SET_HINT = "Change them with /set aspect_ratio:... n:... — or /set reset:true."
_THINKING = {True: "thinking on", False: "thinking off", None: "thinking as the host decides"}
_RELEASED = {"failed": "failed", "cancelled": "cancelled", "done": "not delivered"}


def preferences(prefs: Preferences, locale: Locale = None) -> str:
    """One line, as /set shows it."""
    n = prefs.n or 1
    parts = [
        prefs.aspect_ratio or "1:1",
        prefs.size or "2K",
        ngettext("%(n)s image", "%(n)s images", n, locale) % {"n": n},
        _(_THINKING[prefs.thinking], locale),
    ]
    if prefs.negative_prompt:
        shown = markup.shorten(prefs.negative_prompt, 60)
        parts.append(_('negative: "%(text)s"', locale) % {"text": shown})
    parts.append(_("private results", locale) if prefs.private else _("public results", locale))
    return " · ".join(parts)


def defaults_reply(prefs: Preferences, head: str | None, locale: Locale = None) -> str:
    """`head` is "saved", "cleared" or None (only showing them)."""
    line = _("Your defaults: %(line)s", locale) % {"line": preferences(prefs, locale)}
    heads = {"saved": "Saved.", "cleared": "Defaults cleared."}
    if head is not None:
        line = f"{_(heads[head], locale)} {line}"
    return f"{line}\n{_(SET_HINT, locale)}"


def _signed(amount: int) -> str:
    return f"+{amount}" if amount >= 0 else f"−{-amount}"


def activity(entry: Activity, period: str, locale: Locale = None) -> str:
    """One ledger entry as /credits lists it: `−4 /imagine "a red fox…"`, `+50 daily refill`."""
    values: dict[str, object] = {"amount": _signed(entry.amount)}
    if entry.kind == "hold":
        values.update(kind=entry.job_kind or "imagine", prompt=markup.safe(entry.prompt or "", 20))
        return _('%(amount)s /%(kind)s "%(prompt)s"', locale) % values
    if entry.kind == "release":
        why = _(_RELEASED.get(entry.job_state or "", "returned"), locale)
        return _("%(amount)s refund (%(why)s)", locale) % {**values, "why": why}
    if entry.kind == "refill":
        if period in PER_PERIOD:
            return _("%(amount)s %(period)s refill", locale) % {**values, "period": _(period)}
        return _("%(amount)s allowance", locale) % values
    values["who"] = markup.user(entry.actor_id) if entry.actor_id else _("the bot", locale)
    template = (
        "%(amount)s from %(who)s" if entry.kind == "grant" else "%(amount)s removed by %(who)s"
    )
    text = _(template, locale) % values
    if entry.reason:
        text += f" ({markup.safe(entry.reason, 40)})"
    return text


def credits_summary(summary: CreditSummary, locale: Locale = None) -> str:
    """Balance (after any refill due), allowance, next refill and the latest entries."""
    parts = [
        ngettext("%(balance)s credit", "%(balance)s credits", summary.balance, locale)
        % {"balance": summary.balance}
    ]
    source = (
        " " + _("(from %(role)s)", locale) % {"role": markup.role(summary.role_id)}
        if summary.role_id
        else ""
    )
    values = {"allowance": summary.allowance, "source": source}
    if summary.period in PER_PERIOD:
        values["per"] = _(PER_PERIOD[summary.period], locale)
        parts.append(_("allowance %(allowance)s %(per)s%(source)s", locale) % values)
        if summary.refills_at is not None:
            when = markup.relative_time(summary.refills_at)
            parts.append(_("refills %(when)s", locale) % {"when": when})
    else:
        parts.append(
            _("allowance %(allowance)s%(source)s, no refills (ask a server admin for more)", locale)
            % values
        )
    if summary.held:
        parts.append(_("%(held)s held for unfinished jobs", locale) % {"held": summary.held})
    lines = [" · ".join(parts)]
    if summary.recent:
        shown = " · ".join(activity(e, summary.period, locale) for e in summary.recent)
        lines.append(
            _("Last %(count)s: %(shown)s", locale) % {"count": len(summary.recent), "shown": shown}
        )
    else:
        lines.append(_("No activity yet.", locale))
    return "\n".join(lines)
