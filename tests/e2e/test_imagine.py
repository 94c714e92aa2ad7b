"""/imagine end to end: real discord.py over HTTP and WebSocket, fake Discord, mock host."""

from __future__ import annotations

import io
from pathlib import Path

from PIL import Image

from tests.e2e.harness import running_bot
from tests.fakes.discord_server import FakeDiscord
from wanbot.store.base import JobPhase


async def test_boot_registers_the_commands(fake: FakeDiscord, tmp_path: Path) -> None:
    async with running_bot(fake, tmp_path):
        names = {c["name"] for c in fake.registered_commands[None]}
        assert {"imagine", "edit", "Edit image"} <= names
        imagine = next(c for c in fake.registered_commands[None] if c["name"] == "imagine")
        options = {o["name"] for o in imagine["options"]}
        assert options == {
            "prompt",
            "negative_prompt",
            "aspect_ratio",
            "size",
            "n",
            "seed",
            "thinking",
            "image_set",
            "palette",
            "provider",
            "private",
        }
    assert fake.command_put_count == 1


async def test_commands_not_synced_again_when_unchanged(fake: FakeDiscord, tmp_path: Path) -> None:
    async with running_bot(fake, tmp_path):
        pass
    async with running_bot(fake, tmp_path):
        pass
    assert fake.command_put_count == 1


async def test_imagine_placeholder_replaced_by_a_real_image(
    fake: FakeDiscord, tmp_path: Path
) -> None:
    async with running_bot(fake, tmp_path) as h:
        handle = await h.imagine("a red fox")
        await handle.wait_acknowledged()
        assert handle.ack_latency_s is not None and handle.ack_latency_s < 3
        job = await h.job_for(handle, placeholder=True)
        first = h.placeholder(job)
        assert "a red fox" in first.content and not first.attachments
        done = await h.wait_job(job.id)
        assert done.state is JobPhase.DONE, done.error
        message = h.placeholder(done)
        assert done.message_ids == (message.id,)
        assert len(message.attachments) == 1
        image = Image.open(io.BytesIO(message.attachments[0].data))
        assert image.format == "PNG" and image.size == (2048, 2048)
        assert "a red fox" in message.content and "Mock" in message.content
        assert f"seed {done.request.seed}" in message.content
        assert "2 credits, 48 left" in message.content
        assert not message.mentions_everyone and message.mentioned_user_ids == []
        assert fake.violations == []
