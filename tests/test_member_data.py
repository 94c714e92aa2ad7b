"""MemberData over a real SQLite file: prompts blanked by age as `keep_prompts_days` says (never
with 0), and forgetting deletes only kept inputs, never a file elsewhere a request names."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Mapping
from pathlib import Path

import pytest

from tests.store.helpers import Clock
from tests.store.test_member_data import ALICE, GUILD, NO_CAPS, NO_REFILL, deliver, job
from wanbot.jobs.run import CancelResult, JobRun
from wanbot.member_data import DAY_S, MemberData
from wanbot.providers.models import InputImage
from wanbot.store import SQLiteStore
from wanbot.store.base import REMOVED_PROMPT


class NoLiveJobs:
    """This process runs none of the member's jobs."""

    @property
    def live(self) -> Mapping[str, JobRun]:
        return {}

    async def cancel(self, job_id: str) -> CancelResult:
        raise AssertionError("nothing to cancel")


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def store(tmp_path: Path, clock: Clock) -> AsyncIterator[SQLiteStore]:
    s = await SQLiteStore.open(tmp_path / "wanbot.db", clock=clock)
    yield s
    await s.close()


def member_data(store: SQLiteStore, tmp_path: Path, clock: Clock, days: int) -> MemberData:
    return MemberData(
        store=store, jobs=NoLiveJobs(), data_dir=tmp_path, keep_prompts_days=days, clock=clock
    )


async def prompts(store: SQLiteStore, *job_ids: str) -> list[str]:
    found = []
    for job_id in job_ids:
        stored = await store.get_job(job_id)
        assert stored is not None
        found.append(stored.request.prompt)
    return found


@pytest.mark.parametrize(("days", "blanked"), [(90, 1), (0, 0), (200, 0)])
async def test_prompts_are_blanked_after_the_keeping_time(
    store: SQLiteStore, tmp_path: Path, clock: Clock, days: int, blanked: int
) -> None:
    await store.grant(GUILD, ALICE, 100, 1, None)
    await store.admit_job(job("old", "an old fox"), NO_REFILL, NO_CAPS, 10)
    await deliver(store, "old")
    clock.now += 100 * DAY_S
    await store.admit_job(job("new", "a new fox"), NO_REFILL, NO_CAPS, 10)
    await deliver(store, "new")

    assert await member_data(store, tmp_path, clock, days).blank_old_prompts() == blanked
    expected_old = REMOVED_PROMPT if blanked else "an old fox"
    assert await prompts(store, "old", "new") == [expected_old, "a new fox"]


async def test_forget_deletes_kept_inputs_only(
    store: SQLiteStore, tmp_path: Path, clock: Clock
) -> None:
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    kept = inputs / "kept.png"
    elsewhere = tmp_path / "config.toml"  # a request naming a file outside the inputs folder
    for path in (kept, elsewhere):
        path.write_bytes(b"x")
    images = tuple(
        InputImage(path=str(p), content_type="image/png", width=300, height=300, size_bytes=1)
        for p in (kept, elsewhere, inputs / "pruned-already.png")
    )
    await store.grant(GUILD, ALICE, 100, 1, None)
    await store.admit_job(job("plain", "a fox"), NO_REFILL, NO_CAPS, 10)
    edit = dataclasses.replace(job("e", "in a hat", inputs=images), kind="edit")
    await store.admit_job(edit, NO_REFILL, NO_CAPS, 10)
    for job_id in ("plain", "e"):
        await deliver(store, job_id)

    done = await member_data(store, tmp_path, clock, 90).forget(GUILD, ALICE)

    assert (done.jobs, done.inputs_deleted, done.cancelled, done.still_active) == (2, 1, 0, 0)
    assert not kept.exists()
    assert elsewhere.exists()
    assert await prompts(store, "plain", "e") == [REMOVED_PROMPT, REMOVED_PROMPT]
