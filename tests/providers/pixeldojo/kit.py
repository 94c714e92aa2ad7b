"""What the PixelDojo contract tests share: the strict fake, a client bound to it, inputs."""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.fakes.pixeldojo_server import FakePixelDojo
from tests.fakes.provider_server import make_png
from wanbot.config import PixelDojoConfig
from wanbot.providers.http import RetryPolicy
from wanbot.providers.models import (
    InputImage,
    JobStatus,
)
from wanbot.providers.pixeldojo import PixelDojoProvider

# The fake-server base stores the parsed body under a plain string key, which aiohttp warns about
# (and filterwarnings=error turns into a 500). Drop this once the base uses a web.RequestKey.

POLICY = RetryPolicy(attempts=3, base_delay_s=0.01, max_delay_s=0.02, max_retry_after_s=0.05)
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"

StartFake = Callable[..., Awaitable[FakePixelDojo]]


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client:
        yield client


@pytest.fixture
async def start_fake() -> AsyncIterator[StartFake]:
    servers: list[FakePixelDojo] = []

    async def start(**kwargs: Any) -> FakePixelDojo:
        kwargs.setdefault("job_duration_s", 0.05)
        server = FakePixelDojo(**kwargs)
        await server.start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        await server.stop()


@pytest.fixture
async def fake(start_fake: StartFake) -> FakePixelDojo:
    return await start_fake()


def make_provider(
    fake: FakePixelDojo,
    session: aiohttp.ClientSession,
    *,
    api_key: str | None = None,
    base_url: str | None = None,
    **config: Any,
) -> PixelDojoProvider:
    return PixelDojoProvider(
        PixelDojoConfig(base_url=base_url or fake.base_url, **config),
        api_key=api_key or fake.api_key,
        session=session,
        retry=POLICY,
    )


@pytest.fixture
def provider(fake: FakePixelDojo, session: aiohttp.ClientSession) -> PixelDojoProvider:
    return make_provider(fake, session)


@pytest.fixture
def input_image(tmp_path: Path) -> InputImage:
    return write_image(tmp_path / "in.png", (300, 260), (10, 120, 200))


def write_image(path: Path, size: tuple[int, int], colour: tuple[int, int, int]) -> InputImage:
    data = make_png(*size, colour)
    path.write_bytes(data)
    return InputImage(
        path=str(path),
        content_type="image/png",
        width=size[0],
        height=size[1],
        size_bytes=len(data),
        filename=path.name,
    )


async def wait_done(provider: PixelDojoProvider, job_id: str) -> JobStatus:
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        status = await provider.get_status(job_id)
        if status.state.terminal:
            return status
        await asyncio.sleep(0.02)
    raise AssertionError(f"job {job_id} never finished")


def run_bodies(fake: FakePixelDojo) -> list[dict[str, Any]]:
    return [r.body for r in fake.submissions("/run")]


def gets(fake: FakePixelDojo, path_part: str) -> int:
    return sum(1 for r in fake.requests if r.method == "GET" and path_part in r.path)


def file_bytes(image: InputImage) -> bytes:
    return Path(image.path).read_bytes()


def decode_data_uri(uri: str) -> tuple[str, bytes]:
    head, _, payload = uri.partition(",")
    assert head.startswith("data:") and head.endswith(";base64")
    return head.removeprefix("data:").removesuffix(";base64"), base64.b64decode(payload)
