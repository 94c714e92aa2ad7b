"""The real bot sets its start-up heap aside from the collector before it connects, and gives it
back when it closes."""

from __future__ import annotations

import gc
from pathlib import Path

from tests.e2e.harness import running_bot
from tests.fakes.discord_server import FakeDiscord


async def test_the_bot_sets_its_startup_heap_aside(fake: FakeDiscord, tmp_path: Path) -> None:
    async with running_bot(fake, tmp_path) as h:
        assert h.bot.froze_heap and gc.get_freeze_count() > 0
        tracked = {id(o) for o in gc.get_objects()}
        assert id(h.bot) not in tracked and id(h.bot.tree) not in tracked
        job = await h.wait_job((await h.job_for(await h.imagine("a fox"))).id)
        assert job.error is None and job.message_ids
    assert not h.bot.froze_heap and gc.get_freeze_count() == 0
    assert id(h.bot) in {id(o) for o in gc.get_objects()}
    assert fake.violations == []
