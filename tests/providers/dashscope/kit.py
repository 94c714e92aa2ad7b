"""What the DashScope contract tests share: the strict fake, a client bound to it, inputs."""

from __future__ import annotations

import asyncio
import io
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from PIL import Image

from tests.fakes.dashscope_server import FakeDashScope
from wanbot.config import DashScopeConfig
from wanbot.providers import dashscope
from wanbot.providers.dashscope import DashScopeProvider
from wanbot.providers.http import RetryPolicy
from wanbot.providers.models import (
    InputImage,
    JobStatus,
)

# The shared fake base stores the parsed body under a str key, which aiohttp warns about (and
# filterwarnings=error turns into a 500). Drop this once the base uses a web.RequestKey.

RETRY = RetryPolicy(attempts=3, base_delay_s=0.01, max_delay_s=0.02, max_retry_after_s=0.05)
SUBMIT = "/services/aigc/image-generation/generation"


@pytest.fixture
async def fake() -> AsyncIterator[FakeDashScope]:
    server = FakeDashScope(job_duration_s=0.06)
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


def make_provider(
    fake: FakeDashScope,
    session: aiohttp.ClientSession,
    *,
    api_key: str | None = None,
    model: str = "wan2.7-image-pro",
) -> DashScopeProvider:
    config = DashScopeConfig(base_url=fake.base_url, model=model)
    return DashScopeProvider(config, api_key=api_key or fake.api_key, session=session, retry=RETRY)


@pytest.fixture
def provider(fake: FakeDashScope, session: aiohttp.ClientSession) -> DashScopeProvider:
    return make_provider(fake, session)


async def finish(provider: DashScopeProvider, job_id: str, timeout_s: float = 3.0) -> JobStatus:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        status = await provider.get_status(job_id)
        if status.state.terminal:
            return status
        assert asyncio.get_running_loop().time() < deadline, f"still {status.state}"
        await asyncio.sleep(0.02)


def last_body(fake: FakeDashScope) -> dict[str, Any]:
    body = fake.submissions(SUBMIT)[-1].body
    assert isinstance(body, dict)
    return body


def image_file(
    tmp_path: Path, name: str, size: tuple[int, int], fmt: str, content_type: str | None = None
) -> InputImage:
    buf = io.BytesIO()
    Image.new("RGB", size, (10, 120, 200)).save(buf, format=fmt)
    path = tmp_path / name
    path.write_bytes(buf.getvalue())
    return InputImage(
        path=str(path),
        content_type=content_type or f"image/{fmt.lower()}",
        width=size[0],
        height=size[1],
        size_bytes=len(buf.getvalue()),
        filename=name,
    )


def documented_sizes() -> dict[tuple[str, str], str]:
    """The aspect ratio × tier table as written in the provider's module docstring."""
    assert dashscope.__doc__ is not None
    table: dict[tuple[str, str], str] = {}
    for match in re.finditer(
        r"^\s+(\d+:\d+)\s+(\d+\*\d+)\s+(\d+\*\d+)\s+(\d+\*\d+)\s*$", dashscope.__doc__, re.M
    ):
        for tier, size in zip(("1K", "2K", "4K"), match.groups()[1:], strict=True):
            table[(match[1], tier)] = size
    return table
