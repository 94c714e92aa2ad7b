"""The fault table: one test per row of README "Reliability: the fault table".

Each test breaks one thing (the bot process, the gateway, Discord's REST API, the image host, the
database) while a job moves, and checks the job ends delivered exactly once or failed with every
held credit back; the ledger holds one hold and one capture and/or one release per job; the fake
Discord saw no broken rule; and the member was told in plain words. Real discord.py against the
fake Discord; real provider clients against the fake hosts.

Rows already covered elsewhere are not repeated: SIGKILL while `running` or `queued` and SIGTERM
(tests/e2e/test_restart.py), SIGKILL while `submitting` or `delivering` (test_faults_killed.py),
a 429 storm from the provider (test_jobs.py).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.fault_tools import (
    ALLOWANCE,
    IMAGE_COST,
    PIXELDOJO_ENV,
    DatabaseLock,
    assert_charged,
    assert_refunded,
    closed_port_url,
    job_ledger,
    uploads_of,
)
from tests.e2e.harness import Harness, png_bytes, running_bot
from tests.e2e.subprocess_bot import (
    db_path,
)
from tests.fakes.discord_server import FakeDiscord
from tests.fakes.pixeldojo_server import FakePixelDojo
from tests.fakes.provider_server import Fault
from wanbot.store.base import Job, JobPhase


@pytest.fixture
async def pixeldojo() -> AsyncIterator[FakePixelDojo]:
    async with FakePixelDojo(job_duration_s=0.3) as server:
        yield server


def pixeldojo_toml(base_url: str) -> str:
    return f'\n[providers.pixeldojo]\nbase_url = "{base_url}"\n'


async def credits_of(h: Harness, user: str = "alice") -> int:
    value: int = await h.store.balance(h.fake.guild_id, h.user_id(user))
    return value


async def run_one(h: Harness, prompt: str, *phases: JobPhase, **options: Any) -> Job:
    handle = await h.imagine(prompt, **options)
    await handle.wait_acknowledged()
    return await h.wait_job((await h.job_for(handle)).id, *phases)


def assert_delivered_once(h: Harness, job: Job, images: int = 1, user: str = "alice") -> None:
    assert job.state is JobPhase.DONE, job.error
    assert job.images_delivered == images
    placeholder = h.placeholder(job)
    assert list(job.message_ids) == [placeholder.id]
    assert len(placeholder.attachments) == images
    assert len(uploads_of(h.fake, job.id)) == 1
    assert_charged(db_path(h.tmp_path), h.fake, user, job.id, images)


async def assert_failed_and_refunded(
    h: Harness, job: Job, words: str, images: int = 1, user: str = "alice"
) -> None:
    assert job.state is JobPhase.FAILED, job.state
    back = f"Your {images * IMAGE_COST} credits are back."
    await h.wait_for(lambda: back in h.placeholder(job).content, within_s=5)
    await asyncio.sleep(0.6)  # a progress edit still in flight would land by now
    text = h.placeholder(job).content
    assert words in text, text
    assert back in text, text
    assert not h.placeholder(job).attachments
    assert uploads_of(h.fake, job.id) == []
    assert_refunded(db_path(h.tmp_path), h.fake, user, job.id, images)


# -- row 2: the gateway connection dropped mid-job ---------------------------------------------


async def test_gateway_drop_mid_job_delivers_once_and_resumes(
    fake: FakeDiscord, tmp_path: Path
) -> None:
    async with running_bot(fake, tmp_path, mock_delay=1.5) as h:
        handle = await h.imagine("a fox under the wires")
        await handle.wait_acknowledged()
        job_id = (await h.job_for(handle)).id
        await h.wait_job(job_id, JobPhase.RUNNING)
        resumes, identifies = fake.resume_count, fake.identify_count
        fake.drop_gateway()
        done = await h.wait_job(job_id)
        assert_delivered_once(h, done)

        await fake.wait_for(lambda f: f.resume_count > resumes, timeout=15)
        assert fake.identify_count == identifies  # the same session, resumed
        after = await run_one(h, "a fox after the outage")
        assert_delivered_once(h, after)
        assert await credits_of(h) == ALLOWANCE - 2 * IMAGE_COST
        assert fake.violations == []


# -- row 3: Discord REST answering 5xx and 429 on the result edit -------------------------------


async def test_discord_5xx_and_429_on_placeholder_edits_deliver_once(
    fake: FakeDiscord, tmp_path: Path, pixeldojo: FakePixelDojo
) -> None:
    pixeldojo.inject("/files/", Fault("slow", delay_s=1.0))
    fake.rest_faults.append(("/messages/", 503))  # the first placeholder edit (progress)
    async with running_bot(
        fake, tmp_path, extra_toml=pixeldojo_toml(pixeldojo.base_url), env=PIXELDOJO_ENV
    ) as h:
        handle = await h.imagine("a fox in the static")
        await handle.wait_acknowledged()
        job = await h.wait_job((await h.job_for(handle)).id, JobPhase.DELIVERING)
        edit = f"/messages/{job.placeholder_message_id}"
        fake.rest_faults.extend([(edit, 500), (edit, 429, 0.2)])  # the result edit
        done = await h.wait_job(job.id)
        assert_delivered_once(h, done)
        assert len(fake.rest_faults) == 0
        answers = [r.status for r in fake.requests if r.method == "PATCH" and edit in r.path]
        assert {503, 500, 429} <= set(answers)
        # The result edit was answered 500, then 429, then taken; nothing was sent twice.
        assert [s for s in answers if s != 503][-3:] == [500, 429, 200]
        assert len(uploads_of(fake, job.id, accepted=False)) == 3
        assert fake.count_429 == 1
        assert fake.violations == []


# -- row 4: the image host misbehaving ---------------------------------------------------------


async def test_provider_5xx_on_status_polls_is_retried(
    fake: FakeDiscord, tmp_path: Path, pixeldojo: FakePixelDojo
) -> None:
    pixeldojo.inject("/jobs/", *[Fault("5xx", status=s) for s in (500, 502, 503, 504, 500)])
    async with running_bot(
        fake, tmp_path, extra_toml=pixeldojo_toml(pixeldojo.base_url), env=PIXELDOJO_ENV
    ) as h:
        done = await run_one(h, "a fox in the server room")
        assert_delivered_once(h, done)
        assert not pixeldojo.faults["/jobs/"]
        assert len(pixeldojo.submissions("/run")) == 1
        assert fake.violations == []


async def test_provider_malformed_status_is_looked_at_again(
    fake: FakeDiscord, tmp_path: Path, pixeldojo: FakePixelDojo
) -> None:
    pixeldojo.inject("/jobs/", Fault("malformed"), Fault("malformed"))
    async with running_bot(
        fake, tmp_path, extra_toml=pixeldojo_toml(pixeldojo.base_url), env=PIXELDOJO_ENV
    ) as h:
        done = await run_one(h, "a fox in garbled text")
        assert_delivered_once(h, done)
        assert not pixeldojo.faults["/jobs/"]
        assert len(pixeldojo.submissions("/run")) == 1
        assert fake.violations == []


async def test_provider_never_finishing_times_out_and_refunds(
    fake: FakeDiscord, tmp_path: Path, pixeldojo: FakePixelDojo
) -> None:
    pixeldojo.never_finish = True
    async with running_bot(
        fake,
        tmp_path,
        extra_toml=pixeldojo_toml(pixeldojo.base_url),
        env=PIXELDOJO_ENV,
        generation="job_timeout_s = 2",
    ) as h:
        started = time.monotonic()
        failed = await run_one(h, "a fox that never comes")
        assert time.monotonic() - started < 8
        await assert_failed_and_refunded(h, failed, "took longer than this bot waits")
        assert len(pixeldojo.submissions("/run")) == 1
        assert await credits_of(h) == ALLOWANCE
        assert fake.violations == []


async def test_expired_result_urls_fail_and_refund(
    fake: FakeDiscord, tmp_path: Path, pixeldojo: FakePixelDojo
) -> None:
    pixeldojo.expire_results = True
    async with running_bot(
        fake, tmp_path, extra_toml=pixeldojo_toml(pixeldojo.base_url), env=PIXELDOJO_ENV
    ) as h:
        failed = await run_one(h, "a fox that faded")
        await assert_failed_and_refunded(
            h, failed, "images could not be fetched from the image host"
        )
        assert await credits_of(h) == ALLOWANCE
        assert fake.violations == []


async def test_unreachable_provider_falls_back_to_mock(fake: FakeDiscord, tmp_path: Path) -> None:
    """Charged at the price of the host that made the images (the mock's, 1 here), not the one
    admitted (PixelDojo's, 2): the hold stays, the capture is the mock's price, the rest comes
    back. The safety checker, which PixelDojo has no switch for, is on at the mock."""
    async with running_bot(
        fake,
        tmp_path,
        extra_toml=pixeldojo_toml(closed_port_url()),
        env=PIXELDOJO_ENV,
        generation='fallback = ["mock"]',
        mock_delay=0.2,
        mock_cost=1,
    ) as h:
        done = await run_one(h, "a fox by another road", n=2)
        assert done.state is JobPhase.DONE, done.error
        assert done.provider == "mock" and done.image_cost == 1
        assert done.images_delivered == 2 and len(uploads_of(h.fake, done.id)) == 1
        placeholder = h.placeholder(done)
        assert list(done.message_ids) == [placeholder.id] and len(placeholder.attachments) == 2
        assert "· Mock ·" in placeholder.content
        assert f"2 credits, {ALLOWANCE - 2} left" in placeholder.content
        assert job_ledger(db_path(tmp_path), fake, "alice", done.id) == {
            "hold": (-2 * IMAGE_COST, 2 * IMAGE_COST),
            "capture": (0, -2),
            "release": (2 * IMAGE_COST - 2, -(2 * IMAGE_COST - 2)),
        }
        assert await credits_of(h) == ALLOWANCE - 2
        # Admitted for PixelDojo (no switch); run at the mock with it on.
        assert done.request.filtered and done.request.safety_checker is None
        record = tmp_path / "data" / "mock" / f"{done.provider_job_id}.json"
        assert json.loads(record.read_text())["request"]["safety_checker"] is True
        assert fake.violations == []


async def test_unreachable_provider_without_fallback_fails_and_refunds(
    fake: FakeDiscord, tmp_path: Path
) -> None:
    async with running_bot(
        fake, tmp_path, extra_toml=pixeldojo_toml(closed_port_url()), env=PIXELDOJO_ENV
    ) as h:
        failed = await run_one(h, "a fox with nowhere to go")
        await assert_failed_and_refunded(h, failed, "PixelDojo couldn't make this one")
        assert "could not reach the image host" in h.placeholder(failed).content
        assert await credits_of(h) == ALLOWANCE
        assert fake.violations == []


# -- row 5: the database locked by another process ---------------------------------------------


async def test_database_locked_for_3s_loses_nothing(fake: FakeDiscord, tmp_path: Path) -> None:
    async with running_bot(fake, tmp_path, mock_delay=0.3) as h:
        first = await h.imagine("a fox before the lock", size="1K")
        await first.wait_acknowledged()
        first_id = (await h.job_for(first)).id
        running = await h.wait_job(first_id, JobPhase.RUNNING)
        lock = DatabaseLock(db_path(tmp_path))
        holding = asyncio.create_task(lock.hold(3.0))
        await lock.wait_taken()
        # The first job finishes at the host and its move to `delivering` waits for the lock;
        # behind that write, the bot's reads wait too.
        rendered = tmp_path / "data" / "mock" / f"{running.provider_job_id}-1.png"
        await h.wait_for(rendered.exists, within_s=5)
        await asyncio.sleep(0.3)
        during = await h.imagine("a fox during the lock", user="bob")
        # Nothing can be admitted until the lock goes, so the bot says "thinking…" in time.
        assert await during.wait_acknowledged(timeout=5) == 5  # deferred
        assert during.ack_latency_s is not None and during.ack_latency_s < 2.5
        await holding
        released_at = time.time()
        assert lock.held_s >= 3.0
        one = await h.wait_job(first_id)
        two = await h.wait_job((await h.job_for(during)).id)
        # The first job got its results while the file was locked, and waited, not failed.
        assert one.finished_at is not None and one.finished_at >= released_at - 0.1
        assert_delivered_once(h, one)
        assert_delivered_once(h, two, user="bob")
        # Bob's reads waited too, so the bot acknowledged before reading his defaults; it knew
        # from the start that his results are public: the public "thinking…" became the
        # placeholder, with no followup.
        original = during.original_message()
        assert original is not None and not original.deleted and not original.ephemeral
        assert original.id == two.placeholder_message_id
        assert during.followups == []
        assert await credits_of(h, "alice") == ALLOWANCE - IMAGE_COST
        assert await credits_of(h, "bob") == ALLOWANCE - IMAGE_COST
        assert fake.violations == []


async def test_database_locked_during_edit_still_acknowledged(
    fake: FakeDiscord, tmp_path: Path
) -> None:
    async with running_bot(fake, tmp_path, mock_delay=0.3) as h:
        first = await h.imagine("a fox before the lock", size="1K", user="bob")
        running = await h.wait_job((await h.job_for(first)).id, JobPhase.RUNNING)
        lock = DatabaseLock(db_path(tmp_path))
        holding = asyncio.create_task(lock.hold(4.5))
        await lock.wait_taken()
        # Bob's job tries to record its results and waits for the lock; the bot's one database
        # connection, and so every read behind it, waits too.
        rendered = tmp_path / "data" / "mock" / f"{running.provider_job_id}-1.png"
        await h.wait_for(rendered.exists, within_s=5)
        await asyncio.sleep(0.3)
        edit = await fake.slash(
            "edit",
            {"prompt": "a hat, during the lock"},
            attachments={"image": ("photo.png", png_bytes(512, 512), "image/png")},
        )
        assert await edit.wait_acknowledged(timeout=5) == 5  # "thinking…", in time
        assert edit.ack_latency_s is not None and edit.ack_latency_s < 2.5
        await holding
        job = await h.wait_job((await h.job_for(edit)).id)
        assert_delivered_once(h, job)
        assert await credits_of(h) == ALLOWANCE - IMAGE_COST
        assert fake.violations == []
