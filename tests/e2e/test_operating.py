"""Operating the real `bot.py` (a subprocess) with `http.listen` set, as an operator would see it.

/healthz answers 200 while the gateway is connected, 503 naming it after the gateway is cut, 200
after the bot resumed; /metrics parses with prometheus-client's own parser and
`wanbot_jobs_total` grows by one per delivered job; the host's low balance is posted once per
crossing; JSON logs carry each job's fields; /admin forget leaves no prompt of the member in the
database file and every balance as it was.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.e2e.harness import write_config
from tests.e2e.subprocess_bot import BotProcess, balance, db_path, job_by_token, seed_history
from tests.e2e.test_account_admin import answer
from tests.e2e.test_forget import database_bytes
from tests.fakes.discord_server import FakeDiscord, FakeMessage
from tests.fakes.pixeldojo_server import FakePixelDojo

LOW_BALANCE = 10
LISTENING = re.compile(r"HTTP server listening on 127\.0\.0\.1:(\d+)")


@pytest.fixture
async def pixeldojo() -> AsyncIterator[FakePixelDojo]:
    async with FakePixelDojo(credits=14, credit_cost=2, job_duration_s=0.05) as server:
        yield server


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as client:
        yield client


@pytest.fixture
def bot(fake: FakeDiscord, tmp_path: Path, pixeldojo: FakePixelDojo) -> Iterator[BotProcess]:
    config = write_config(
        tmp_path,
        fake,
        f"""
[providers.pixeldojo]
base_url = "{pixeldojo.base_url}"
low_balance = {LOW_BALANCE}

[http]
listen = "127.0.0.1:0"

[logging]
level = "INFO"
format = "json"
""",
        generation='provider = "pixeldojo"',
    )
    env = {"DISCORD_TOKEN": fake.token, "PIXELDOJO_API_KEY": FakePixelDojo.api_key}
    process = BotProcess(config, env, tmp_path / "bot.log")
    try:
        yield process
    finally:
        process.close()


async def start(bot: BotProcess, fake: FakeDiscord, tmp_path: Path) -> str:
    """Start the bot connected; the base URL of its HTTP server (port 0: the log says which)."""
    # Recent 1 s jobs make the bot poll a running job about every half second.
    await seed_history(db_path(tmp_path), provider="pixeldojo", size="2K", seconds=1.0)
    await bot.start_connected(fake)
    await bot.wait_until(lambda: LISTENING.search(bot.current_log()) is not None, "the HTTP server")
    found = LISTENING.search(bot.current_log())
    assert found is not None
    return f"http://127.0.0.1:{found.group(1)}"


async def health(session: aiohttp.ClientSession, url: str) -> tuple[int, dict[str, Any]]:
    async with session.get(url + "/healthz") as resp:
        return resp.status, await resp.json()


async def health_becomes(
    session: aiohttp.ClientSession, url: str, wanted: int, within_s: float = 30.0
) -> dict[str, Any]:
    deadline = asyncio.get_running_loop().time() + within_s
    while True:
        status, body = await health(session, url)
        if status == wanted:
            return body
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"/healthz stayed {status}: {body}")
        await asyncio.sleep(0.1)


async def scrape(session: aiohttp.ClientSession, url: str) -> dict[tuple[str, str], float]:
    """{(sample name, sorted labels): value}, read with prometheus-client's own parser."""
    async with session.get(url + "/metrics") as resp:
        assert resp.status == 200
        assert resp.headers["Content-Type"].startswith("text/plain")
        text = await resp.text()
    return {
        (s.name, ",".join(f"{k}={v}" for k, v in sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def delivered(values: dict[tuple[str, str], float]) -> float:
    return values[("wanbot_jobs_total", "outcome=delivered,provider=pixeldojo")]


def all_ended(values: dict[tuple[str, str], float]) -> float:
    return sum(v for (name, _), v in values.items() if name == "wanbot_jobs_total")


async def deliver(bot: BotProcess, fake: FakeDiscord, prompt: str, user: str = "alice") -> str:
    """/imagine through the fake Discord; waits until the job is done in the database file."""
    handle = await fake.slash("imagine", {"prompt": prompt}, user=user)
    db = db_path(bot.log_path.parent)
    row: dict[str, Any] = {}

    def finished() -> bool:
        found = job_by_token(db, handle.token)
        if found is None or found["state"] not in ("done", "failed", "cancelled"):
            return False
        row.update(found)
        return True

    await bot.wait_until(finished, f"the job for {prompt!r}", 30.0)
    assert row["state"] == "done", row["error"]
    return str(row["id"])


async def admin(fake: FakeDiscord, subcommand: str, **options: Any) -> FakeMessage:
    handle = await fake.slash("admin", options, user="admin", subcommand=subcommand)
    return await answer(handle, within_s=15.0)


def warnings(fake: FakeDiscord, channel_id: int) -> list[str]:
    return [m.content for m in fake.messages(channel_id) if "balance is low" in m.content]


async def test_health_metrics_and_one_warning_per_crossing(
    fake: FakeDiscord,
    tmp_path: Path,
    pixeldojo: FakePixelDojo,
    bot: BotProcess,
    session: aiohttp.ClientSession,
) -> None:
    url = await start(bot, fake, tmp_path)
    # Ready once the server list has arrived (discord.py waits briefly for it after READY).
    assert await health_becomes(session, url, 200) == {
        "status": "ok",
        "checks": {"gateway": True, "dispatcher": True, "store": True},
    }
    audit_id = fake.nsfw_channel_id
    await admin(fake, "audit-channel", channel="nsfw-art")

    seen = [await scrape(session, url)]
    job_ids = []
    # The host reports 12, 10, 8, 6 credits left: one crossing under 10, one warning.
    for count, prompt in enumerate(("one fox", "two foxes", "three foxes", "four foxes"), 1):
        job_ids.append(await deliver(bot, fake, prompt))
        # The job is stored done by its settlement; the run counts it right after.
        for _ in range(50):
            values = await scrape(session, url)
            if delivered(values) >= count:
                break
            await asyncio.sleep(0.1)
        seen.append(values)
    assert [delivered(v) for v in seen] == [0, 1, 2, 3, 4]
    assert [all_ended(v) for v in seen] == [0, 1, 2, 3, 4]
    last = seen[-1]
    assert last[("wanbot_host_balance", "provider=pixeldojo")] == 6
    assert last[("wanbot_credits_spent_total", "")] == 8
    assert last[("wanbot_job_seconds_count", "provider=pixeldojo")] == 4
    assert last[("wanbot_jobs_active", "state=queued")] == 0
    await bot.wait_until(lambda: len(warnings(fake, audit_id)) == 1, "the low-balance warning")

    # Topped up, the warning re-arms; falling under again warns again, once.
    pixeldojo.credits = 100
    await deliver(bot, fake, "five foxes")
    pixeldojo.credits = 7
    await deliver(bot, fake, "six foxes")
    await deliver(bot, fake, "seven foxes")
    await bot.wait_until(lambda: len(warnings(fake, audit_id)) == 2, "the second warning")
    await asyncio.sleep(0.5)
    told = warnings(fake, audit_id)
    assert len(told) == 2, told
    assert "PixelDojo's balance is low: 8 credits left" in told[0], told
    assert "PixelDojo's balance is low: 5 credits left" in told[1], told
    assert delivered(await scrape(session, url)) == 7

    # The gateway is cut and refused for a while: /healthz names it, then recovers on resume.
    resumed = fake.resume_count
    fake.gateway_refusing = True
    fake.drop_gateway()
    body = await health_becomes(session, url, 503)
    assert body["failing"] == ["gateway"], body
    assert body["checks"] == {"gateway": False, "dispatcher": True, "store": True}
    fake.gateway_refusing = False
    await health_becomes(session, url, 200, within_s=60)
    assert fake.resume_count > resumed

    # JSON log lines carry the job's fields.
    lines = [line for line in bot.current_log().splitlines() if job_ids[0] in line]
    tagged = [line for line in lines if f'"job_id": "{job_ids[0]}"' in line]
    assert any(
        f'"guild_id": {fake.guild_id}' in line and '"provider": "pixeldojo"' in line
        for line in tagged
    ), lines

    assert await bot.terminate() == 0
    with pytest.raises(aiohttp.ClientConnectionError):
        await health(session, url)


async def test_forget_leaves_no_prompt_in_the_file_and_balances_as_they_were(
    fake: FakeDiscord,
    tmp_path: Path,
    pixeldojo: FakePixelDojo,
    bot: BotProcess,
    session: aiohttp.ClientSession,
) -> None:
    pixeldojo.credits = 1000
    await start(bot, fake, tmp_path)
    db = db_path(tmp_path)
    await answer(await fake.slash("set", {"aspect_ratio": "16:9"}))
    for prompt in ("alice-secret-one a fox", "alice-secret-two an owl"):
        await deliver(bot, fake, prompt)
    await deliver(bot, fake, "bob-keeps-this a whale", user="bob")
    users = {name: fake.users[name].id for name in ("alice", "bob")}
    before = {name: balance(db, fake.guild_id, uid) for name, uid in users.items()}
    assert b"alice-secret-one" in database_bytes(tmp_path)

    reply = await admin(fake, "forget", user="alice")

    assert "the prompts of 2 jobs removed" in reply.content, reply.content
    assert "saved defaults deleted" in reply.content
    stored = database_bytes(tmp_path)
    assert b"alice-secret-one" not in stored and b"alice-secret-two" not in stored
    assert b"bob-keeps-this" in stored
    after = {name: balance(db, fake.guild_id, uid) for name, uid in users.items()}
    assert after == before
    assert await bot.terminate() == 0
