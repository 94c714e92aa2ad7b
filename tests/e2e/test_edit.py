"""Editing end to end: /edit attachments, the "Edit image" context menu, Vary and Edit buttons,
on every provider's edit mode, and every bad input refused with no call and no charge."""

from __future__ import annotations

import base64
import io
import os
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from tests.e2e.harness import Harness, png_bytes, running_bot
from tests.fakes.dashscope_server import FakeDashScope
from tests.fakes.discord_server import FakeDiscord
from tests.fakes.pixeldojo_server import FakePixelDojo
from tests.fakes.provider_server import FakeProviderServer
from tests.fakes.skillsvideo_server import FakeSkillsVideo
from wanbot.store.base import JobPhase

SOURCE = png_bytes(640, 480)


def attachment(
    data: bytes = SOURCE, name: str = "photo.png", kind: str = "image/png"
) -> tuple[str, bytes, str]:
    return (name, data, kind)


def read(path: str) -> bytes:
    return Path(path).read_bytes()


def exists(path: Path) -> bool:
    return path.exists()


async def balance(h: Harness, user: str = "alice") -> int:
    value: int = await h.store.balance(h.fake.guild_id, h.user_id(user))
    return value


async def job_count(h: Harness) -> int:
    return len(await h.store.jobs_in(list(JobPhase)))


@pytest.fixture(params=["pixeldojo", "skillsvideo", "dashscope"])
async def host(request: pytest.FixtureRequest) -> AsyncIterator[tuple[str, FakeProviderServer]]:
    servers: dict[str, type[FakeProviderServer]] = {
        "pixeldojo": FakePixelDojo,
        "skillsvideo": FakeSkillsVideo,
        "dashscope": FakeDashScope,
    }
    async with servers[request.param](job_duration_s=0.2) as server:
        yield request.param, server


def host_config(name: str, server: FakeProviderServer) -> tuple[str, dict[str, str]]:
    toml = f'[providers.{name}]\nbase_url = "{server.base_url}"\n'
    return toml, {f"{name.upper()}_API_KEY": server.api_key}


def sent_images(name: str, server: FakeProviderServer) -> list[bytes]:
    """The input images the host received in its one submission, decoded."""
    [submission] = [r for r in server.requests if r.method == "POST"]
    body: Any = submission.body
    if name == "skillsvideo":
        return [part["bytes"] for part in body["image_urls"]]
    if name == "dashscope":
        content = body["input"]["messages"][0]["content"]
        uris = [item["image"] for item in content if "image" in item]
    else:
        field = next(k for k in ("images", "image_urls", "image_url") if k in body)
        uris = body[field] if isinstance(body[field], list) else [body[field]]
    return [base64.b64decode(uri.split(",", 1)[1]) for uri in uris]


async def test_edit_with_attachments_on_each_host(
    fake: FakeDiscord, tmp_path: Path, host: tuple[str, FakeProviderServer]
) -> None:
    name, server = host
    toml, env = host_config(name, server)
    async with running_bot(fake, tmp_path, extra_toml=toml, env=env) as h:
        second = png_bytes(500, 500, (200, 10, 10))
        handle = await fake.slash(
            "edit",
            {"prompt": "make it snow", "provider": name},
            attachments={"image": attachment(), "image2": attachment(second, "b.png")},
        )
        job = await h.wait_job((await h.job_for(handle)).id)
        assert job.state is JobPhase.DONE, job.error
        assert job.kind == "edit" and len(job.request.input_images) == 2
        assert job.request.aspect_ratio == "4:3"  # follows the first input's shape
        assert sent_images(name, server) == [SOURCE, second]
        message = h.placeholder(job)
        assert len(message.attachments) == 1
        assert "edit of photo.png, b.png" in message.content
        assert await balance(h) == 48
        assert fake.violations == []


@pytest.mark.parametrize(
    ("upload", "expected"),
    [
        (attachment(b"hello, not a picture", "notes.txt", "text/plain"), "is not an image"),
        (attachment(b"\x89PNG\r\n\x1a\n" + b"\0" * 64, "broken.png"), "not an image"),
        (attachment(SOURCE[: len(SOURCE) // 2], "cut.png"), "not an image I can read"),
        (attachment(b"", "empty.png"), "is empty"),
        (attachment(png_bytes(200, 200), "tiny.png"), "needs at least 384×384"),
    ],
)
async def test_bad_inputs_are_refused_without_a_call_or_charge(
    make_fake: Any, tmp_path: Path, upload: tuple[str, bytes, str], expected: str
) -> None:
    fake: FakeDiscord = make_fake()
    async with FakeSkillsVideo() as server:
        toml, env = host_config("skillsvideo", server)
        async with running_bot(fake, tmp_path, extra_toml=toml, env=env) as h:
            handle = await fake.slash(
                "edit", {"prompt": "x", "provider": "skillsvideo"}, attachments={"image": upload}
            )
            await handle.wait_acknowledged()
            await h.wait_for(lambda: any(m.ephemeral for m in fake.messages()))
            [reply] = [m for m in fake.messages() if m.ephemeral]
            assert expected in reply.content and "Nothing was charged" in reply.content
            assert server.requests == []
            assert await job_count(h) == 0
            assert await h.store.ledger(fake.guild_id, h.user_id("alice")) == []


async def test_too_large_an_image_is_refused(make_fake: Any, tmp_path: Path) -> None:
    fake: FakeDiscord = make_fake(upload_limit=64 * 1024 * 1024)
    big = Image.new("RGB", (2700, 2700), (1, 2, 3))
    buf = io.BytesIO()
    big.save(buf, format="BMP")
    assert len(buf.getvalue()) > 20 * 1024 * 1024
    async with running_bot(fake, tmp_path) as h:
        handle = await fake.slash(
            "edit",
            {"prompt": "x"},
            attachments={"image": attachment(buf.getvalue(), "big.bmp", "image/bmp")},
        )
        await handle.wait_acknowledged()
        reply = handle.original_message()
        assert reply is not None and reply.ephemeral and "up to 20 MB" in reply.content
        assert await job_count(h) == 0


async def test_context_menu_edits_a_messages_images(fake: FakeDiscord, tmp_path: Path) -> None:
    async with running_bot(fake, tmp_path, mock_delay=0.2) as h:
        message_id = await fake.post_user_message("look", [attachment()], user="bob")
        menu = await fake.message_command("Edit image", message_id)
        await menu.wait_acknowledged()
        assert menu.modal is not None
        submitted = await fake.submit_modal(
            menu, {"wanbot:edit-modal:prompt": "add a hat", "wanbot:edit-modal:n": "2"}
        )
        job = await h.wait_job((await h.job_for(submitted)).id)
        assert job.state is JobPhase.DONE, job.error
        assert job.kind == "edit" and job.request.n == 2 and job.request.prompt == "add a hat"
        assert len(h.placeholder(job).attachments) == 2
        assert await balance(h) == 46


async def test_context_menu_on_a_message_without_images(fake: FakeDiscord, tmp_path: Path) -> None:
    async with running_bot(fake, tmp_path) as h:
        message_id = await fake.post_user_message("just words")
        menu = await fake.message_command("Edit image", message_id)
        await menu.wait_acknowledged()
        reply = menu.original_message()
        assert reply is not None and reply.ephemeral and "no images" in reply.content
        assert await job_count(h) == 0


async def test_vary_one_of_several_results_and_follow_the_chain(
    fake: FakeDiscord, tmp_path: Path
) -> None:
    async with running_bot(fake, tmp_path, mock_delay=0.2) as h:
        first = await h.wait_job((await h.job_for(await h.imagine("two foxes", n=2, size="1K"))).id)
        result_id = first.message_ids[0]
        vary = await fake.click(result_id, f"wanbot:vary:{first.id}")
        await vary.wait_acknowledged()
        menu = vary.original_message()
        assert menu is not None and menu.ephemeral
        choose = menu.components[0]["components"][0]
        picked = await fake.click(menu.id, choose["custom_id"], values=["1"])
        varied = await h.wait_job((await h.job_for(picked)).id)
        assert varied.state is JobPhase.DONE, varied.error
        assert varied.kind == "edit" and varied.parent_job_id == first.id
        source = fake.message(result_id)
        assert source is not None
        assert read(varied.request.input_images[0].path) == source.attachments[1].data
        caption = h.placeholder(varied).content
        assert f"/channels/{fake.guild_id}/{fake.channel_id}/{result_id}" in caption


async def test_edit_button_opens_the_modal(fake: FakeDiscord, tmp_path: Path) -> None:
    async with running_bot(fake, tmp_path, mock_delay=0.2) as h:
        first = await h.wait_job((await h.job_for(await h.imagine("a fox", size="1K"))).id)
        button = await fake.click(first.message_ids[0], f"wanbot:edit:{first.id}")
        await button.wait_acknowledged()
        assert button.modal is not None
        submitted = await fake.submit_modal(button, {"wanbot:edit-modal:prompt": "in a hat"})
        edited = await h.wait_job((await h.job_for(submitted)).id)
        assert edited.state is JobPhase.DONE and edited.parent_job_id == first.id


async def test_kept_inputs_and_mock_jobs_are_pruned_after_a_week(
    fake: FakeDiscord, tmp_path: Path
) -> None:
    async with running_bot(fake, tmp_path, mock_delay=0.1) as h:
        handle = await fake.slash("edit", {"prompt": "a hat"}, attachments={"image": attachment()})
        job = await h.wait_job((await h.job_for(handle)).id)
        kept = Path(job.request.input_images[0].path)
        mock_files = list((tmp_path / "data" / "mock").iterdir())
        assert exists(kept) and mock_files
        assert h.bot.prune_files() == 0  # nothing is old yet
        week_ago = time.time() - 8 * 24 * 3600
        for path in [kept, *mock_files]:
            os.utime(path, (week_ago, week_ago))
        assert h.bot.prune_files() == 1 + len(mock_files)
        assert not exists(kept)


async def test_a_refused_member_makes_the_bot_fetch_nothing(
    fake: FakeDiscord, tmp_path: Path
) -> None:
    """Screen first, then fetch: a banned member's or a denied channel's /edit is refused before
    any input is downloaded or kept."""
    async with running_bot(fake, tmp_path) as h:
        await h.store.ban_member(fake.guild_id, h.user_id("alice"), actor_id=None, reason=None)
        handle = await fake.slash(
            "edit", {"prompt": "make it snow"}, attachments={"image": attachment()}
        )
        await handle.wait_acknowledged()
        await h.wait_for(lambda: handle.original_message() is not None)
        reply = handle.original_message()
        assert reply is not None and reply.ephemeral and "turned off" in reply.content
        assert [r.path for r in fake.requests if r.path.startswith("/attachments/")] == []
        assert not (tmp_path / "data" / "inputs").exists() or not any(
            (tmp_path / "data" / "inputs").iterdir()
        )
        assert await job_count(h) == 0
