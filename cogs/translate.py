"""Command, option, choice and context-menu names and descriptions in the member's language.

Register once, before the commands are synced:

    await bot.tree.set_translator(CatalogTranslator())

Every string comes from the gettext catalog under msgctxt "command" (wanbot/i18n.py). A string
the catalog lacks, or whose translation Discord would reject, is left out (Discord then shows the
English), so a bad catalog entry can never make a sync fail.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from typing import Any

import discord
from discord import app_commands
from discord.app_commands import TranslationContextLocation as Where

from wanbot.i18n import COMMAND_CONTEXT, Language, language_of, translation

log = logging.getLogger(__name__)

# Discord's rule for slash command and option names, ^[-_\p{L}\p{N}\p{sc=Deva}\p{sc=Thai}]{1,32}$,
# lowercase where the script has case; Python's \w is letters, digits and "_" in every script.
SLASH_NAME = re.compile(r"^[-\w]{1,32}$")
NAME_LOCATIONS = (Where.command_name, Where.group_name, Where.parameter_name)
MAX_DESCRIPTION = 100
MAX_CHOICE_NAME = 100
MAX_MENU_NAME = 32


def valid_localization(text: str, location: Where, *, context_menu: bool = False) -> bool:
    """Whether Discord accepts `text` as a localization at `location`."""
    if location in NAME_LOCATIONS and context_menu:
        return 1 <= len(text) <= MAX_MENU_NAME and text.strip() == text
    if location in NAME_LOCATIONS:
        return bool(SLASH_NAME.match(text)) and text == text.lower()
    if location is Where.choice_name:
        return 1 <= len(text) <= MAX_CHOICE_NAME
    return 1 <= len(text) <= MAX_DESCRIPTION


class CatalogTranslator(app_commands.Translator):
    """zh-CN names and descriptions from the catalog; English is the commands' own text.

    `asked` keeps every string it was asked for: what the catalogs must hold (`command_strings`).
    """

    def __init__(self) -> None:
        self.asked: set[str] = set()

    async def translate(
        self,
        string: app_commands.locale_str,
        locale: discord.Locale,
        context: app_commands.TranslationContextTypes,
    ) -> str | None:
        self.asked.add(string.message)
        language = language_of(locale)
        if language is Language.ENGLISH:
            return None
        t = translation(language)
        if not t.knows(string.message, COMMAND_CONTEXT):
            log.warning("no %s translation for command string %r", language.value, string.message)
            return None
        text = t.pgettext(COMMAND_CONTEXT, string.message)
        menu = isinstance(context.data, app_commands.ContextMenu)
        if not valid_localization(text, context.location, context_menu=menu):
            log.warning(
                "%s translation %r of %r is not valid as a %s; left out",
                language.value,
                text,
                string.message,
                context.location.name,
            )
            return None
        return text


async def sync_payload(
    tree: app_commands.CommandTree[Any], guild: discord.abc.Snowflake | None = None
) -> list[dict[str, Any]]:
    """Exactly what `tree.sync(guild=guild)` sends: every kind of command, translated by the
    tree's translator when it has one."""
    commands = tree.get_commands(guild=guild)
    translator = tree.translator
    if translator is None:
        return [c.to_dict(tree) for c in commands]
    return [await c.get_translated_payload(tree, translator) for c in commands]


def payload_digest(payload: list[dict[str, Any]]) -> str:
    """A fingerprint of a sync payload: a changed name, option or translation changes it."""
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()


async def translated_payloads(
    tree: app_commands.CommandTree[Any], translator: app_commands.Translator
) -> list[dict[str, Any]]:
    """What `tree.sync()` would send for the global commands, translated by `translator`."""
    return [await c.get_translated_payload(tree, translator) for c in tree.get_commands()]


async def command_strings(tree: app_commands.CommandTree[Any]) -> set[str]:
    """Every string discord.py asks a translator for: names, descriptions, choice names."""
    translator = CatalogTranslator()
    await translated_payloads(tree, translator)
    return translator.asked
