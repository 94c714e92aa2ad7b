"""The operators' HTTP server on the running bot: /healthz follows the gateway and the dispatcher,
/metrics parses and counts host requests and Discord 429s, the low-balance warning reaches the
audit channel once per crossing."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.e2e.harness import Harness, running_bot
from tests.fakes.discord_server import FakeDiscord
from tests.fakes.pixeldojo_server import FakePixelDojo
from wanbot.store.base import JobPhase

HTTP = '[http]\nlisten = "127.0.0.1:0"\n'


def base_url(h: Harness) -> str:
    assert h.bot.operations.server is not None
    return h.bot.operations.server.base_url


async def health(session: aiohttp.ClientSession, h: Harness) -> tuple[int, dict[str, object]]:
    async with session.get(base_url(h) + "/healthz") as resp:
        return resp.status, await resp.json()


async def health_becomes(
    session: aiohttp.ClientSession, h: Harness, wanted: int, within_s: float = 20.0
) -> dict[str, object]:
    deadline = asyncio.get_running_loop().time() + within_s
    while True:
        status, body = await health(session, h)
        if status == wanted:
            return body
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"/healthz stayed {status}: {body}")
        await asyncio.sleep(0.1)


async def metric_values(session: aiohttp.ClientSession, h: Harness) -> dict[str, float]:
    async with session.get(base_url(h) + "/metrics") as resp:
        assert resp.status == 200
        text = await resp.text()
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = ",".join(f"{k}={v}" for k, v in sorted(sample.labels.items()))
            found[f"{sample.name}{{{labels}}}"] = sample.value
    return found


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client:
        yield client


async def test_healthz_follows_the_gateway(
    fake: FakeDiscord, tmp_path: Path, session: aiohttp.ClientSession
) -> None:
    async with running_bot(fake, tmp_path, extra_toml=HTTP) as h:
        status, body = await health(session, h)
        assert status == 200, body
        assert body == {
            "status": "ok",
            "checks": {"gateway": True, "dispatcher": True, "store": True},
        }
        fake.gateway_refusing = True  # the outage lasts until the test ends it
        fake.drop_gateway()
        body = await health_becomes(session, h, 503)
        assert body["failing"] == ["gateway"], body
        fake.gateway_refusing = False
        await health_becomes(session, h, 200, within_s=30)
        assert fake.resume_count >= 1
        url = base_url(h)
    with pytest.raises(aiohttp.ClientConnectionError):  # stopped with the bot
        async with session.get(url + "/healthz"):
            pass


async def test_healthz_names_a_dead_dispatcher(
    fake: FakeDiscord, tmp_path: Path, session: aiohttp.ClientSession
) -> None:
    async with running_bot(fake, tmp_path, extra_toml=HTTP) as h:
        await health_becomes(session, h, 200)
        dispatcher = h.bot.jobs._dispatcher
        assert dispatcher is not None
        await dispatcher.stop()
        body = await health_becomes(session, h, 503)
        assert body["failing"] == ["dispatcher"]


async def test_no_http_server_unless_configured(fake: FakeDiscord, tmp_path: Path) -> None:
    async with running_bot(fake, tmp_path) as h:
        assert h.bot.operations.server is None


async def test_metrics_count_host_requests_429s_and_balance_warns_once(
    fake: FakeDiscord, tmp_path: Path, session: aiohttp.ClientSession
) -> None:
    audit_id = fake.nsfw_channel_id
    async with FakePixelDojo(credits=14, credit_cost=2, job_duration_s=0.05) as pixeldojo:
        toml = (
            f'{HTTP}\n[providers.pixeldojo]\nbase_url = "{pixeldojo.base_url}"\nlow_balance = 10\n'
        )
        env = {"PIXELDOJO_API_KEY": pixeldojo.api_key}
        async with running_bot(fake, tmp_path, extra_toml=toml, env=env) as h:
            await h.store.set_audit_channel(fake.guild_id, audit_id)
            before = await metric_values(session, h)
            assert before["wanbot_jobs_total{outcome=delivered,provider=pixeldojo}"] == 0
            assert before["wanbot_discord_429_total{}"] == 0
            balances = h.bot.operations.balances
            sources = h.bot.services.providers.providers
            fake.rest_faults.append(("/messages/", 429, 0.05))
            for prompt, expected_balance in (("one fox", 12), ("two foxes", 10), ("three", 8)):
                handle = await h.imagine(prompt, provider="pixeldojo")
                done = await h.wait_job((await h.job_for(handle)).id)
                assert done.state is JobPhase.DONE, done.error
                await balances.poll_once(sources)
                assert balances.latest("pixeldojo") == expected_balance
            await balances.poll_once(sources)  # still low: no second warning
            after = await metric_values(session, h)
            await h.wait_for(
                lambda: any("balance is low" in m.content for m in fake.messages(audit_id))
            )
            await asyncio.sleep(0.2)
            warnings = [m.content for m in fake.messages(audit_id) if "balance is low" in m.content]
    assert len(warnings) == 1 and "8 credits left" in warnings[0], warnings
    assert fake.count_429 == 1
    assert after["wanbot_discord_429_total{}"] == 1
    assert after["wanbot_host_balance{provider=pixeldojo}"] == 8
    submits = after["wanbot_provider_requests_total{provider=pixeldojo,status=202}"]
    assert submits == 3
    assert after["wanbot_provider_requests_total{provider=pixeldojo,status=200}"] >= 3  # polls
    assert after["wanbot_jobs_active{state=queued}"] == 0
    assert after["wanbot_queue_depth{}"] == 0
