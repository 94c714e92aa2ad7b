"""Helpers for several real `bot.py` processes on one PostgreSQL schema and a sharded fake Discord.

Each process gets a config of its own (its shard, its data folder) that differs from the
single-process one only in `storage.url` and the shard settings. The database is read with
plain asyncpg connections through the test's `PostgresPlace`.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any

from tests.e2e.subprocess_bot import BotProcess, write_config
from tests.fakes.discord_server import FakeDiscord
from tests.fakes.pixeldojo_server import FakePixelDojo
from tests.store.backends import PostgresPlace
from wanbot.providers.models import GenerationRequest
from wanbot.store.base import token_digest
from wanbot.store.postgres_database import numbered

ALLOWANCE = 50
IMAGE_COST = 2
Row = dict[str, Any]


def process_config(
    tmp_path: Path,
    fake: FakeDiscord,
    pixeldojo: FakePixelDojo,
    url: str,
    *,
    shard: int,
    shard_count: int,
    generation: str = "",
) -> Path:
    text = write_config(tmp_path, fake, pixeldojo.base_url, generation).read_text()
    text, found = re.subn(r'url = "sqlite:///[^"]*"', lambda _: f'url = "{url}"', text)
    assert found == 1, text
    shards = f"shard_count = {shard_count}\nshard_ids = [{shard}]\n"
    text = text.replace("[discord]\n", f"[discord]\n{shards}", 1)
    text = text.replace(str(tmp_path / "data"), str(tmp_path / f"data{shard}"))
    path = tmp_path / f"shard{shard}.toml"
    path.write_text(text)
    return path


def bot_process(tmp_path: Path, fake: FakeDiscord, config: Path, name: str) -> BotProcess:
    env = {"DISCORD_TOKEN": fake.token, "PIXELDOJO_API_KEY": FakePixelDojo.api_key}
    return BotProcess(config, env, tmp_path / f"{name}.log")


async def seed_history(place: PostgresPlace, *, seconds: float = 1.0, count: int = 3) -> None:
    """Recent finished jobs of `seconds` each, so the bot polls a running job about twice a
    second (with no history it first waits ~40 s). A guild and user no test uses."""
    store = await place.open()  # the schema, migrated
    await store.close()
    request = GenerationRequest(prompt="history", size="2K").model_dump_json()
    now = time.time() - 3600
    for i in range(count):
        start = now + i * 60
        await place.execute(
            "INSERT INTO jobs (id, seq, kind, state, guild_id, channel_id, user_id,"
            " application_id, interaction_token, token_expires_at, request_json, provider,"
            " provider_job_id, image_cost, images_requested, size, images_delivered,"
            " created_at, updated_at, submitted_at, finished_at, deadline_at, upload_limit)"
            " VALUES (?, ?, 'imagine', 'done', 1, 1, 1, 1, 'x', ?, ?, 'pixeldojo', ?, 2, 1,"
            " '2K', 1, ?, ?, ?, ?, ?, 10485760)",
            (
                f"history{i}",
                -1 - i,
                start,
                request,
                f"old{i}",
                start,
                start + seconds,
                start,
                start + seconds,
                start + 600,
            ),
        )


async def rows(place: PostgresPlace, sql: str, params: tuple[Any, ...] = ()) -> list[Row]:
    conn = await place._connection()
    return [dict(r) for r in await conn.fetch(numbered(sql), *params)]


async def job_by_token(place: PostgresPlace, token: str) -> Row | None:
    found = await rows(
        place,
        "SELECT * FROM jobs WHERE interaction_token IN (?, ?)",
        (token, token_digest(token)),
    )
    return found[0] if found else None


async def real_jobs(place: PostgresPlace) -> list[Row]:
    return await rows(place, "SELECT * FROM jobs WHERE id NOT LIKE 'history%' ORDER BY seq")


async def assert_delivered_once(
    place: PostgresPlace, fake: FakeDiscord, job: Row, images: int
) -> None:
    """Done, its images on its placeholder once, one hold, one capture, one release."""
    assert job["state"] == "done", job["error"]
    assert job["images_delivered"] == images
    placeholder = fake.message(int(job["placeholder_message_id"]))
    assert json.loads(job["message_ids_json"]) == [placeholder.id]
    assert len(placeholder.attachments) == images
    uploads = [r for r in fake.requests if any(job["id"][:8] in name for name, _ in r.files)]
    assert len(uploads) == 1, uploads
    entries = await rows(place, "SELECT * FROM ledger WHERE job_id = ? ORDER BY id", (job["id"],))
    assert sorted(e["kind"] for e in entries) == ["capture", "hold", "release"], entries
    by_kind = {e["kind"]: e for e in entries}
    cost = images * IMAGE_COST
    assert (by_kind["hold"]["available"], by_kind["hold"]["held"]) == (-cost, cost)
    assert (by_kind["capture"]["available"], by_kind["capture"]["held"]) == (0, -cost)
    assert (by_kind["release"]["available"], by_kind["release"]["held"]) == (0, 0)


async def balance(place: PostgresPlace, guild_id: int, user_id: int) -> int:
    found = await rows(
        place,
        "SELECT COALESCE(SUM(available), 0) AS total FROM ledger"
        " WHERE guild_id = ? AND user_id = ?",
        (guild_id, user_id),
    )
    return int(found[0]["total"])
