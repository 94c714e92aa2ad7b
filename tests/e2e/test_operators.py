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


async def test_the_job_path_feeds_the_metrics_and_the_balance(
    fake: FakeDiscord, tmp_path: Path, session: aiohttp.ClientSession
) -> None:
    """Each ending is counted once, under its outcome and host; delivered jobs add their seconds
    and the credits captured; PixelDojo's balance is read from each submission, no poll needed."""
    audit_id = fake.nsfw_channel_id
    async with FakePixelDojo(credits=14, credit_cost=2, job_duration_s=0.05) as pixeldojo:
        toml = (
            f'{HTTP}\n[providers.pixeldojo]\nbase_url = "{pixeldojo.base_url}"\nlow_balance = 10\n'
        )
        env = {"PIXELDOJO_API_KEY": pixeldojo.api_key}
        async with running_bot(fake, tmp_path, extra_toml=toml, env=env) as h:
            await h.store.set_audit_channel(fake.guild_id, audit_id)

            def delivered(values: dict[str, float]) -> float:
                return values["wanbot_jobs_total{outcome=delivered,provider=pixeldojo}"]

            seen = [await metric_values(session, h)]
            for count, prompt in enumerate(("one fox", "two foxes", "three foxes"), 1):
                handle = await h.imagine(prompt, provider="pixeldojo")
                done = await h.wait_job((await h.job_for(handle)).id)
                assert done.state is JobPhase.DONE, done.error
                # The job is stored done by its settlement; the run counts it right after.
                for _ in range(50):
                    values = await metric_values(session, h)
                    if delivered(values) >= count:
                        break
                    await asyncio.sleep(0.1)
                seen.append(values)
            assert [delivered(v) for v in seen] == [0, 1, 2, 3]
            assert [v["wanbot_credits_spent_total{}"] for v in seen] == [0, 2, 4, 6]
            counts = [v["wanbot_job_seconds_count{provider=pixeldojo}"] for v in seen]
            assert counts == [0, 1, 2, 3]
            assert 0 < seen[-1]["wanbot_job_seconds_sum{provider=pixeldojo}"] < 3 * 20
            assert h.bot.operations.balances.latest("pixeldojo") == 8  # 14 - 3 x 2, no poll

            # Refused at admission: counted under the host it would have run on.
            refused = await h.imagine("a fox", provider="pixeldojo", negative_prompt="blur")
            await refused.wait_acknowledged()
            typo = await h.imagine("a fox", provider="no-such-host")
            await typo.wait_acknowledged()

            pixeldojo.fail_jobs = "internal_error"
            failed = await h.wait_job((await h.job_for(await h.imagine("a failing fox"))).id)
            assert failed.state is JobPhase.FAILED
            pixeldojo.fail_jobs = None

            pixeldojo.never_finish = True
            slow = await h.wait_job(
                (await h.job_for(await h.imagine("a slow fox"))).id, JobPhase.RUNNING
            )
            assert slow.placeholder_message_id is not None
            click = await fake.click(slow.placeholder_message_id, f"wanbot:cancel:{slow.id}")
            await click.wait_acknowledged()
            assert (await h.wait_job(slow.id)).state is JobPhase.CANCELLED
            after = await metric_values(session, h)
            await h.wait_for(
                lambda: any("balance is low" in m.content for m in fake.messages(audit_id))
            )
            await asyncio.sleep(0.2)
            warnings = [m.content for m in fake.messages(audit_id) if "balance is low" in m.content]
    ends = {k: v for k, v in after.items() if k.startswith("wanbot_jobs_total{")}
    assert ends == {
        "wanbot_jobs_total{outcome=delivered,provider=pixeldojo}": 3,
        "wanbot_jobs_total{outcome=failed,provider=pixeldojo}": 1,
        "wanbot_jobs_total{outcome=cancelled,provider=pixeldojo}": 1,
        "wanbot_jobs_total{outcome=refused,provider=pixeldojo}": 1,
        "wanbot_jobs_total{outcome=refused,provider=unknown}": 1,
        # The mock is enabled too (no key needed): seeded at 0, so rates see its first job.
        "wanbot_jobs_total{outcome=delivered,provider=mock}": 0,
        "wanbot_jobs_total{outcome=failed,provider=mock}": 0,
        "wanbot_jobs_total{outcome=cancelled,provider=mock}": 0,
        "wanbot_jobs_total{outcome=refused,provider=mock}": 0,
    }
    assert after["wanbot_credits_spent_total{}"] == 6  # failed and cancelled jobs capture nothing
    assert after["wanbot_job_seconds_count{provider=pixeldojo}"] == 3
    # 14, 12, 10, 8, then the failed and the cancelled job's submissions: 6, 4. One crossing.
    assert after["wanbot_host_balance{provider=pixeldojo}"] == 4
    assert len(warnings) == 1 and "8 credits left" in warnings[0], warnings
