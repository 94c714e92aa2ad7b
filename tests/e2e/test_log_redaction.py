"""At DEBUG, with the real discord.py (gateway events, interaction webhooks) and aiosqlite running,
no interaction token reaches any log record, whichever handler reads it."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.harness import running_bot
from tests.fakes.discord_server import FakeDiscord
from wanbot.logs import Redactor, quiet_noisy_loggers
from wanbot.store.base import JobPhase


class Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def lines(self) -> list[str]:
        plain = logging.Formatter("%(name)s %(message)s")
        return [plain.format(r) for r in self.records]


@pytest.fixture
def debug_everywhere(fake: FakeDiscord) -> Iterator[Collect]:
    """The root logger and every library logger at DEBUG, as an operator chasing a bug sets it."""
    names = ("discord", "discord.http", "discord.webhook.async_", "discord.gateway", "aiosqlite")
    loggers = [logging.getLogger(), *(logging.getLogger(n) for n in names)]
    saved = [(lg.level, list(lg.filters)) for lg in loggers]
    redactor = Redactor([fake.token])
    handler = Collect()
    logging.getLogger().addHandler(handler)
    for lg in loggers:
        lg.setLevel(logging.DEBUG)
    redactor.install()
    quiet_noisy_loggers("DEBUG")
    try:
        yield handler
    finally:
        redactor.uninstall()
        logging.getLogger().removeHandler(handler)
        for lg, (level, filters) in zip(loggers, saved, strict=True):
            lg.setLevel(level)
            lg.filters[:] = filters


async def test_no_interaction_token_in_any_debug_record(
    fake: FakeDiscord, tmp_path: Path, debug_everywhere: Collect
) -> None:
    async with running_bot(fake, tmp_path) as h:
        handle = await h.imagine("a fox at debug level")
        job = await h.job_for(handle)
        done = await h.wait_job(job.id)
        assert done.state is JobPhase.DONE, done.error
        followup = await h.imagine("another fox")
        await h.wait_job((await h.job_for(followup)).id)
    lines = debug_everywhere.lines()
    # the paths that used to leak really ran, at DEBUG
    assert any(line.startswith("discord.webhook.async_ Webhook ID") for line in lines)
    assert any("INTERACTION_CREATE" in line for line in lines)
    assert any("/webhooks/" in line and "[redacted]" in line for line in lines)
    for token in (handle.token, followup.token, fake.token):
        hits = [line for line in lines if token in line]
        assert hits == [], f"a token was logged: {hits[0][:300]}"
    assert not any(line.startswith("aiosqlite ") for line in lines)
