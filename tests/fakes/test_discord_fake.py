"""The real discord.py client against FakeDiscord: login, commands, interactions and the rules."""

from __future__ import annotations

import asyncio
import contextlib
import io
import re
import warnings
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import aiohttp
import pytest

from tests.fakes.discord_server import FakeDiscord, patched_discord_py
from tests.fakes.provider_server import make_png

with warnings.catch_warnings():
    # discord.py 2.7.1 imports audioop, deprecated on 3.11, and warnings are errors here.
    warnings.simplefilter("ignore", DeprecationWarning)
    import discord
    from discord import app_commands

PNG = make_png(16, 8)


class Bot(discord.Client):
    """A bare client with a command tree that syncs globally on startup, as the real bot does."""

    def __init__(self, **options: Any) -> None:
        super().__init__(
            intents=discord.Intents.default(),
            chunk_guilds_at_startup=False,
            guild_ready_timeout=0.05,
            **options,
        )
        self.tree = app_commands.CommandTree(self)
        self.seen: list[Any] = []  # what command handlers observed, for the test to assert on

    async def setup_hook(self) -> None:
        await self.tree.sync()

    async def before_identify_hook(self, shard_id: int | None, *, initial: bool = False) -> None:
        pass  # discord.py waits 5 s before every re-IDENTIFY; the fake has no identify limit


@pytest.fixture
def make_fake() -> Iterator[Callable[..., FakeDiscord]]:
    fakes: list[FakeDiscord] = []

    def make(**options: Any) -> FakeDiscord:
        fake = FakeDiscord(**options)
        fake.start()
        fakes.append(fake)
        return fake

    yield make
    for fake in fakes:
        fake.stop()


@pytest.fixture
def fake(make_fake: Callable[..., FakeDiscord]) -> FakeDiscord:
    return make_fake()


@contextlib.asynccontextmanager
async def running(fake: FakeDiscord, client: discord.Client) -> AsyncIterator[discord.Client]:
    with patched_discord_py(fake):
        task = asyncio.create_task(client.start(fake.token))
        ready = asyncio.create_task(client.wait_until_ready())
        try:
            done, _ = await asyncio.wait({task, ready}, timeout=5, return_when="FIRST_COMPLETED")
            if task in done:
                task.result()
            assert ready in done, "client did not become ready"
            yield client
        finally:
            ready.cancel()
            await client.close()
            with contextlib.suppress(asyncio.CancelledError):
                await task


async def test_login_ready_and_guild_create(fake: FakeDiscord) -> None:
    bot = Bot()
    async with running(fake, bot):
        assert bot.user is not None and bot.user.id == fake.bot_user_id
        assert bot.application_id == fake.application_id
        guild = bot.get_guild(fake.guild_id)
        assert guild is not None and guild.me is not None
        nsfw = guild.get_channel(fake.nsfw_channel_id)
        general = guild.get_channel(fake.channel_id)
        assert isinstance(nsfw, discord.TextChannel) and nsfw.is_nsfw()
        assert isinstance(general, discord.TextChannel) and general.name == "general"
        admin_role = guild.get_role(fake.admin_role_id)
        assert admin_role is not None and admin_role.permissions.manage_guild
        assert not guild.default_role.permissions.manage_guild
    paths = [r.path for r in fake.requests]
    assert paths[:2] == ["/users/@me", "/oauth2/applications/@me"]
    assert fake.identify_count == 1
    assert fake.violations == [] and fake.unhandled_routes == []


async def test_wrong_token_is_refused(fake: FakeDiscord) -> None:
    client = discord.Client(intents=discord.Intents.default())
    with patched_discord_py(fake):
        with pytest.raises(discord.LoginFailure):
            await client.login("not-the-token")
        await client.close()
    assert fake.requests[0].status == 401


async def test_tree_sync_registers_commands(fake: FakeDiscord) -> None:
    bot = Bot()

    @bot.tree.command(name="draw", description="Draw a picture")
    async def draw(interaction: discord.Interaction, prompt: str, steps: int = 20) -> None:
        await interaction.response.send_message(prompt)

    @bot.tree.context_menu(name="Remix")
    async def remix(interaction: discord.Interaction, message: discord.Message) -> None:
        await interaction.response.send_message("remix")

    @bot.tree.command(name="setup", description="Admins only", guild=discord.Object(fake.guild_id))
    async def setup(interaction: discord.Interaction, level: int) -> None:
        perms = interaction.permissions.manage_guild
        await interaction.response.send_message(f"level {level}, manage_guild={perms}")

    async with running(fake, bot):
        assert fake.command_put_count == 1
        stored = {c["name"]: c for c in fake.registered_commands[None]}
        assert sorted(stored) == ["Remix", "draw"]
        assert [o["name"] for o in stored["draw"]["options"]] == ["prompt", "steps"]
        with pytest.raises(LookupError):
            await fake.slash("setup", {"level": 1})
        synced = await bot.tree.sync(guild=discord.Object(fake.guild_id))
        assert [c.name for c in synced] == ["setup"] and fake.command_put_count == 2
        with pytest.raises(ValueError):
            await fake.slash("setup", {"level": "high"} | {"nope": 1})
        handle = await fake.slash("setup", {"level": 3}, user="admin")
        await handle.wait_acknowledged(3)
    message = handle.original_message()
    assert message is not None and message.content == "level 3, manage_guild=True"
    puts = [r.path for r in fake.requests if r.method == "PUT"]
    assert puts == [
        f"/applications/{fake.application_id}/commands",
        f"/applications/{fake.application_id}/guilds/{fake.guild_id}/commands",
    ]


async def test_deferred_followup_png_lands_as_attachment(fake: FakeDiscord) -> None:
    bot = Bot()

    @bot.tree.command(name="draw", description="Redraw an image")
    async def draw(
        interaction: discord.Interaction, prompt: str, image: discord.Attachment
    ) -> None:
        await interaction.response.defer(thinking=True)
        source = await image.read()
        bot.seen.append((interaction.filesize_limit, image.width, image.height, source))
        out = discord.File(io.BytesIO(source), "out.png")
        await interaction.followup.send(f"done: {prompt}", file=out)

    async with running(fake, bot):
        handle = await fake.slash(
            "draw", {"prompt": "a cat"}, attachments={"image": ("in.png", PNG, "image/png")}
        )
        await fake.wait_for(lambda f: bool(f.messages() and not f.messages()[0].loading))
    assert bot.seen == [(fake.upload_limit, 16, 8, PNG)]
    assert handle.acknowledged == 5
    message = handle.original_message()
    assert message is not None and message.content == "done: a cat"
    assert message.attachments == [("out.png", PNG, "image/png", len(PNG))]
    assert [m.id for m in fake.messages(fake.channel_id)] == [message.id]  # the loading one, filled
    assert handle.followups == []
    assert any(r.path.startswith("/attachments/") for r in fake.requests)
    assert fake.violations == [] and fake.unhandled_routes == []


async def test_ephemeral_response_is_recorded_as_ephemeral(fake: FakeDiscord) -> None:
    bot = Bot()

    @bot.tree.command(name="help", description="Help")
    async def help_(interaction: discord.Interaction) -> None:
        await interaction.response.send_message("only for you", ephemeral=True)

    async with running(fake, bot):
        handle = await fake.slash("help", user="bob")
        assert await handle.wait_acknowledged(3) == 4
    message = handle.original_message()
    assert message is not None and message.ephemeral
    assert message.visible_to == fake.users["bob"].id
    assert message.interaction_id == handle.id and message.webhook_id == fake.application_id


async def test_late_acknowledgement_is_unknown_interaction(
    make_fake: Callable[..., FakeDiscord],
) -> None:
    fake = make_fake(ack_deadline_s=0.5)
    bot = Bot()

    @bot.tree.command(name="slow", description="Too slow")
    async def slow(interaction: discord.Interaction) -> None:
        await asyncio.sleep(0.7)
        try:
            await interaction.response.defer()
        except discord.NotFound as exc:
            bot.seen.append(exc)

    async with running(fake, bot):
        handle = await fake.slash("slow")
        await fake.wait_for(lambda f: bool(bot.seen))
    assert bot.seen[0].code == 10062
    assert handle.acknowledged is None
    assert [v for v in fake.violations if v.startswith("late ack")] != []


async def test_double_acknowledgement_is_40060(fake: FakeDiscord) -> None:
    bot = Bot()

    @bot.tree.command(name="twice", description="Answers twice")
    async def twice(interaction: discord.Interaction) -> None:
        await interaction.response.defer()
        try:
            # a second InteractionResponse skips discord.py's own InteractionResponded guard
            await discord.InteractionResponse(interaction).send_message("again")
        except discord.HTTPException as exc:
            bot.seen.append(exc)

    async with running(fake, bot):
        handle = await fake.slash("twice")
        await fake.wait_for(lambda f: bool(bot.seen))
    assert (bot.seen[0].status, bot.seen[0].code) == (400, 40060)
    assert handle.acknowledged == 5
    assert f"double ack for interaction {handle.id}" in fake.violations


async def test_eleven_files_is_30015_and_big_file_is_413(
    make_fake: Callable[..., FakeDiscord],
) -> None:
    fake = make_fake(upload_limit=4096)
    bot = Bot()

    @bot.tree.command(name="many", description="Too many files")
    async def many(interaction: discord.Interaction) -> None:
        await interaction.response.defer()
        files = [discord.File(io.BytesIO(PNG), f"{i}.png") for i in range(11)]
        for attempt in (files, [discord.File(io.BytesIO(b"x" * 5000), "big.bin")]):
            try:
                await interaction.followup.send(files=attempt)
            except discord.HTTPException as exc:
                bot.seen.append(exc)

    async with running(fake, bot):
        await fake.slash("many")
        await fake.wait_for(lambda f: len(bot.seen) == 2)
    assert [(e.status, e.code) for e in bot.seen] == [(400, 30015), (413, 40005)]
    assert any("more than 10 attachments (11)" in v for v in fake.violations)
    assert any("over the upload limit of 4096" in v for v in fake.violations)
    assert fake.messages()[0].loading  # nothing filled the deferred message


class RetryButton(
    discord.ui.DynamicItem[discord.ui.Button[Any]], template=r"wan:retry:(?P<job>\d+)"
):
    def __init__(self, job: int) -> None:
        super().__init__(discord.ui.Button(label="Retry", custom_id=f"wan:retry:{job}"))
        self.job = job

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: re.Match[str], /
    ) -> RetryButton:
        return cls(int(match["job"]))

    async def callback(self, interaction: discord.Interaction) -> None:
        await interaction.response.edit_message(content=f"retrying {self.job}")


async def test_button_click_reaches_dynamic_item(fake: FakeDiscord) -> None:
    bot = Bot()
    bot.add_dynamic_items(RetryButton)

    async def chosen(interaction: discord.Interaction) -> None:
        await interaction.response.defer()  # a component defers as a silent update (type 6)
        bot.seen.append(interaction.data)

    @bot.tree.command(name="job", description="Start a job")
    async def job(interaction: discord.Interaction) -> None:
        view = discord.ui.View(timeout=None)
        view.add_item(RetryButton(42))
        select: discord.ui.Select[discord.ui.View] = discord.ui.Select(
            custom_id="size",
            options=[discord.SelectOption(label=s, value=s) for s in ("1024", "2048")],
        )
        select.callback = chosen  # type: ignore[method-assign]
        view.add_item(select)
        await interaction.response.send_message("job 42", view=view)

    async with running(fake, bot):
        started = await fake.slash("job")
        await started.wait_acknowledged(3)
        message = started.original_message()
        assert message is not None
        click = await fake.click(message.id, "wan:retry:42", user="bob")
        assert await click.wait_acknowledged(3) == 7
        with pytest.raises(ValueError):
            await fake.click(message.id, "size", values=["4096"])
        picked = await fake.click(message.id, "size", values=["2048"])
        assert await picked.wait_acknowledged(3) == 6
    assert fake.message(message.id).content == "retrying 42"
    assert bot.seen[0]["values"] == ["2048"] and bot.seen[0]["component_type"] == 3
    assert fake.violations == [] and fake.unhandled_routes == []


async def test_edits_keep_listed_attachments_and_drop_the_rest(fake: FakeDiscord) -> None:
    bot = Bot()

    @bot.tree.command(name="variants", description="Files in, files out")
    async def variants(interaction: discord.Interaction) -> None:
        await interaction.response.send_message("v1", file=discord.File(io.BytesIO(PNG), "a.png"))
        first = await interaction.original_response()
        second = await interaction.edit_original_response(
            content="v2",
            attachments=[first.attachments[0], discord.File(io.BytesIO(b"GIF"), "b.gif")],
        )
        third = await interaction.edit_original_response(content="v3", attachments=[])
        bot.seen.extend([first, second, third])

    async with running(fake, bot):
        handle = await fake.slash("variants")
        await fake.wait_for(lambda f: len(bot.seen) == 3)
    first, second, third = bot.seen
    assert [a.filename for a in first.attachments] == ["a.png"]
    assert [a.filename for a in second.attachments] == ["a.png", "b.gif"]
    assert second.attachments[0].id == first.attachments[0].id
    assert (first.attachments[0].width, first.attachments[0].height) == (16, 8)
    assert third.attachments == []
    message = handle.original_message()
    assert message is not None and message.attachments == [] and message.edited_at is not None
    assert fake.violations == []


async def test_webhook_edit_storm_draws_429_that_discord_py_retries(
    make_fake: Callable[..., FakeDiscord],
) -> None:
    fake = make_fake(webhook_rate=(20, 1.0), channel_rate=(3, 0.4))
    bot = Bot()

    @bot.tree.command(name="storm", description="Edit a lot")
    async def storm(interaction: discord.Interaction) -> None:
        await interaction.response.defer()
        for step in range(6):
            await interaction.edit_original_response(content=f"step {step}")
        bot.seen.append("done")

    async with running(fake, bot):
        handle = await fake.slash("storm")
        await fake.wait_for(lambda f: bool(bot.seen))
    assert fake.count_429 >= 1
    message = handle.original_message()
    assert message is not None and message.content == "step 5"
    edits = [r for r in fake.requests if r.method == "PATCH"]
    assert sum(r.status == 200 for r in edits) == 6
    assert fake.violations == []


async def test_webhook_429_and_faults_look_like_discord(
    make_fake: Callable[..., FakeDiscord],
) -> None:
    fake = make_fake(webhook_rate=(3, 5.0))
    bot = Bot()

    @bot.tree.command(name="wait", description="Defers and stops")
    async def wait(interaction: discord.Interaction) -> None:
        await interaction.response.defer()

    async with running(fake, bot):
        handle = await fake.slash("wait")
        await handle.wait_acknowledged(3)
        url = (
            f"{fake.api_base_url}/webhooks/{fake.application_id}/{handle.token}/messages/@original"
        )
        async with aiohttp.ClientSession() as session:
            statuses = []
            for step in range(4):
                async with session.patch(url, json={"content": f"s{step}"}) as resp:
                    statuses.append(resp.status)
                    body = await resp.json()
                    headers = resp.headers
            assert statuses == [200, 200, 200, 429]
            assert headers["Content-Type"] == "application/json"
            assert headers["Via"] and int(headers["Retry-After"]) >= 1
            assert headers["X-RateLimit-Remaining"] == "0" and body["global"] is False
            assert 0 < body["retry_after"] <= 5

            channel_url = f"{fake.api_base_url}/channels/{fake.channel_id}"
            auth = {"Authorization": f"Bot {fake.token}"}
            fake.rest_faults.append(("/channels/", 502))
            async with session.get(channel_url, headers=auth) as resp:
                assert resp.status == 502
            async with session.get(channel_url, headers=auth) as resp:
                assert resp.status == 200 and "X-RateLimit-Remaining" in resp.headers
            async with session.get(channel_url) as resp:
                assert resp.status == 401
    assert fake.count_429 == 1


async def test_expired_token_edit_is_401_50027(fake: FakeDiscord) -> None:
    bot = Bot()
    gate = asyncio.Event()

    @bot.tree.command(name="longjob", description="Takes long")
    async def longjob(interaction: discord.Interaction) -> None:
        await interaction.response.defer()
        await gate.wait()
        try:
            await interaction.edit_original_response(content="done")
        except discord.HTTPException as exc:
            bot.seen.append(exc)

    async with running(fake, bot):
        handle = await fake.slash("longjob")
        await handle.wait_acknowledged(3)
        fake.expire_token(handle.token)
        gate.set()
        await fake.wait_for(lambda f: bool(bot.seen))
    assert (bot.seen[0].status, bot.seen[0].code) == (401, 50027)
    assert any(
        v.startswith(f"expired token used for interaction {handle.id}") for v in fake.violations
    )


@pytest.mark.parametrize("resumable", [True, False])
async def test_gateway_drop_then_interactions_still_arrive(
    fake: FakeDiscord, resumable: bool
) -> None:
    bot = Bot()

    @bot.tree.command(name="ping", description="Ping")
    async def ping(interaction: discord.Interaction) -> None:
        await interaction.response.send_message("pong")

    async with running(fake, bot):
        fake.drop_gateway(resumable=resumable)
        if resumable:
            # sent while the socket is down: replayed on RESUME
            early = await fake.slash("ping")
            await fake.wait_for(lambda f: f.resume_count == 1, timeout=5)
            assert await early.wait_acknowledged(3) == 4
        else:
            await fake.wait_for(lambda f: f.identify_count == 2, timeout=5)
            await fake.wait_for(lambda f: bot.get_guild(f.guild_id) is not None, timeout=5)
        handle = await fake.slash("ping")
        assert await handle.wait_acknowledged(3) == 4
    assert fake.violations == []


async def test_modal_and_message_command(fake: FakeDiscord) -> None:
    bot = Bot()

    class NameModal(discord.ui.Modal, title="Name it"):
        name: discord.ui.TextInput[Any] = discord.ui.TextInput(label="Name", custom_id="name_field")

        async def on_submit(self, interaction: discord.Interaction) -> None:
            await interaction.response.send_message(f"named {self.name.value}")

    @bot.tree.command(name="rename", description="Rename")
    async def rename(interaction: discord.Interaction) -> None:
        await interaction.response.send_modal(NameModal())

    @bot.tree.context_menu(name="Describe")
    async def describe(interaction: discord.Interaction, message: discord.Message) -> None:
        attachment = message.attachments[0]
        data = await attachment.read()
        await interaction.response.send_message(
            f"{attachment.filename} {len(data)} {message.content}"
        )

    async with running(fake, bot):
        asked = await fake.slash("rename")
        assert await asked.wait_acknowledged(3) == 9
        submitted = await fake.submit_modal(asked, {"name_field": "Sunset"})
        assert await submitted.wait_acknowledged(3) == 4
        posted = await fake.post_user_message(
            "look", attachments=[("cat.png", PNG, "image/png")], user="carol"
        )
        described = await fake.message_command("Describe", posted)
        assert await described.wait_acknowledged(3) == 4
    named = submitted.original_message()
    assert named is not None and named.content == "named Sunset"
    reply = described.original_message()
    assert reply is not None and reply.content == f"cat.png {len(PNG)} look"
    assert fake.violations == [] and fake.unhandled_routes == []


async def test_message_rules_and_mass_mentions(fake: FakeDiscord) -> None:
    bot = Bot()

    @bot.tree.command(name="embed", description="Embed with a long title")
    async def embed(interaction: discord.Interaction) -> None:
        try:
            await interaction.response.send_message(embed=discord.Embed(title="t" * 257))
        except discord.HTTPException as exc:
            bot.seen.append(exc)

    @bot.tree.command(name="huge", description="Three 9 MiB files")
    async def huge(interaction: discord.Interaction) -> None:
        await interaction.response.defer()
        chunk = b"\0" * (9 * 1024 * 1024)
        files = [discord.File(io.BytesIO(chunk), f"{i}.bin") for i in range(3)]
        try:
            await interaction.followup.send(files=files)
        except discord.HTTPException as exc:
            bot.seen.append(exc)

    @bot.tree.command(name="say", description="Say something")
    async def say(interaction: discord.Interaction, text: str, safe: bool = False) -> None:
        mentions = discord.AllowedMentions.none() if safe else discord.AllowedMentions.all()
        try:
            await interaction.response.send_message(text, allowed_mentions=mentions)
        except discord.HTTPException as exc:
            bot.seen.append(exc)

    alice = fake.users["alice"].id
    async with running(fake, bot):
        loud = await fake.slash("say", {"text": f"@everyone look <@{alice}>"})
        quiet = await fake.slash("say", {"text": f"@everyone look <@{alice}>", "safe": True})
        long = await fake.slash("say", {"text": "x" * 2001})
        await loud.wait_acknowledged(3)
        await quiet.wait_acknowledged(3)
        await fake.wait_for(lambda f: bool(bot.seen))
        await fake.slash("embed")
        await fake.wait_for(lambda f: len(bot.seen) == 2)
        await fake.slash("huge")
        await fake.wait_for(lambda f: len(bot.seen) == 3)
    loud_message, quiet_message = loud.original_message(), quiet.original_message()
    assert loud_message is not None and quiet_message is not None
    assert loud_message.mentions_everyone and loud_message.mentioned_user_ids == [alice]
    assert not quiet_message.mentions_everyone and quiet_message.mentioned_user_ids == []
    statuses = [(e.status, e.code) for e in bot.seen]
    assert statuses == [(400, 50035), (400, 50035), (413, 40005)]
    assert long.acknowledged is None
    assert any(v.startswith("content over 2000 chars (2001)") for v in fake.violations)
    assert any(v.startswith("embed 0 title over 256 chars") for v in fake.violations)
    assert any(v.startswith("request over 25 MiB") for v in fake.violations)
    assert any(
        v.startswith(f"mass mention: @everyone/@here would ping in message {loud_message.id}")
        for v in fake.violations
    )


async def test_guild_withheld_until_made_available(make_fake: Callable[..., FakeDiscord]) -> None:
    fake = make_fake(guild_ready=False)
    bot = Bot()
    async with running(fake, bot):
        guild = bot.get_guild(fake.guild_id)
        assert guild is not None and guild.unavailable
        await fake.make_guild_available()
        await fake.wait_for(
            lambda f: not guild.unavailable and guild.get_channel(f.channel_id) is not None
        )
