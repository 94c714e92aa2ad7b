"""Languages end to end: the commands Discord registers carry zh-CN names and descriptions, and
every message is in the language of the member's client (a zh-CN member's refusal, placeholder,
result and /credits in Chinese, an en-US member's in English), later ones in the language of the
command that started the job, audit lines in the server's."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import discord
import pytest

from cogs.client import WanBot
from cogs.translate import CatalogTranslator
from tests.e2e.harness import running_bot
from tests.e2e.test_account_admin import answer
from tests.fakes.discord_server import FakeDiscord, FakeMessage
from tests.i18n.leftover import assert_chinese
from wanbot.providers.models import GenerationRequest
from wanbot.store import Budget, JobPhase, NewJob, SpendCaps, SQLiteStore

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


# -- every message in the member's language ------------------------------------------------------

PROMPT = "a red fox in the snow"
CJK = re.compile(r"[\u4e00-\u9fff]")


def _in_language(locale: str, text: str, *, english: str, chinese: str) -> None:
    """`text` is in `locale`'s language: Chinese with no English left (the prompt aside), or
    English with no Chinese; and says what it should (`english` / `chinese`)."""
    assert text
    if locale == ZH:
        assert_chinese(text, echoed=[PROMPT, PROMPT[:19]])  # /credits shows its start
        assert chinese in text, text
    else:
        assert not CJK.search(text), text
        assert english in text, text


def _button_labels(message: FakeMessage) -> list[str]:
    return [str(c.get("label")) for row in message.components for c in row["components"]]


@pytest.mark.parametrize("locale", [ZH, "en-US"])
async def test_a_members_messages_are_in_their_language(
    fake: FakeDiscord, tmp_path: Path, locale: str
) -> None:
    async with running_bot(fake, tmp_path, mock_delay=3.0) as h:
        fake.set_locale("alice", locale)
        refused = await answer(await h.imagine(PROMPT, n=5))
        assert refused.ephemeral
        _in_language(locale, refused.content, english="image_set:true", chinese="组图:true")
        _in_language(locale, refused.content, english="Nothing was charged.", chinese="未扣除")

        handle = await h.imagine(PROMPT)
        await handle.wait_acknowledged()
        job = await h.job_for(handle)
        assert job.locale == locale
        waiting = h.placeholder(job)
        _in_language(locale, waiting.content, english="in line", chinese="排队中")
        assert _button_labels(waiting) == (["取消"] if locale == ZH else ["Cancel"])

        assert (await h.wait_job(job.id)).state is JobPhase.DONE
        await h.wait_for(lambda: bool(h.placeholder(job).attachments))
        result = h.placeholder(job)
        _in_language(locale, result.content, english="credits, 48 left", chinese="积分，剩余 48")
        labels = (
            ["重新生成", "变体", "重混", "编辑", "删除"]
            if locale == ZH
            else ["Reroll", "Vary", "Remix", "Edit", "Delete"]
        )
        assert _button_labels(result) == labels

        summary = await answer(await fake.slash("credits", {}))
        _in_language(locale, summary.content, english="48 credits", chinese="48 积分")
        _in_language(locale, summary.content, english="/imagine", chinese="/画图")

    # every message the bot sent or edited, progress edits included
    bodies = [r.payload for r in fake.requests if isinstance(r.payload, dict)]
    bodies += [b["data"] for b in bodies if isinstance(b.get("data"), dict)]  # callbacks
    shown = [b["content"] for b in bodies if isinstance(b.get("content"), str) and b["content"]]
    assert any(("生成中" if locale == ZH else "Generating") in text for text in shown)
    for text in shown:
        if locale == ZH:
            assert_chinese(text, echoed=[PROMPT, PROMPT[:19]])
        else:
            assert not CJK.search(text), text


async def test_a_result_posted_after_the_token_expired_is_in_the_commands_language(
    make_fake: Callable[..., FakeDiscord], tmp_path: Path
) -> None:
    fake = make_fake(token_lifetime_s=0.5)
    async with running_bot(fake, tmp_path, mock_delay=1.0) as h:
        handle = await h.imagine(PROMPT, locale=ZH)
        job = await h.wait_job((await h.job_for(handle)).id)
        assert job.state is JobPhase.DONE, job.error
        [posted] = [m for m in fake.messages() if m.id in job.message_ids]
        assert posted.interaction_id is None  # a channel post, not the interaction's webhook
        assert posted.content.startswith(f"<@{h.user_id('alice')}> 你的图片好了：{PROMPT}")
        assert_chinese(posted.content, echoed=[PROMPT])
        assert _button_labels(posted) == ["重新生成", "变体", "重混", "编辑", "删除"]


async def _job_cut_short_by_a_restart(
    tmp_path: Path, fake: FakeDiscord, job_id: str, locale: str | None
) -> None:
    """A job the bot was sending to its host when it stopped, its token long expired."""
    store = await SQLiteStore.open(tmp_path / "wanbot.db")
    try:
        user = fake.users["alice"].id
        await store.grant(fake.guild_id, user, 10, actor_id=None, reason=None)
        now = time.time()
        new = NewJob(
            id=job_id,
            kind="imagine",
            guild_id=fake.guild_id,
            channel_id=fake.channel_id,
            user_id=user,
            application_id=fake.application_id,
            interaction_token="expired",
            token_expires_at=now - 60,
            request=GenerationRequest(prompt=PROMPT),
            provider="mock",
            image_cost=2,
            deadline_at=now + 600,
            locale=locale,
        )
        await store.admit_job(new, Budget(0, None), SpendCaps(day_start=0.0), 5)
        assert await store.mark_submitting(job_id)
    finally:
        await store.close()


async def test_a_failure_after_a_restart_is_told_in_the_commands_language(
    fake: FakeDiscord, tmp_path: Path
) -> None:
    await _job_cut_short_by_a_restart(tmp_path, fake, "c" * 32, ZH)
    await _job_cut_short_by_a_restart(tmp_path, fake, "e" * 32, None)  # from before 0004
    async with running_bot(fake, tmp_path) as h:
        for job_id in ("c" * 32, "e" * 32):
            assert (await h.wait_job(job_id)).state is JobPhase.FAILED
        await h.wait_for(lambda: len(fake.messages(fake.channel_id)) >= 2)
        told = [m.content for m in fake.messages(fake.channel_id)]
    [chinese] = [t for t in told if CJK.search(t)]
    [english] = [t for t in told if not CJK.search(t)]
    alice = fake.users["alice"].id
    assert chinese == (
        f"<@{alice}> 🎨 {PROMPT}\n机器人在把任务发给出图服务商时重启了。你的 2 积分已退回。"
    )
    assert english == (
        f"<@{alice}> 🎨 {PROMPT}\n"
        "The bot restarted while sending it to the image host. Your 2 credits are back."
    )


async def test_audit_lines_are_in_the_servers_language(
    make_fake: Callable[..., FakeDiscord], tmp_path: Path
) -> None:
    fake = make_fake(guild_locale=ZH)
    audit_id = fake.nsfw_channel_id
    async with running_bot(fake, tmp_path, mock_delay=0.2) as h:
        handle = await fake.slash(
            "admin", {"channel": "nsfw-art"}, user="admin", subcommand="audit-channel"
        )
        reply = await answer(handle)  # the admin's own client is en-US
        assert reply.content == f"Every job will be logged in <#{audit_id}>."
        job = await h.wait_job((await h.job_for(await h.imagine(PROMPT))).id)
        assert job.state is JobPhase.DONE
        await h.wait_for(lambda: len(fake.messages(audit_id)) >= 2)
        lines = [m.content for m in fake.messages(audit_id)]
    assert "把这个频道设为 wanbot 的审计日志频道" in lines[0]
    assert "/画图 · Mock · 1:1 · 2K · 预扣 2 积分" in lines[1]
    for line in lines:
        assert_chinese(line, echoed=[PROMPT])
