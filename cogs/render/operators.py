"""What operators and server admins read about the bot's running: host balances, forgetting a
member's data."""

from __future__ import annotations

from collections.abc import Mapping

from cogs.render import markup
from cogs.render.i18n import Locale, _, ngettext, number
from wanbot.member_data import Forgotten


def amount(value: float, locale: Locale = None) -> str:
    """A host balance as the host would show it: whole credits without decimals, else two."""
    return number(int(value), locale) if value == int(value) else number(value, locale, 2)


def _plural_count(value: float) -> int:
    return int(value) if value == int(value) else 2  # "1.5 credits", never "1.5 credit"


def low_balance(host: str, balance: float, threshold: float, locale: Locale = None) -> str:
    text = ngettext(
        "%(host)s's balance is low: %(balance)s credit left (warning threshold "
        "%(threshold)s). Top it up before jobs start failing.",
        "%(host)s's balance is low: %(balance)s credits left (warning threshold "
        "%(threshold)s). Top it up before jobs start failing.",
        _plural_count(balance),
        locale,
    ) % {
        "host": host,
        "balance": amount(balance, locale),
        "threshold": amount(threshold, locale),
    }
    return "⚠️ " + text


def host_balances(
    known: Mapping[str, tuple[float, float] | None], locale: Locale = None
) -> str | None:
    """One line for /admin stats: {host label: (balance, seen at) or None if not reported yet}."""
    if not known:
        return None
    parts = []
    for host, seen in known.items():
        if seen is None:
            parts.append(_("%(host)s not reported yet", locale) % {"host": host})
            continue
        balance, at = seen
        parts.append(
            ngettext(
                "%(host)s %(balance)s credit (%(when)s)",
                "%(host)s %(balance)s credits (%(when)s)",
                _plural_count(balance),
                locale,
            )
            % {"host": host, "balance": amount(balance, locale), "when": markup.relative_time(at)}
        )
    return _("Host balance: %(hosts)s", locale) % {"hosts": " · ".join(parts)}


def forgotten(user_id: int, done: Forgotten, locale: Locale = None) -> str:
    """The reply to /admin forget."""
    lines = [
        _("Forgot %(who)s on this server:", locale) % {"who": markup.user(user_id)},
        "- "
        + ngettext(
            "the prompt of %(count)s job removed",
            "the prompts of %(count)s jobs removed",
            done.jobs,
            locale,
        )
        % {"count": number(done.jobs, locale)},
        "- "
        + (
            _("saved defaults deleted", locale)
            if done.preferences
            else _("no saved defaults", locale)
        ),
        "- "
        + ngettext(
            "%(count)s kept input image deleted",
            "%(count)s kept input images deleted",
            done.inputs_deleted,
            locale,
        )
        % {"count": number(done.inputs_deleted, locale)},
    ]
    if done.cancelled:
        lines.append(
            "- "
            + ngettext(
                "%(count)s unfinished job stopped first, its credits given back",
                "%(count)s unfinished jobs stopped first, their credits given back",
                done.cancelled,
                locale,
            )
            % {"count": number(done.cancelled, locale)}
        )
    lines.append(_("Their credits and the ledger's totals are unchanged.", locale))
    if done.still_active:
        lines.append(
            ngettext(
                "%(count)s job was still delivering, so its prompt is still stored: run this "
                "again in a minute.",
                "%(count)s jobs were still delivering, so their prompts are still stored: run "
                "this again in a minute.",
                done.still_active,
                locale,
            )
            % {"count": number(done.still_active, locale)}
        )
    lines.append(
        _(
            "Messages already posted in channels (results, audit lines) are Discord's: "
            "delete them there if they should go.",
            locale,
        )
    )
    return "\n".join(lines)


def forget_audit(actor_id: int, user_id: int, done: Forgotten, locale: Locale = None) -> str:
    text = ngettext(
        "%(actor)s removed %(who)s's data from wanbot (the prompt of %(count)s job).",
        "%(actor)s removed %(who)s's data from wanbot (the prompts of %(count)s jobs).",
        done.jobs,
        locale,
    ) % {
        "actor": markup.user(actor_id),
        "who": markup.user(user_id),
        "count": number(done.jobs, locale),
    }
    return "🧹 " + text
