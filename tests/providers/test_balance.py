"""Host balances read by the real provider clients from the strict fakes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from tests.fakes.pixeldojo_server import FakePixelDojo
from tests.fakes.skillsvideo_server import FakeSkillsVideo
from wanbot.balance import BalanceTracker, LowBalance
from wanbot.config import MockConfig, PixelDojoConfig, SkillsVideoConfig
from wanbot.providers.errors import AuthError
from wanbot.providers.http import RetryPolicy
from wanbot.providers.mock import MockProvider
from wanbot.providers.models import GenerationRequest
from wanbot.providers.pixeldojo import PixelDojoProvider
from wanbot.providers.skillsvideo import SkillsVideoProvider

POLICY = RetryPolicy(attempts=2, base_delay_s=0.01, max_delay_s=0.02, max_retry_after_s=0.05)


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client:
        yield client


async def test_pixeldojo_balance_is_what_the_latest_submission_said(
    session: aiohttp.ClientSession,
) -> None:
    async with FakePixelDojo(credits=11, credit_cost=2, job_duration_s=0.05) as fake:
        provider = PixelDojoProvider(
            PixelDojoConfig(base_url=fake.base_url),
            api_key=fake.api_key,
            session=session,
            retry=POLICY,
        )
        assert await provider.balance() is None  # nothing reported yet, and no endpoint to ask
        await provider.submit(GenerationRequest(prompt="a fox", n=2))
        assert await provider.balance() == 7
        await provider.submit(GenerationRequest(prompt="a fox", n=1))
        assert provider.last_balance == 5 == fake.credits


async def test_skillsvideo_balance_from_get_credits(session: aiohttp.ClientSession) -> None:
    async with FakeSkillsVideo(credits=1234, cost_per_image=20, job_duration_s=0.05) as fake:
        provider = SkillsVideoProvider(
            SkillsVideoConfig(base_url=fake.base_url), api_key=fake.api_key, session=session
        )
        assert await provider.balance() == 1234
        await provider.submit(GenerationRequest(prompt="a fox", n=1, size="1K"))
        assert await provider.balance() == 1234 - 20
        assert [r.path for r in fake.requests if r.method == "GET"] == [
            "/api/v1/credits",
            "/api/v1/credits",
        ]


async def test_skillsvideo_balance_errors_are_provider_errors(
    session: aiohttp.ClientSession,
) -> None:
    async with FakeSkillsVideo() as fake:
        provider = SkillsVideoProvider(
            SkillsVideoConfig(base_url=fake.base_url), api_key="wrong-key-123456", session=session
        )
        with pytest.raises(AuthError):
            await provider.balance()


async def test_tracker_polls_real_providers_across_a_crossing(
    session: aiohttp.ClientSession,
) -> None:
    told: list[LowBalance] = []

    async def notify(crossing: LowBalance) -> None:
        told.append(crossing)

    async with FakeSkillsVideo(credits=100, cost_per_image=20, job_duration_s=0.05) as fake:
        provider = SkillsVideoProvider(
            SkillsVideoConfig(base_url=fake.base_url), api_key=fake.api_key, session=session
        )
        tracker = BalanceTracker({"skillsvideo": 70}, notify=notify)
        sources = {"skillsvideo": provider}
        assert await tracker.poll_once(sources) == {"skillsvideo": 100}
        for _ in range(2):
            await provider.submit(GenerationRequest(prompt="a fox", n=1, size="1K"))
        assert await tracker.poll_once(sources) == {"skillsvideo": 60}
        await tracker.poll_once(sources)
        fake.credits = 500  # the owner topped up
        await tracker.poll_once(sources)
        fake.credits = 10
        await tracker.poll_once(sources)
    assert told == [LowBalance("skillsvideo", 60, 70), LowBalance("skillsvideo", 10, 70)]


async def test_hosts_without_a_balance_say_none(tmp_path: Path) -> None:
    assert await MockProvider(MockConfig(), data_dir=tmp_path).balance() is None
