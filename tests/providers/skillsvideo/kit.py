"""What the skills.video contract tests share: the strict fake, a client bound to it, inputs."""

from __future__ import annotations

import asyncio
import io
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, aclosing
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from PIL import Image

from tests.fakes.provider_server import make_png
from tests.fakes.skillsvideo_server import FakeSkillsVideo
from wanbot.config import SkillsVideoConfig
from wanbot.providers.http import RetryPolicy
from wanbot.providers.models import (
    GenerationRequest,
    InputImage,
    JobStatus,
)
from wanbot.providers.skillsvideo import SkillsVideoProvider

RETRY = RetryPolicy(attempts=3, base_delay_s=0.01, max_delay_s=0.02, max_retry_after_s=0.05)
SUBMIT = "/api/v1/generation/wan/wan-v2.7-pro"
STREAM = "/api/v1/generation/sse/wan/wan-v2.7-pro"

Serve = Callable[..., Awaitable[FakeSkillsVideo]]


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


@pytest.fixture
async def serve() -> AsyncIterator[Serve]:
    """Start fakes with the given options (or an instance); all stop at teardown."""
    async with AsyncExitStack() as stack:

        async def start(fake: FakeSkillsVideo | None = None, **options: Any) -> FakeSkillsVideo:
            fake = fake or FakeSkillsVideo(job_duration_s=0.1, **options)
            await fake.start()
            stack.push_async_callback(fake.stop)
            return fake

        yield start


def provider_for(
    fake: FakeSkillsVideo, session: aiohttp.ClientSession, key: str | None = None
) -> SkillsVideoProvider:
    config = SkillsVideoConfig(base_url=fake.base_url, timeout_s=5)
    return SkillsVideoProvider(config, api_key=key or fake.api_key, session=session, retry=RETRY)


async def poll(provider: SkillsVideoProvider, job_id: str) -> JobStatus:
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline:
        status = await provider.get_status(job_id)
        if status.state.terminal:
            return status
        await asyncio.sleep(0.02)
    raise AssertionError("the job never finished")


async def watch(provider: SkillsVideoProvider, request: GenerationRequest) -> list[JobStatus]:
    seen: list[JobStatus] = []
    async with aclosing(provider.submit_and_watch(request)) as stream:
        async for status in stream:
            seen.append(status)
    return seen


async def assert_pngs(session: aiohttp.ClientSession, status: JobStatus) -> None:
    assert status.images
    for image in status.images:
        async with session.get(image.url) as response:
            assert response.status == 200
            content = await response.read()
        assert content.startswith(b"\x89PNG\r\n\x1a\n")
        with Image.open(io.BytesIO(content)) as png:
            assert png.size == (image.width, image.height)


def png_file(tmp_path: Path, width: int, height: int, name: str = "in.png") -> InputImage:
    path = tmp_path / name
    path.write_bytes(make_png(width, height))
    return InputImage(
        path=str(path),
        content_type="image/png",
        width=width,
        height=height,
        size_bytes=path.stat().st_size,
        filename=name,
    )


def parts(body: Any, name: str) -> list[dict[str, Any]]:
    assert isinstance(body, dict)
    return body[name]  # type: ignore[no-any-return]
