"""The zh_CN catalog covers every string the code and the command tree use, correctly."""

from __future__ import annotations

import re
from pathlib import Path

from babel.messages.catalog import Catalog, Message

from cogs.client import offline_bot
from cogs.translate import command_strings
from tests.i18n.leftover import english_left
from wanbot.catalogs import (
    build_template,
    extract_code_messages,
    placeholder_problems,
    placeholders,
    read_catalog,
    untranslated,
)
from wanbot.i18n import COMMAND_CONTEXT, Language, po_path


def _strings(message: Message) -> list[str]:
    value = message.string
    return [value] if isinstance(value, str) else list(value or ())


def _zh() -> Catalog:
    return read_catalog(po_path(Language.CHINESE), Language.CHINESE)


def test_every_message_the_code_uses_is_translated() -> None:
    used = extract_code_messages()
    assert untranslated(used, _zh()) == []


async def test_every_command_string_is_translated() -> None:
    async with offline_bot() as bot:
        strings = await command_strings(bot.tree)
    assert len(strings) > 60
    assert untranslated([(s, COMMAND_CONTEXT) for s in sorted(strings)], _zh()) == []


def test_translations_keep_their_placeholders() -> None:
    assert placeholder_problems(_zh()) == []


def test_the_catalog_has_chinese_plural_rules() -> None:
    catalog = _zh()
    assert catalog.num_plurals == 1
    assert catalog.plural_expr == "0"
    assert catalog.locale is not None and catalog.locale.language == "zh"
    assert "Plural-Forms: nplurals=1; plural=0;" in po_path(Language.CHINESE).read_text()


def test_no_translation_leaves_english_behind() -> None:
    problems = []
    for message in _zh():
        if not message.id:
            continue
        ids = [message.id] if isinstance(message.id, str) else list(message.id)
        strings = _strings(message)
        for text in strings:
            # placeholders stand for values (prompts, names, numbers): take them out first
            bare = re.sub(r"%\(\w+\)s", " ", text)
            left = english_left(bare)
            if left:
                problems.append((ids[0], left))
    assert problems == []


def test_chinese_text_names_commands_and_options_as_the_chinese_client_shows_them() -> None:
    catalog = _zh()
    localized = {
        str(m.string) for m in catalog if m.context == COMMAND_CONTEXT and isinstance(m.id, str)
    }
    wrong = []
    for message in catalog:
        if message.context == COMMAND_CONTEXT or not message.id:
            continue
        strings = _strings(message)
        for text in strings:
            for name in re.findall(r"(?<![\w/])/([-\w]+)", text):
                if name not in localized:
                    wrong.append((text, f"/{name}"))
            # a colour with its share (#FF8800:25%) is not an option
            for name in re.findall(r"(?<![#\w])([-\w]+):(?:\.\.\.|[#\w])", text):
                if not name.isdigit() and name not in localized:
                    wrong.append((text, f"{name}:"))
    assert wrong == []


# -- the checks themselves ---------------------------------------------------------------------


def _write(tmp_path: Path, name: str, code: str) -> Path:
    folder = tmp_path / "pkg"
    folder.mkdir(exist_ok=True)
    (folder / name).write_text(code)
    return folder


def test_extraction_finds_every_gettext_form(tmp_path: Path) -> None:
    _write(
        tmp_path,
        "render.py",
        "def f(t, n):\n"
        "    t._('Saved.')\n"
        "    t.gettext('Your defaults: %(defaults)s', defaults='x')\n"
        "    t.ngettext('%(n)s image', '%(n)s images', n, n=n)\n"
        "    t.pgettext('button', 'Edit')\n"
        "    t.gettext(variable)\n"
        "    N_('marked for later')\n",
    )
    used = extract_code_messages(tmp_path, ["pkg"])
    found = {(u.msgid, u.context) for u in used}
    assert found == {
        ("Saved.", None),
        ("Your defaults: %(defaults)s", None),
        (("%(n)s image", "%(n)s images"), None),
        ("Edit", "button"),
        ("marked for later", None),
    }
    assert all(u.where.startswith("pkg/render.py:") for u in used)


def test_a_message_missing_from_the_catalog_is_reported(tmp_path: Path) -> None:
    _write(
        tmp_path,
        "render.py",
        "def f(t, n):\n"
        "    t._('Saved.')\n"
        "    t._('A sentence nobody translated yet.')\n"
        "    t.ngettext('%(n)s image', '%(n)s images', n, n=n)\n"
        "    t.ngettext('Saved.', 'Saved them.', n)\n",
    )
    problems = untranslated(extract_code_messages(tmp_path, ["pkg"]), _zh())
    assert len(problems) == 2
    assert "'A sentence nobody translated yet.' is not in the catalog" in problems[0]
    assert "used with plural forms but the catalog has one" in problems[1]


def test_fuzzy_and_empty_translations_are_reported() -> None:
    catalog = Catalog(locale="zh_CN")
    catalog.add("Fuzzy.", "模糊。", flags=["fuzzy"])
    catalog.add("Empty.", "")
    catalog.add(("%(n)s job", "%(n)s jobs"), ("",))
    problems = untranslated([("Fuzzy.", None), ("Empty.", None), ("%(n)s job", None)], catalog)
    assert [p.split(": ", 1)[1] for p in problems] == [
        "'Fuzzy.' is fuzzy",
        "'Empty.' has no translation",
        "'%(n)s job' has no translation",
    ]


def test_placeholder_mismatches_are_reported() -> None:
    assert placeholders("%(credits)s credits, %(left)s left, 100%% sure") == {"credits", "left"}
    catalog = Catalog(locale="zh_CN")
    catalog.add("%(credits)s credits, %(left)s left", "%(credits)s 积分")
    catalog.add("Hi %(member)s", "你好 %(membre)s")
    catalog.add(("%(n)s job", "%(n)s jobs"), ("%(n)s 个任务",))
    catalog.add(("one job", "%(n)s jobs"), ("%(n)s 个任务",))
    problems = placeholder_problems(catalog)
    assert len(problems) == 2
    assert "'%(credits)s credits, %(left)s left'" in problems[0]
    assert "'Hi %(member)s'" in problems[1]


def test_the_template_holds_code_messages_and_command_strings() -> None:
    used = extract_code_messages()
    template = build_template(used, ["imagine", "What to draw"])
    assert template.get("imagine", context=COMMAND_CONTEXT) is not None
    assert template.get("What to draw", context=COMMAND_CONTEXT) is not None
    assert template.get("imagine") is None
