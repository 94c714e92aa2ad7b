"""The one door every member-facing sentence goes through: `_` and `ngettext` take the member's
Discord locale ("zh-CN", "en-US", None) and answer from wanbot's gettext
catalogs (wanbot/i18n.py): Simplified Chinese for zh-CN, English for every other locale.

They return the template in that language, not yet formatted: the caller fills in its named
placeholders (`_("Saved %(n)s.", locale) % {"n": ...}`), so a translation can reorder them.
Translatable text is never an f-string, and a message chosen from a table is marked where it is
written (`N_("...")`) so the catalog tools find it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from wanbot.i18n import COMMAND_CONTEXT, N_, translator

Locale = str | None  # a Discord locale ("zh-CN", "en-US"); None: English

__all__ = [
    "N_",
    "Locale",
    "_",
    "command_name",
    "listing",
    "ngettext",
    "number",
    "numbers",
    "pgettext",
    "sentences",
]
# Chinese sets no space between sentences, nor around full-width brackets.
_ENDS_FULL_WIDTH = tuple("。！？；：）」』”")
_STARTS_FULL_WIDTH = tuple("（「『“")


def _(message: str, locale: Locale = None) -> str:
    """`message` in the member's language (the English source text when there is none)."""
    return translator(locale).gettext(message)


def ngettext(singular: str, plural: str, n: int, locale: Locale = None) -> str:
    """The form for `n` in the member's language: English has two, Chinese one."""
    return translator(locale).ngettext(singular, plural, n)


def pgettext(context: str, message: str, locale: Locale = None) -> str:
    return translator(locale).pgettext(context, message)


def number(value: int | float, locale: Locale = None, places: int | None = None) -> str:
    """A count as the member's language writes it (1,000); with `places`, that many decimals."""
    return translator(locale).number(value, places)


def numbers(
    values: Mapping[str, Any], locale: Locale = None, *, plain: Iterable[str] = ()
) -> dict[str, Any]:
    """Placeholder values with every int and float written by `number`, except those named in
    `plain`: digits a member types back as they are (a seed, a W×H size)."""
    kept = frozenset(plain)
    return {
        key: number(value, locale)
        if isinstance(value, int | float) and not isinstance(value, bool) and key not in kept
        else value
        for key, value in values.items()
    }


def command_name(name: str, locale: Locale = None) -> str:
    """A command's name as the member's client shows it ("imagine" → "画图")."""
    return pgettext(COMMAND_CONTEXT, name, locale)


def listing(items: Iterable[object], locale: Locale = None, *, either: bool = False) -> str:
    """Items as a list reads in the member's language: "a, b, c" / "a、b、c"; with `either`,
    "a, b or c" / "a、b 或 c"."""
    shown = [str(i) for i in items]
    comma = pgettext("list", ", ", locale)
    if not either or len(shown) < 2:
        return comma.join(shown)
    return _("%(items)s or %(last)s", locale) % {
        "items": comma.join(shown[:-1]),
        "last": shown[-1],
    }


def sentences(*parts: str) -> str:
    """Sentences (or a sentence and its aside) one after another: a space between them in
    English, none after a full-width stop or before a full-width bracket, as Chinese writes."""
    text = ""
    for part in parts:
        if not part:
            continue
        if text and not text.endswith(_ENDS_FULL_WIDTH) and not part.startswith(_STARTS_FULL_WIDTH):
            text += " "
        text += part
    return text
