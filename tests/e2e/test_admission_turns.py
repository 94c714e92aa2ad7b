"""A burst of commands is acknowledged before it is admitted (issue 11).

While one command's store work is under way, every other command that needs the store first is
acknowledged at once ("thinking…") and waits its turn; its acknowledged message then becomes its
placeholder, filled by the job's progress reports, and ends as its result. A lone command is
answered with its placeholder in one go. The acknowledgement is private for members whose
results are private by default, as far as this process knows; where it guessed wrong, the
public "thinking…" goes away and the placeholder is a private followup: no prompt of a private
job is ever shown in public. Not timed: the first admission is held on an event.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cogs.client import WanBot
from tests.e2e.harness import running_bot
from tests.fakes.discord_server import CB_DEFERRED_MESSAGE, CB_MESSAGE, FakeDiscord, FakeMessage
from wanbot.store.base import JobPhase

BURST = 12


@pytest.fixture
def fake() -> Iterator[FakeDiscord]:
    fake = FakeDiscord()
    for i in range(BURST):
        fake.add_member(f"member{i}")
    fake.add_member("quiet")  # private by default, through /set
    fake.add_member("elsewhere")  # private by default, saved behind this process's back
    with fake:
        yield fake


class HeldFirstAdmission:
    """Once armed, the first admission waits for `release`; admissions since are counted."""

    def __init__(self) -> None:
        self.armed = False
        self.release = asyncio.Event()
        self.holding = asyncio.Event()
        self.started = 0

    def install(self, bot: WanBot) -> None:
        admission = bot.services.admission
        admit = admission.admit

        async def held(*args: Any, **kwargs: Any) -> Any:
            if not self.armed:
                return await admit(*args, **kwargs)
            self.started += 1
            if self.started == 1:
                self.holding.set()
                await self.release.wait()
            return await admit(*args, **kwargs)

        admission.admit = held  # type: ignore[method-assign]


async def test_a_burst_is_acknowledged_at_once_and_admitted_in_turn(
    fake: FakeDiscord, tmp_path: Path
) -> None:
    held = HeldFirstAdmission()
    async with running_bot(
        fake, tmp_path, extra_toml="[credits]\nallowance = 100000\n", configure=held.install
    ) as h:
        await (await fake.slash("set", {"private": True}, user="quiet")).wait_acknowledged()
        # Another process saved this one: this process still takes them for public.
        await h.store.save_preferences(fake.guild_id, h.user_id("elsewhere"), {"private": True})

        held.armed = True
        first = await h.imagine("the first", user="member0", size="1K")
        await asyncio.wait_for(held.holding.wait(), 10)
        rest = await asyncio.gather(
            *(h.imagine(f"burst {i}", user=f"member{i}", size="1K") for i in range(1, BURST))
        )
        quiet = await h.imagine("hush", user="quiet", size="1K")
        elsewhere = await h.imagine("secret words", user="elsewhere", size="1K")
        kinds = [await handle.wait_acknowledged() for handle in (*rest, quiet, elsewhere)]
        # Every one acknowledged while the first admission still held its turn...
        assert kinds == [CB_DEFERRED_MESSAGE] * (BURST + 1)
        assert held.started == 1, "an admission started before the first one's turn ended"
        assert first.acknowledged is None
        acks: dict[int, FakeMessage] = {}
        for handle in (*rest, quiet, elsewhere):
            ack = handle.original_message()
            assert ack is not None
            acks[handle.id] = ack
        assert [acks[r.id].ephemeral for r in rest] == [False] * (BURST - 1)
        assert acks[quiet.id].ephemeral
        assert not acks[elsewhere.id].ephemeral
        held.release.set()

        handles = (first, *rest, quiet, elsewhere)
        jobs = [await h.job_for(handle) for handle in handles]
        done = [await h.wait_job(job.id, within_s=60.0) for job in jobs]
        public = [m.content for m in fake.messages(include_deleted=True) if not m.ephemeral]

    # ...and the lone first command answered with its placeholder directly.
    assert first.acknowledged == CB_MESSAGE
    assert [j.state for j in done] == [JobPhase.DONE] * len(handles)
    for handle, job in zip(handles[1:-1], done[1:-1], strict=True):
        loading = acks[handle.id]
        # The acknowledged message was the placeholder, and it now holds the result.
        assert job.placeholder_message_id == loading.id
        assert loading.id in job.message_ids
        result = fake.message(loading.id)
        assert not result.loading and result.attachments
        assert result.ephemeral == (handle is quiet)
        assert handle.followups == []
    # A wrong guess: the public "thinking…" went away, the placeholder came as a private followup.
    private_job = done[-1]
    (placeholder,) = elsewhere.followups
    assert private_job.private and placeholder.ephemeral
    assert private_job.placeholder_message_id == placeholder.id
    assert fake.message(acks[elsewhere.id].id).deleted
    assert not any("secret words" in text for text in public)
    assert not any("hush" in text for text in public)
