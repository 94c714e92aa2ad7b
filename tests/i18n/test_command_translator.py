"""zh-CN localizations on the real command tree (the cogs as loaded by the bot, not connected)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import discord
import pytest
from discord import app_commands
from discord.app_commands import TranslationContextLocation as Where

from cogs.client import offline_bot
from cogs.translate import CatalogTranslator, translated_payloads, valid_localization

ZH = "zh-CN"
# Discord's command and option name rule, on the localized names (\w covers CJK letters)
DISCORD_NAME = r"^[-_\w]{1,32}$"


async def _payloads() -> list[dict[str, Any]]:
    async with offline_bot() as bot:
        return await translated_payloads(bot.tree, CatalogTranslator())


def _walk(payload: dict[str, Any], path: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    here = f"{path}/{payload['name']}"
    yield here, payload
    for option in payload.get("options") or []:
        yield from _walk(option, here)


async def test_every_command_option_and_choice_has_chinese() -> None:
    payloads = await _payloads()
    names = {p["name"] for p in payloads}
    assert {"imagine", "edit", "set", "credits", "admin", "Edit image"} <= names
    checked = 0
    for command in payloads:
        for path, item in _walk(command):
            assert ZH in (item.get("name_localizations") or {}), f"{path}: no zh-CN name"
            localized = item["name_localizations"][ZH]
            menu = item.get("type") in (2, 3) and path.count("/") == 1
            if menu:
                assert 1 <= len(localized) <= 32
                assert not item.get("description")
            else:
                assert localized == localized.lower()
                assert re.match(DISCORD_NAME, localized), (path, localized)
                description = (item.get("description_localizations") or {}).get(ZH)
                assert description and 1 <= len(description) <= 100, f"{path}: {description!r}"
            for choice in item.get("choices") or []:
                zh = (choice.get("name_localizations") or {}).get(ZH)
                assert zh and 1 <= len(zh) <= 100, f"{path} choice {choice['name']!r}"
                checked += 1
            checked += 1
    assert checked > 60  # every command, subcommand, option and choice above


async def test_localized_names_are_unique_among_siblings() -> None:
    for command in await _payloads():
        for path, item in _walk(command):
            options = item.get("options") or []
            zh = [o["name_localizations"][ZH] for o in options]
            assert len(zh) == len(set(zh)), f"{path}: two options share a Chinese name: {zh}"
            choices = [c["name_localizations"][ZH] for c in item.get("choices") or []]
            assert len(choices) == len(set(choices)), f"{path}: {choices}"


async def test_the_chinese_names_read_as_chosen() -> None:
    by_name = {p["name"]: p for p in await _payloads()}
    imagine = by_name["imagine"]
    assert imagine["name_localizations"][ZH] == "画图"
    assert imagine["description_localizations"][ZH] == "根据提示词生成图片"
    prompt = next(o for o in imagine["options"] if o["name"] == "prompt")
    assert prompt["name_localizations"][ZH] == "提示词"
    assert by_name["Edit image"]["name_localizations"][ZH] == "编辑图片"
    assert by_name["credits"]["name_localizations"][ZH] == "积分"


async def test_other_locales_get_no_localization() -> None:
    for command in await _payloads():
        for path, item in _walk(command):
            assert set(item.get("name_localizations") or {}) <= {ZH}, path
            assert set(item.get("description_localizations") or {}) <= {ZH}, path


@pytest.mark.parametrize(
    ("text", "where", "menu", "ok"),
    [
        ("画图", Where.command_name, False, True),
        ("图片2", Where.parameter_name, False, True),
        ("audit-channel", Where.command_name, False, True),
        ("画 图", Where.command_name, False, False),
        ("Imagine", Where.parameter_name, False, False),
        ("x" * 33, Where.command_name, False, False),
        ("", Where.parameter_name, False, False),
        ("编辑图片", Where.command_name, True, True),
        ("Edit Image", Where.command_name, True, True),
        ("x" * 33, Where.command_name, True, False),
        ("x" * 100, Where.command_description, False, True),
        ("x" * 101, Where.parameter_description, False, False),
        ("16:9 横图", Where.choice_name, False, True),
        ("", Where.choice_name, False, False),
    ],
)
def test_valid_localization_follows_discords_rules(
    text: str, where: Where, menu: bool, ok: bool
) -> None:
    assert valid_localization(text, where, context_menu=menu) is ok


async def test_an_invalid_or_missing_translation_is_left_out() -> None:
    async with offline_bot() as bot:
        imagine = bot.tree.get_command("imagine")
    assert isinstance(imagine, app_commands.Command)
    prompt = imagine.get_parameter("prompt")
    assert prompt is not None
    context: app_commands.TranslationContextTypes = app_commands.TranslationContext(
        location=Where.parameter_name, data=prompt
    )
    translator = CatalogTranslator()
    zh, en = discord.Locale.chinese, discord.Locale.american_english
    assert await translator.translate(app_commands.locale_str("prompt"), zh, context) == "提示词"
    assert await translator.translate(app_commands.locale_str("prompt"), en, context) is None
    missing = app_commands.locale_str("no-such-option")
    assert await translator.translate(missing, zh, context) is None
    # a description's translation where a name goes would break Discord's name rule
    wrong_place = app_commands.locale_str("How many images (1-4)")
    assert await translator.translate(wrong_place, zh, context) is None
