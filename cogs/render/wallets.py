"""Team wallets in the member's words: /admin wallet, /credits, the caption and refusals."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from cogs.render import markup
from cogs.render.i18n import Locale, _, ngettext, number, numbers
from wanbot.credits import next_refill
from wanbot.i18n import N_
from wanbot.store.base import WalletFunds

_ADMIN_PROBLEMS = {
    "name_taken": N_("There is a wallet called %(name)s already."),
    "too_many": N_("A server can have up to %(limit)s team wallets."),
    "no_wallet": N_("There is no wallet called %(name)s. See /admin wallet list."),
    "bad_name": N_("A wallet name needs 1 to %(limit)s characters."),
}
_REFILLS = {
    "daily": N_("refills to %(allowance)s a day"),
    "weekly": N_("refills to %(allowance)s a week"),
    "monthly": N_("refills to %(allowance)s a month"),
}


def _name(funds: WalletFunds) -> str:
    return markup.safe(funds.wallet.name, 60)


def credits(n: int, locale: Locale = None) -> str:
    return ngettext("%(n)s credit", "%(n)s credits", n, locale) % {"n": number(n, locale)}


def refill_terms(funds: WalletFunds, now: float, locale: Locale = None) -> str:
    """How the wallet refills: "up to 20 a day, next <t:…:R>", or "no refills"."""
    wallet = funds.wallet
    values = {"allowance": number(wallet.allowance, locale)}
    if wallet.period not in _REFILLS:
        return _("%(allowance)s to start, no refills", locale) % values
    text = _(_REFILLS[wallet.period], locale) % values
    when = next_refill(wallet.period, now)
    if when is not None:
        text += ", " + _("next %(when)s", locale) % {"when": markup.relative_time(when)}
    return text


def paid_by(wallet_name: str | None, locale: Locale = None) -> str:
    """The caption's word on which team wallet paid ("" when the member did)."""
    if wallet_name is None:
        return ""
    return _("paid by wallet %(name)s", locale) % {"name": markup.safe(wallet_name, 60)}


def member_wallets(wallets: Sequence[WalletFunds], now: float, locale: Locale = None) -> str:
    """/credits: the member's team wallets, which pay before their own credits."""
    if not wallets:
        return ""
    lines = [_("Your team wallets pay first (the one with the most left):", locale)]
    for funds in wallets:
        lines.append(
            _("%(name)s (%(role)s): %(credits)s · %(terms)s", locale)
            % {
                "name": _name(funds),
                "role": markup.role(funds.wallet.role_id),
                "credits": credits(funds.balance, locale),
                "terms": refill_terms(funds, now, locale),
            }
        )
    return "\n".join(lines)


def wallet_list(wallets: Sequence[WalletFunds], now: float, locale: Locale = None) -> str:
    """/admin wallet list."""
    if not wallets:
        return _("No team wallets yet. Create one with /admin wallet create.", locale)
    lines = []
    for funds in wallets:
        line = _("%(name)s for %(role)s: %(credits)s · %(terms)s", locale) % {
            "name": _name(funds),
            "role": markup.role(funds.wallet.role_id),
            "credits": credits(funds.balance, locale),
            "terms": refill_terms(funds, now, locale),
        }
        if funds.held:
            line += " · " + _("%(held)s held for unfinished jobs", locale) % {
                "held": number(funds.held, locale)
            }
        lines.append(line)
    return "\n".join(lines)


def created(funds: WalletFunds, now: float, locale: Locale = None) -> str:
    return _(
        "Created wallet %(name)s for %(role)s: %(credits)s, %(terms)s. Members with that role "
        "spend from it before their own credits.",
        locale,
    ) % {
        "name": _name(funds),
        "role": markup.role(funds.wallet.role_id),
        "credits": credits(funds.balance, locale),
        "terms": refill_terms(funds, now, locale),
    }


def granted(funds: WalletFunds, amount: int, locale: Locale = None) -> str:
    return _("Added %(amount)s to wallet %(name)s. It has %(credits)s now.", locale) % {
        "amount": credits(amount, locale),
        "name": _name(funds),
        "credits": credits(funds.balance, locale),
    }


def deleted(funds: WalletFunds, locale: Locale = None) -> str:
    text = _("Deleted wallet %(name)s: it pays for no new jobs.", locale) % {"name": _name(funds)}
    if funds.held:
        text += " " + ngettext(
            "The %(held)s credit it holds for an unfinished job goes back to it if that fails.",
            "The %(held)s credits it holds for unfinished jobs go back to it if those fail.",
            funds.held,
            locale,
        ) % {"held": number(funds.held, locale)}
    return text


def audit_created(actor_id: int, funds: WalletFunds, now: float, locale: Locale = None) -> str:
    return "💳 " + _("%(who)s created wallet %(name)s for %(role)s (%(terms)s).", locale) % {
        "who": markup.user(actor_id),
        "name": _name(funds),
        "role": markup.role(funds.wallet.role_id),
        "terms": refill_terms(funds, now, locale),
    }


def audit_granted(actor_id: int, funds: WalletFunds, amount: int, locale: Locale = None) -> str:
    return "💳 " + _("%(who)s added %(amount)s to wallet %(name)s.", locale) % {
        "who": markup.user(actor_id),
        "amount": credits(amount, locale),
        "name": _name(funds),
    }


def audit_deleted(actor_id: int, funds: WalletFunds, locale: Locale = None) -> str:
    return "💳 " + _("%(who)s deleted wallet %(name)s.", locale) % {
        "who": markup.user(actor_id),
        "name": _name(funds),
    }


def admin_refusal(details: Mapping[str, Any], locale: Locale = None) -> str:
    """Why /admin wallet changed nothing (without the closing "nothing was changed")."""
    values = numbers(details, locale)
    if "name" in values:
        values["name"] = markup.safe(str(values["name"]), 60)
    return _(_ADMIN_PROBLEMS[str(details["problem"])], locale) % values


def wallet_short(details: Mapping[str, Any], locale: Locale = None) -> str:
    """Added to "you have N credits left…" when the member's team wallet can't pay either."""
    return _("Your team wallet %(wallet)s has %(left)s left.", locale) % {
        "wallet": markup.safe(str(details["wallet"]), 60),
        "left": credits(int(details["wallet_balance"]), locale),
    }
