"""Retry-After abuse: whatever a host sends, no wait is unbounded and no sleep crashes.

Each provider client runs against its fake host with the library defaults (a 30 s cap on one wait)
except the attempt count; every hostile header must cost at most one capped wait per attempt, and
a RateLimited that reaches the job layer must carry a finite, capped Retry-After.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import pytest

from tests.fakes.dashscope_server import FakeDashScope
from tests.fakes.pixeldojo_server import FakePixelDojo
from tests.fakes.provider_server import FakeProviderServer, Fault
from tests.fakes.skillsvideo_server import FakeSkillsVideo
from wanbot.config import DashScopeConfig, PixelDojoConfig, SkillsVideoConfig
from wanbot.providers.base import Provider
from wanbot.providers.dashscope import DashScopeProvider
from wanbot.providers.errors import RateLimited
from wanbot.providers.http import MAX_RETRY_AFTER_S, RetryPolicy, parse_retry_after
from wanbot.providers.models import GenerationRequest
from wanbot.providers.pixeldojo import PixelDojoProvider
from wanbot.providers.skillsvideo import SkillsVideoProvider

FAR_FUTURE = "Fri, 31 Dec 9999 23:59:59 GMT"
HOSTILE = ["inf", "-inf", "1e400", "nan", "-5", "99999999999", FAR_FUTURE, "garbage", "  7  "]


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("inf", MAX_RETRY_AFTER_S),
        ("1e400", MAX_RETRY_AFTER_S),
        ("99999999999", MAX_RETRY_AFTER_S),
        (FAR_FUTURE, MAX_RETRY_AFTER_S),
        ("-inf", 0.0),
        ("-5", 0.0),
        ("Thu, 01 Jan 1970 00:00:00 GMT", 0.0),
        ("nan", None),
        ("garbage", None),
        ("", None),
        ("  7  ", 7.0),
        ("2.5", 2.5),
    ],
)
def test_parse_retry_after_is_finite_and_capped(header: str, expected: float | None) -> None:
    assert parse_retry_after(header) == expected
    capped = parse_retry_after(header, cap=3.0)
    assert capped is None or (math.isfinite(capped) and 0.0 <= capped <= 3.0)


def test_backoff_never_exceeds_the_policy() -> None:
    policy = RetryPolicy(max_retry_after_s=2.0)
    for value in (math.inf, -math.inf, math.nan, 1e308, -1.0):
        wait = policy.backoff(0, value)
        assert math.isfinite(wait) and 0.0 <= wait <= max(2.0, policy.max_delay_s)


FakeFactory = Callable[[], FakeProviderServer]
Build = Callable[[Any, aiohttp.ClientSession, RetryPolicy], Provider]

HOSTS: dict[str, tuple[FakeFactory, str, Build]] = {
    "pixeldojo": (
        lambda: FakePixelDojo(job_duration_s=0.05),
        "/run",
        lambda fake, session, retry: PixelDojoProvider(
            PixelDojoConfig(base_url=fake.base_url),
            api_key=fake.api_key,
            session=session,
            retry=retry,
        ),
    ),
    "dashscope": (
        lambda: FakeDashScope(job_duration_s=0.05),
        "/services/aigc/image-generation/generation",
        lambda fake, session, retry: DashScopeProvider(
            DashScopeConfig(base_url=fake.base_url),
            api_key=fake.api_key,
            session=session,
            retry=retry,
        ),
    ),
    "skillsvideo": (
        lambda: FakeSkillsVideo(job_duration_s=0.05),
        "/api/v1/generation/wan/wan-v2.7-pro",
        lambda fake, session, retry: SkillsVideoProvider(
            SkillsVideoConfig(base_url=fake.base_url, use_stream=False),
            api_key=fake.api_key,
            session=session,
            retry=retry,
        ),
    ),
}


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


@pytest.mark.parametrize("host", sorted(HOSTS))
async def test_hostile_retry_after_is_capped_by_every_client(
    host: str, session: aiohttp.ClientSession
) -> None:
    make_fake, submit_path, build = HOSTS[host]
    retry = RetryPolicy(attempts=2, base_delay_s=0.01, max_delay_s=0.02, max_retry_after_s=0.2)
    async with make_fake() as fake:
        provider = build(fake, session, retry)
        for header in HOSTILE:
            fake.inject(submit_path, Fault("429", retry_after=header))
            async with asyncio.timeout(5):
                status = await provider.submit(GenerationRequest(prompt="a fox"))
            assert status.job_id, header
            fake.inject(submit_path, *[Fault("429", retry_after=header)] * retry.attempts)
            with pytest.raises(RateLimited) as caught:
                async with asyncio.timeout(5):
                    await provider.submit(GenerationRequest(prompt="a fox"))
            after = caught.value.retry_after
            assert after is None or (math.isfinite(after) and 0.0 <= after <= 0.2), (header, after)
