"""Languages end to end: interactions carry the member's locale, and the commands Discord
registers carry zh-CN names and descriptions."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import discord
import pytest

from cogs.client import WanBot
from cogs.translate import CatalogTranslator
from tests.e2e.harness import running_bot
from tests.fakes.discord_server import FakeDiscord

ZH = "zh-CN"


def _walk(item: dict[str, Any], path: str = "") -> list[tuple[str, dict[str, Any]]]:
    here = f"{path}/{item['name']}"
    found = [(here, item)]
    for option in item.get("options") or []:
        found += _walk(option, here)
    return found


def _assert_localized(commands: list[dict[str, Any]]) -> None:
    assert {c["name"] for c in commands} >= {"imagine", "edit", "set", "credits", "admin"}
    for command in commands:
        for path, item in _walk(command):
            assert (item.get("name_localizations") or {}).get(ZH), f"{path}: no zh-CN name"
            if item.get("description"):
                assert (item.get("description_localizations") or {}).get(ZH), path
            for choice in item.get("choices") or []:
                assert (choice.get("name_localizations") or {}).get(ZH), (path, choice)


async def test_the_bot_as_built_registers_chinese(fake: FakeDiscord, tmp_path: Path) -> None:
    async with running_bot(fake, tmp_path):
        await fake.wait_for(lambda f: f.command_put_count >= 1)
    assert fake.violations == []
    registered = fake.registered_commands[None]
    _assert_localized(registered)
    by_name = {c["name"]: c for c in registered}
    assert by_name["imagine"]["name_localizations"] == {ZH: "画图"}
    assert by_name["Edit image"]["name_localizations"] == {ZH: "编辑图片"}


async def test_interactions_carry_the_members_locale(fake: FakeDiscord, tmp_path: Path) -> None:
    seen: list[tuple[str, discord.Locale]] = []

    def listen(bot: WanBot) -> None:
        async def on_interaction(interaction: discord.Interaction[Any]) -> None:
            seen.append((interaction.user.name, interaction.locale))

        bot.add_listener(on_interaction)

    async with running_bot(fake, tmp_path, configure=listen) as h:
        await fake.wait_for(lambda f: f.command_put_count >= 1)
        fake.set_locale("bob", ZH)
        await fake.slash("credits", user="alice")
        await fake.slash("credits", user="alice", locale=ZH)
        await fake.slash("credits", user="bob")
        await fake.slash("credits", user="bob", locale="en-GB")
        await h.imagine("a red fox", user="carol", locale=ZH)
        await h.wait_for(lambda: len(seen) == 5)
    assert seen == [
        ("alice", discord.Locale.american_english),
        ("alice", discord.Locale.chinese),
        ("bob", discord.Locale.chinese),
        ("bob", discord.Locale.british_english),
        ("carol", discord.Locale.chinese),
    ]


async def test_the_fake_rejects_localizations_discord_would(
    fake: FakeDiscord, tmp_path: Path
) -> None:
    class BadTranslator(CatalogTranslator):
        async def translate(self, string: Any, locale: discord.Locale, context: Any) -> str | None:
            return "Not A Valid Name" if locale is discord.Locale.chinese else None

    def bad(bot: WanBot) -> None:
        bot.command_translator = BadTranslator  # type: ignore[method-assign]

    with pytest.raises(discord.HTTPException):
        async with running_bot(fake, tmp_path, configure=bad):
            pass
    assert any("invalid zh-CN localization" in v for v in fake.violations)
    fake.clear_violations()


async def test_a_changed_translation_syncs_the_commands_again(
    fake: FakeDiscord, tmp_path: Path
) -> None:
    class Reworded(CatalogTranslator):
        async def translate(self, string: Any, locale: discord.Locale, context: Any) -> str | None:
            if string.message == "imagine" and locale is discord.Locale.chinese:
                return "作画"
            return await super().translate(string, locale, context)

    def reworded(bot: WanBot) -> None:
        bot.command_translator = Reworded  # type: ignore[method-assign]

    async with running_bot(fake, tmp_path):
        pass
    assert fake.command_put_count == 1
    async with running_bot(fake, tmp_path, configure=reworded):
        pass
    assert fake.command_put_count == 2  # only a translation changed
    by_name = {c["name"]: c for c in fake.registered_commands[None]}
    assert by_name["imagine"]["name_localizations"] == {ZH: "作画"}
    async with running_bot(fake, tmp_path, configure=reworded):
        pass
    assert fake.command_put_count == 2
