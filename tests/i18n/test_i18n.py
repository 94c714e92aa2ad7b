"""The language of a Discord locale, and the zh_CN catalog as the bot reads it."""

from __future__ import annotations

import gettext

import discord
import pytest
from babel.messages.catalog import Catalog

from wanbot.i18n import (
    COMMAND_CONTEXT,
    Language,
    compile_catalog,
    language_of,
    translated_keys,
    translation,
    translator,
)
from wanbot.i18n import Translation as T


@pytest.mark.parametrize(
    ("locale", "language"),
    [
        ("zh-CN", Language.CHINESE),
        (discord.Locale.chinese, Language.CHINESE),
        ("zh_CN", Language.CHINESE),
        ("en-US", Language.ENGLISH),
        ("en-GB", Language.ENGLISH),
        (discord.Locale.american_english, Language.ENGLISH),
        ("zh-TW", Language.ENGLISH),
        ("fr", Language.ENGLISH),
        (None, Language.ENGLISH),
        ("", Language.ENGLISH),
    ],
)
def test_language_of_a_discord_locale(locale: object, language: Language) -> None:
    assert language_of(locale) is language


def test_chinese_messages_come_from_the_catalog_with_named_placeholders() -> None:
    zh = translator("zh-CN")
    text = zh.ngettext(
        "%(credits)s credit, %(left)s left",
        "%(credits)s credits, %(left)s left",
        4,
        credits=zh.number(4),
        left=zh.number(46),
    )
    assert text == "4 积分，剩余 46"
    assert zh.gettext("Nothing was charged.") == "未扣除任何积分。"
    assert zh._("Saved.") == "已保存。"


def test_chinese_has_one_plural_form_english_two() -> None:
    zh, en = translator("zh-CN"), translator("en-US")
    singular, plural = "%(balance)s credit", "%(balance)s credits"
    assert [zh.ngettext(singular, plural, n, balance=n) for n in (0, 1, 2)] == [
        "0 积分",
        "1 积分",
        "2 积分",
    ]
    assert [en.ngettext(singular, plural, n, balance=n) for n in (0, 1, 2)] == [
        "0 credits",
        "1 credit",
        "2 credits",
    ]


def test_english_is_the_source_text_formatted() -> None:
    en = translator(None)
    assert en.gettext("Your allowance refills %(when)s.", when="<t:1:R>") == (
        "Your allowance refills <t:1:R>."
    )
    assert en.gettext("100% of it") == "100% of it"  # no values: not %-formatted
    assert en.pgettext(COMMAND_CONTEXT, "imagine") == "imagine"


def test_command_strings_live_apart_from_messages() -> None:
    zh = translation(Language.CHINESE)
    assert zh.pgettext(COMMAND_CONTEXT, "imagine") == "画图"
    assert zh.knows("imagine", COMMAND_CONTEXT)
    assert not zh.knows("imagine")
    assert zh.pgettext(COMMAND_CONTEXT, "Edit image") == "编辑图片"


def test_numbers_and_places_read_naturally() -> None:
    zh, en = translator("zh-CN"), translator("en-US")
    assert en.number(1000) == "1,000"
    assert zh.number(1000) == "1,000"
    assert [en.ordinal(n) for n in (1, 2, 3, 4, 11, 12, 13, 21, 1002)] == [
        "1st",
        "2nd",
        "3rd",
        "4th",
        "11th",
        "12th",
        "13th",
        "21st",
        "1,002nd",
    ]
    assert zh.gettext("%(place)s in line", place=zh.ordinal(3)) == "第 3 位"
    assert en.gettext("%(place)s in line", place=en.ordinal(3)) == "3rd in line"


def test_fuzzy_and_empty_entries_fall_back_to_english_and_are_not_known() -> None:
    catalog = Catalog(locale="zh_CN", domain="wanbot")
    catalog.add("Done.", "好了。")
    catalog.add("Maybe.", "也许。", flags=["fuzzy"])
    catalog.add("Empty.", "")
    catalog.add(("%(n)s job", "%(n)s jobs"), ("%(n)s 个任务",))
    compiled = compile_catalog(catalog)
    t = T(Language.CHINESE, compiled, translated_keys(catalog))
    assert t.gettext("Done.") == "好了。"
    assert t.gettext("Maybe.") == "Maybe."
    assert t.gettext("Empty.") == "Empty."
    assert t.ngettext("%(n)s job", "%(n)s jobs", 5, n=5) == "5 个任务"
    assert t.knows("Done.") and t.knows("%(n)s job")
    assert not t.knows("Maybe.") and not t.knows("Empty.")
    assert isinstance(compiled, gettext.GNUTranslations)
