"""The member's language: which one a Discord locale means, and the gettext catalog that speaks it.

English is the source language (the msgids); Simplified Chinese comes from
`wanbot/locales/zh_CN/LC_MESSAGES/wanbot.po`. The `.po` file is read and compiled in memory the
first time a language is used, so a fresh clone, CI and the Docker image need no build step and
can never run a stale `.mo`.

Messages use named placeholders (`"%(credits)s credits left"`): the values are given by name, so
a translation may reorder them. A message is %-formatted only when values are given, so a message
without values writes a literal per cent sign as `%`, one with values as `%%`.
"""

from __future__ import annotations

import functools
import gettext
import io
import logging
from copy import copy
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

from babel.core import Locale
from babel.messages.catalog import Catalog
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_decimal

log = logging.getLogger(__name__)

DOMAIN = "wanbot"
LOCALE_DIR = Path(__file__).parent / "locales"
# msgctxt of command, option and choice names and descriptions, apart from messages
COMMAND_CONTEXT = "command"


class Language(StrEnum):
    """The languages wanbot writes in; the value is the catalog's locale name."""

    ENGLISH = "en"
    CHINESE = "zh_CN"


def language_of(discord_locale: object) -> Language:
    """The language for a Discord locale ("zh-CN", `discord.Locale.chinese`, None, ...).

    Only Simplified Chinese has a catalog; every other locale (Traditional Chinese included, whose
    readers are better served by English than by the wrong script) gets English.
    """
    if discord_locale is None:
        return Language.ENGLISH
    value = getattr(discord_locale, "value", discord_locale)
    tag = str(value).strip().replace("_", "-").casefold()
    return Language.CHINESE if tag in ("zh-cn", "zh-hans", "zh-hans-cn", "zh") else Language.ENGLISH


def po_path(language: Language) -> Path:
    return LOCALE_DIR / language.value / "LC_MESSAGES" / f"{DOMAIN}.po"


def load_catalog(language: Language) -> Catalog:
    """The language's catalog as Babel reads it (an empty one for English, the source language)."""
    if language is Language.ENGLISH:
        return Catalog(locale="en", domain=DOMAIN)
    with po_path(language).open("rb") as f:
        return read_po(f, locale=language.value, domain=DOMAIN)


def compile_catalog(catalog: Catalog) -> gettext.GNUTranslations:
    """The catalog as gettext uses it, compiled in memory (fuzzy entries left out, as msgfmt)."""
    buffer = io.BytesIO()
    write_mo(buffer, catalog, use_fuzzy=False)
    buffer.seek(0)
    return gettext.GNUTranslations(buffer)


def _key(msgid: str, context: str | None) -> tuple[str, str | None]:
    return (msgid, context)


@dataclass(frozen=True)
class Translation:
    """One language's gettext functions, with named-placeholder formatting and numbers."""

    language: Language
    _gettext: gettext.NullTranslations
    _translated: frozenset[tuple[str, str | None]] = field(default=frozenset())

    def gettext(self, message: str, /, **values: object) -> str:
        return _fill(self._gettext.gettext(message), values)

    def ngettext(self, singular: str, plural: str, n: int, /, **values: object) -> str:
        """The form for `n` (Chinese has one form, English two); `n` itself is not a value:
        pass it by name, e.g. `credits=t.number(n)`."""
        return _fill(self._gettext.ngettext(singular, plural, n), values)

    def pgettext(self, context: str, message: str, /, **values: object) -> str:
        return _fill(self._gettext.pgettext(context, message), values)

    def npgettext(
        self, context: str, singular: str, plural: str, n: int, /, **values: object
    ) -> str:
        return _fill(self._gettext.npgettext(context, singular, plural, n), values)

    # the usual short name, for `_ = t._` in a renderer
    _ = gettext

    def knows(self, message: str, context: str | None = None) -> bool:
        """Whether the catalog has a finished (non-empty, non-fuzzy) translation of `message`."""
        return _key(message, context) in self._translated

    def number(self, value: int | float, places: int | None = None) -> str:
        """A number as this language writes it: 1,000 in English, 1,000 in Chinese too; with
        `places`, exactly that many decimals (12,000.50)."""
        locale = "en_US" if self.language is Language.ENGLISH else self.language.value
        if places is None:
            return format_decimal(value, locale=locale)
        pattern = copy(Locale.parse(locale).decimal_formats[None])
        pattern.frac_prec = (places, places)
        return str(pattern.apply(value, locale))

    def ordinal(self, n: int) -> str:
        """A place in line: "3rd" in English; the bare number in Chinese, whose catalog writes
        the 第…位 around it ("第 %(place)s 位")."""
        if self.language is not Language.ENGLISH:
            return self.number(n)
        suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
        return f"{self.number(n)}{suffix}"


def _fill(text: str, values: dict[str, object]) -> str:
    return text % values if values else text


def translated_keys(catalog: Catalog) -> frozenset[tuple[str, str | None]]:
    keys: set[tuple[str, str | None]] = set()
    for message in catalog:
        if not message.id or message.fuzzy:
            continue
        value = message.string
        strings = list(value) if isinstance(value, tuple | list) else [value]
        if all(strings):
            msgid = message.id[0] if isinstance(message.id, tuple | list) else message.id
            keys.add(_key(msgid, message.context))
    return frozenset(keys)


@functools.cache
def translation(language: Language) -> Translation:
    """The language's Translation, built once per process."""
    if language is Language.ENGLISH:
        return Translation(language, gettext.NullTranslations())
    catalog = load_catalog(language)
    compiled = compile_catalog(catalog)
    keys = translated_keys(catalog)
    log.info("loaded %s catalog: %d translated messages", language.value, len(keys))
    return Translation(language, compiled, keys)


def translator(discord_locale: object) -> Translation:
    """The Translation for a Discord locale (`interaction.locale`, or one stored with a job)."""
    return translation(language_of(discord_locale))


def N_(message: str) -> str:
    """Mark a message for extraction where it is defined, to be translated where it is used."""
    return message
