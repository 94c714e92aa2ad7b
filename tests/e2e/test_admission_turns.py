"""A burst of commands is acknowledged before it is admitted (issue 11).

While one command's store work is under way, every other command that needs the store first is
acknowledged at once ("thinking…") and waits its turn; its acknowledged message then becomes its
placeholder, filled by the job's progress reports, and ends as its result. A lone command is
answered with its placeholder in one go. A member whose defaults the bot has not read yet is
acknowledged privately (their results may be private) and gets a public placeholder after.
Not timed: the first admission is held on an event.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cogs.client import WanBot
from tests.e2e.harness import running_bot
from tests.fakes.discord_server import CB_DEFERRED_MESSAGE, CB_MESSAGE, FakeDiscord
from wanbot.store.base import JobPhase

BURST = 12


@pytest.fixture
def fake() -> Iterator[FakeDiscord]:
    fake = FakeDiscord()
    for i in range(BURST):
        fake.add_member(f"member{i}")
    fake.add_member("newcomer")
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
        # Every member but the newcomer has made images before: the bot has read their defaults.
        earlier = [h.imagine("earlier", user=f"member{i}", size="1K") for i in range(BURST)]
        for handle in await asyncio.gather(*earlier):
            await h.wait_job((await h.job_for(handle)).id, within_s=30.0)

        held.armed = True
        first = await h.imagine("the first", user="member0", size="1K")
        await asyncio.wait_for(held.holding.wait(), 10)
        rest = await asyncio.gather(
            *(h.imagine(f"burst {i}", user=f"member{i}", size="1K") for i in range(1, BURST))
        )
        newcomer = await h.imagine("new here", user="newcomer", size="1K")
        kinds = [await handle.wait_acknowledged() for handle in (*rest, newcomer)]
        # Every one acknowledged while the first admission still held its turn...
        assert kinds == [CB_DEFERRED_MESSAGE] * BURST
        assert held.started == 1, "an admission started before the first one's turn ended"
        assert first.acknowledged is None
        newcomer_ack = newcomer.original_message()
        assert newcomer_ack is not None and newcomer_ack.ephemeral
        assert all(not (m := r.original_message()) or not m.ephemeral for r in rest)
        held.release.set()

        jobs = [await h.job_for(handle) for handle in (first, *rest)]
        done = [await h.wait_job(job.id, within_s=60.0) for job in jobs]
        newcomer_job = await h.wait_job((await h.job_for(newcomer)).id, within_s=60.0)

    # ...and the lone first command answered with its placeholder directly.
    assert first.acknowledged == CB_MESSAGE
    assert [j.state for j in done] == [JobPhase.DONE] * BURST
    for handle, job in zip(rest, done[1:], strict=True):
        loading = handle.original_message()
        assert loading is not None
        # The acknowledged message was the placeholder, and it now holds the result.
        assert job.placeholder_message_id == loading.id
        assert loading.id in job.message_ids
        assert not loading.loading and loading.attachments and not loading.ephemeral
        assert handle.followups == []
    # The newcomer's private "thinking…" went away; the public placeholder came as a followup.
    assert newcomer_job.state is JobPhase.DONE
    (placeholder,) = newcomer.followups
    assert newcomer_job.placeholder_message_id == placeholder.id and not placeholder.ephemeral
    assert fake.message(newcomer_ack.id).deleted
