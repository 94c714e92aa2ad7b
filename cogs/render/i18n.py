"""The one door every member-facing sentence goes through, so a language can be added by
dropping gettext catalogs in place: `_` and `ngettext` take the member's locale.

Until catalogs exist these return the English source text. Translatable text never uses
f-strings: placeholders are named (`%(count)s`) so a translation can reorder them.
"""

from __future__ import annotations

Locale = str | None


def _(message: str, locale: Locale = None) -> str:
    """`message` in the member's language (English source text for now)."""
    return message


def ngettext(singular: str, plural: str, n: int, locale: Locale = None) -> str:
    """The singular or plural form for `n`, in the member's language."""
    return singular if n == 1 else plural
