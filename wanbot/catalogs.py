"""Keeping the gettext catalogs in step with the code: extract, merge, check (Babel's API).

`scripts/update_catalogs.py` runs these to rewrite `wanbot.pot` and merge it into every `.po`;
the catalog tests run the checks. Messages come from two places: the `_`/`gettext`/`ngettext`/
`pgettext`/`npgettext`/`N_` calls in cogs/ and wanbot/ (babel.cfg), and the command tree's names,
descriptions and choices, which live under msgctxt "command".
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from babel.messages.catalog import Catalog, Message
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po, write_po

from wanbot.i18n import COMMAND_CONTEXT, DOMAIN, LOCALE_DIR, Language, po_path

ROOT = Path(__file__).resolve().parent.parent
BABEL_CFG = ROOT / "babel.cfg"
SOURCE_DIRS = ("cogs", "wanbot")
POT_PATH = LOCALE_DIR / f"{DOMAIN}.pot"
# %(name)s: messages are formatted by name only (and only when values are given)
PLACEHOLDER = re.compile(r"%\((?P<name>\w+)\)[-#0 +]*\d*(?:\.\d+)?[diouxXeEfFgGcrsa]")


@dataclass(frozen=True)
class Used:
    """A message the code or the command tree uses, and where."""

    msgid: str | tuple[str, str]
    context: str | None
    where: str


def extract_code_messages(root: Path = ROOT, dirs: Iterable[str] = SOURCE_DIRS) -> list[Used]:
    """Every marked message in the source directories, as `pybabel extract -F babel.cfg` does.

    Works in a checkout (babel.cfg and the sources), not from an installed package.
    """
    with BABEL_CFG.open() as f:
        method_map, options_map = parse_mapping_cfg(f)  # type: ignore[no-untyped-call]
    found: list[Used] = []
    for folder in dirs:
        for filename, lineno, message, _comments, context in extract_from_dir(
            root / folder, method_map, options_map
        ):
            msgid: str | tuple[str, str]
            if isinstance(message, tuple):
                if len(message) != 2 or not all(message):
                    continue  # a call with a non-literal argument: nothing to extract
                msgid = (str(message[0]), str(message[1]))
            elif not message:
                continue
            else:
                msgid = message
            found.append(Used(msgid, context, f"{folder}/{filename}:{lineno}"))
    return found


def build_template(used: Iterable[Used], command_strings: Iterable[str]) -> Catalog:
    """The .pot: the code's messages and the command tree's strings (msgctxt "command")."""
    template = Catalog(domain=DOMAIN, project="wanbot", fuzzy=False)
    for u in used:
        template.add(u.msgid, context=u.context, locations=[_location(u.where)])
    for text in sorted(set(command_strings)):
        template.add(text, context=COMMAND_CONTEXT, auto_comments=["command tree"])
    return template


def _location(where: str) -> tuple[str, int]:
    path, _, line = where.rpartition(":")
    return (path, int(line))


def read_catalog(path: Path, language: Language) -> Catalog:
    with path.open("rb") as f:
        return read_po(f, locale=language.value, domain=DOMAIN)


def write_catalog(catalog: Catalog, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as f:
        write_po(f, catalog, width=100, sort_output=True, omit_header=False, ignore_obsolete=False)


def merge(template: Catalog, language: Language, *, keep_unused: bool = True) -> Catalog:
    """`pybabel update`: translations of unchanged msgids kept, close matches marked fuzzy.

    Entries the code does not use (yet) stay translated with `keep_unused`, else they become
    obsolete (#~) as pybabel makes them. Keep them while the code is moving to gettext, so
    translations written ahead of the code are not lost.
    """
    catalog = read_catalog(po_path(language), language)
    catalog.update(template, no_fuzzy_matching=False, update_header_comment=False)
    if keep_unused:
        for key, message in list(catalog.obsolete.items()):
            catalog[message.id] = message
            del catalog.obsolete[key]
    return catalog


def _first(msgid: str | tuple[str, ...] | list[str]) -> str:
    return msgid if isinstance(msgid, str) else msgid[0]


def _strings(message: Message) -> list[str]:
    value = message.string
    if isinstance(value, tuple | list):
        return [str(s) for s in value]
    return [str(value or "")]


def untranslated(used: Iterable[Used | tuple[str, str | None]], catalog: Catalog) -> list[str]:
    """Messages used but missing from the catalog, empty, or fuzzy there, one line each."""
    problems: list[str] = []
    for u in used:
        msgid, context, where = (
            (u.msgid, u.context, u.where) if isinstance(u, Used) else (u[0], u[1], "command tree")
        )
        message = catalog.get(_first(msgid), context=context)
        label = f"{where}: {_first(msgid)!r}" + (f" (msgctxt {context!r})" if context else "")
        if message is None:
            problems.append(f"{label} is not in the catalog")
        elif message.fuzzy:
            problems.append(f"{label} is fuzzy")
        elif not all(_strings(message)):
            problems.append(f"{label} has no translation")
        elif isinstance(msgid, tuple) and not isinstance(message.id, tuple | list):
            problems.append(f"{label} is used with plural forms but the catalog has one")
    return problems


def placeholders(text: str) -> set[str]:
    """The named placeholders of a message ("%(credits)s" → "credits")."""
    return {m["name"] for m in PLACEHOLDER.finditer(text)}


def placeholder_problems(catalog: Catalog) -> list[str]:
    """Translations whose placeholders differ from their msgid's: a missing one drops a fact the
    member needs, an extra one raises KeyError at render time."""
    problems: list[str] = []
    for message in catalog:
        if not message.id or message.fuzzy:
            continue
        ids = [message.id] if isinstance(message.id, str) else list(message.id)
        wanted = set().union(*(placeholders(i) for i in ids))
        for text in _strings(message):
            if text and placeholders(text) != wanted:
                problems.append(
                    f"{_first(message.id)!r}: translation has {sorted(placeholders(text))}, "
                    f"msgid has {sorted(wanted)}"
                )
    return problems
