#!/usr/bin/env python3
"""Rewrite wanbot/locales/wanbot.pot from the code and the command tree, then merge it into every
language's .po (as `pybabel update` does: kept, fuzzy, or obsolete). Translate what it reports.

Usage: .venv/bin/python scripts/update_catalogs.py [--check] [--drop-unused]
  --check: change nothing; exit 1 if a catalog lacks a translation the code or the commands use.
  --drop-unused: entries nothing uses become obsolete (#~) instead of staying translated.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cogs.client import offline_bot
from cogs.translate import command_strings
from wanbot.catalogs import (
    POT_PATH,
    build_template,
    extract_code_messages,
    merge,
    placeholder_problems,
    untranslated,
    write_catalog,
)
from wanbot.i18n import COMMAND_CONTEXT, Language, po_path


async def main(check: bool, keep_unused: bool) -> int:
    async with offline_bot() as bot:
        strings = await command_strings(bot.tree)
    used = extract_code_messages()
    template = build_template(used, strings)
    status = 0
    for language in Language:
        if language is Language.ENGLISH:
            continue
        catalog = merge(template, language, keep_unused=keep_unused)
        problems = untranslated(used, catalog)
        problems += untranslated([(s, COMMAND_CONTEXT) for s in sorted(strings)], catalog)
        problems += placeholder_problems(catalog)
        for line in problems:
            print(f"{language.value}: {line}")
        status |= bool(problems)
        if not check:
            write_catalog(catalog, po_path(language))
    if not check:
        write_catalog(template, POT_PATH)
        print(f"wrote {POT_PATH} ({len(template)} messages) and merged it into every .po")
    return int(status)


if __name__ == "__main__":
    args = sys.argv[1:]
    sys.exit(asyncio.run(main("--check" in args, "--drop-unused" not in args)))
