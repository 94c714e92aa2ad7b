"""The real `bot.py`, logging at DEBUG with a real token and a key the host echoes back in its
errors: neither ever appears in the log or in anything posted to Discord."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.conftest import remember_secret
from tests.e2e.subprocess_bot import BotProcess, db_path, job_by_token, write_config
from tests.fakes.discord_server import FakeDiscord
from tests.fakes.pixeldojo_server import FakePixelDojo

WRONG_KEY = "pd-live-9f8e7d6c5b4a39281706"


@pytest.fixture
async def echoing_pixeldojo() -> AsyncIterator[FakePixelDojo]:
    server = FakePixelDojo()
    server.echo_auth_in_errors = True
    async with server:
        yield server


async def test_token_and_keys_never_logged_or_posted(
    fake: FakeDiscord, tmp_path: Path, echoing_pixeldojo: FakePixelDojo
) -> None:
    remember_secret(WRONG_KEY)
    config = write_config(tmp_path, fake, echoing_pixeldojo.base_url)
    config.write_text(config.read_text().replace('level = "INFO"', 'level = "DEBUG"'))
    bot = BotProcess(
        config,
        {"DISCORD_TOKEN": fake.token, "PIXELDOJO_API_KEY": WRONG_KEY},
        tmp_path / "bot.log",
    )
    try:
        await bot.start_connected(fake)
        handle = await fake.slash("imagine", {"prompt": "a secret fox"})
        await bot.wait_until(
            lambda: (
                (row := job_by_token(db_path(tmp_path), handle.token)) is not None
                and row["state"] == "failed"
            ),
            "the job to fail on the rejected key",
        )
        assert await bot.terminate() == 0
    finally:
        bot.close()
    log = bot.log_text()
    assert "DEBUG" in log and "received" in log  # the log really was written, in detail
    sent = [r.headers.get("Authorization") for r in echoing_pixeldojo.requests]
    assert f"Bearer {WRONG_KEY}" in sent  # the key was used, and the host echoed it back
    assert fake.token not in log
    assert WRONG_KEY not in log
    shown = " ".join(m.content for m in fake.messages(include_deleted=True))
    assert "couldn't make this one" in shown
    assert WRONG_KEY not in shown and fake.token not in shown
