"""A job keeps the locale of the command that started it (migration 0004), so what is said later
is in the member's language; jobs stored before the column existed read as None (English)."""

from __future__ import annotations

import sqlite3
from dataclasses import replace
from pathlib import Path

from tests.store.helpers import NO_CAPS, NO_REFILL, make_job
from wanbot.store import SQLiteStore
from wanbot.store.database import statements
from wanbot.store.sqlite import migrations

LOCALE_MIGRATION = 4


def _database_before_locales(path: Path) -> None:
    """A database as a bot without migration 0004 left it, with one job in it."""
    with sqlite3.connect(path) as conn:
        conn.execute(
            "CREATE TABLE schema_migrations "
            "(version INTEGER PRIMARY KEY, applied_at DOUBLE PRECISION NOT NULL)"
        )
        for version, sql in migrations():
            if version >= LOCALE_MIGRATION:
                break
            for statement in statements(sql):
                conn.execute(statement)
            conn.execute("INSERT INTO schema_migrations VALUES (?, 1.0)", (version,))
        conn.execute(
            "INSERT INTO jobs (id, seq, kind, state, guild_id, channel_id, user_id,"
            " application_id, interaction_token, token_expires_at, request_json, provider,"
            " image_cost, images_requested, size, created_at, updated_at, deadline_at,"
            " upload_limit) VALUES ('old', 1, 'imagine', 'queued', 1, 2, 3, 4, 't', 5.0,"
            " '{\"prompt\": \"a cat\"}', 'mock', 1, 1, '2K', 1.0, 1.0, 9.0, 100)"
        )


async def test_old_jobs_read_as_english_and_new_jobs_keep_their_locale(tmp_path: Path) -> None:
    path = tmp_path / "wanbot.db"
    _database_before_locales(path)
    store = await SQLiteStore.open(path)
    try:
        old = await store.get_job("old")
        assert old is not None and old.locale is None
        await store.grant(1, 10, 10, actor_id=1, reason="test")
        await store.admit_job(replace(make_job("zh"), locale="zh-CN"), NO_REFILL, NO_CAPS, 5)
        await store.admit_job(make_job("none"), NO_REFILL, NO_CAPS, 5)
        by_id = {job.id: job for job in await store.jobs_in(list(type(old.state)))}
        assert by_id["zh"].locale == "zh-CN"
        assert by_id["none"].locale is None
        assert by_id["old"].locale is None
    finally:
        await store.close()
    with sqlite3.connect(path) as conn:
        applied = [r[0] for r in conn.execute("SELECT version FROM schema_migrations")]
    assert LOCALE_MIGRATION in applied
