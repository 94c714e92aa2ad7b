"""The job pipeline end to end: failures refunded, cancels, storms, expired tokens, big files,
fairness. Real discord.py against the fake Discord; real provider clients against fake hosts."""

from __future__ import annotations

import io
import os
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from PIL import Image

from tests.e2e.harness import Harness, running_bot
from tests.fakes.discord_server import FakeDiscord
from tests.fakes.pixeldojo_server import FakePixelDojo
from tests.fakes.provider_server import Fault
from wanbot.store.base import JobPhase


@pytest.fixture
async def pixeldojo() -> AsyncIterator[FakePixelDojo]:
    async with FakePixelDojo(job_duration_s=0.3) as server:
        yield server


def pixeldojo_toml(server: FakePixelDojo, extra: str = "") -> str:
    return f"""
[providers.pixeldojo]
base_url = "{server.base_url}"
{extra}
"""


def pixeldojo_env() -> dict[str, str]:
    return {"PIXELDOJO_API_KEY": FakePixelDojo.api_key}


async def credits_of(h: Harness, user: str = "alice") -> int:
    balance: int = await h.store.balance(h.fake.guild_id, h.user_id(user))
    return balance


async def test_provider_failure_is_refunded_and_explained(
    fake: FakeDiscord, tmp_path: Path, pixeldojo: FakePixelDojo
) -> None:
    pixeldojo.fail_jobs = "internal_error"
    async with running_bot(
        fake, tmp_path, extra_toml=pixeldojo_toml(pixeldojo), env=pixeldojo_env()
    ) as h:
        handle = await h.imagine("a red fox", n=2)
        job = await h.wait_job((await h.job_for(handle)).id)
        assert job.state is JobPhase.FAILED
        # The job is settled first, then the member is told: wait for the edit to land.
        await h.wait_for(lambda: "couldn't make this one" in h.placeholder(job).content)
        text = h.placeholder(job).content
        assert "PixelDojo couldn't make this one" in text
        assert "Your 4 credits are back." in text
        assert await credits_of(h) == 50
        assert not h.placeholder(job).attachments
        assert len(pixeldojo.submissions("/run")) == 1
        assert fake.violations == []


async def test_cancel_is_refunded(
    fake: FakeDiscord, tmp_path: Path, pixeldojo: FakePixelDojo
) -> None:
    pixeldojo.never_finish = True
    async with running_bot(
        fake, tmp_path, extra_toml=pixeldojo_toml(pixeldojo), env=pixeldojo_env()
    ) as h:
        handle = await h.imagine("a slow fox")
        job = await h.wait_job((await h.job_for(handle)).id, JobPhase.RUNNING)
        assert await credits_of(h) == 48
        assert job.placeholder_message_id is not None
        click = await fake.click(job.placeholder_message_id, f"wanbot:cancel:{job.id}")
        await click.wait_acknowledged()
        ended = await h.wait_job(job.id)
        assert ended.state is JobPhase.CANCELLED
        assert await credits_of(h) == 50
        await h.wait_for(lambda: "Cancelled" in h.placeholder(ended).content)
        assert "Your 2 credits are back." in h.placeholder(ended).content


async def test_only_the_requester_may_cancel(
    fake: FakeDiscord, tmp_path: Path, pixeldojo: FakePixelDojo
) -> None:
    pixeldojo.never_finish = True
    async with running_bot(
        fake, tmp_path, extra_toml=pixeldojo_toml(pixeldojo), env=pixeldojo_env()
    ) as h:
        job = await h.job_for(await h.imagine("a slow fox"))
        assert job.placeholder_message_id is not None
        click = await fake.click(job.placeholder_message_id, f"wanbot:cancel:{job.id}", user="bob")
        await click.wait_acknowledged()
        reply = click.original_message()
        assert reply is not None and reply.ephemeral and "Only the member" in reply.content
        still = await h.store.get_job(job.id)
        assert still is not None
        assert still.state in (JobPhase.QUEUED, JobPhase.SUBMITTING, JobPhase.RUNNING)


async def test_a_429_storm_from_the_provider_is_survived(
    fake: FakeDiscord, tmp_path: Path, pixeldojo: FakePixelDojo
) -> None:
    pixeldojo.inject("/run", *[Fault("429", retry_after=0.2)] * 3)
    pixeldojo.inject("/jobs/", *[Fault("429", retry_after=0.1)] * 6)
    async with running_bot(
        fake, tmp_path, extra_toml=pixeldojo_toml(pixeldojo), env=pixeldojo_env()
    ) as h:
        job = await h.wait_job((await h.job_for(await h.imagine("a patient fox"))).id)
        assert job.state is JobPhase.DONE, job.error
        assert len(h.placeholder(job).attachments) == 1
        accepted = [r for r in pixeldojo.submissions("/run")]
        assert len(accepted) == 4  # three 429s, then the one submission that counted
        assert await credits_of(h) == 48


async def test_expired_token_still_delivers_to_the_channel(
    make_fake: Callable[..., FakeDiscord], tmp_path: Path
) -> None:
    fake = make_fake(token_lifetime_s=0.5)
    async with running_bot(fake, tmp_path, mock_delay=1.0) as h:
        handle = await h.imagine("a late fox")
        job = await h.wait_job((await h.job_for(handle)).id)
        assert job.state is JobPhase.DONE, job.error
        posted = [m for m in fake.messages() if m.id in job.message_ids]
        assert len(posted) == 1
        message = posted[0]
        assert message.interaction_id is None and len(message.attachments) == 1
        assert message.mentioned_user_ids == [h.user_id("alice")]
        assert not message.mentions_everyone
        assert not h.placeholder(job).attachments


async def test_a_12_mib_result_is_fitted_under_a_10_mib_limit(
    fake: FakeDiscord, tmp_path: Path, pixeldojo: FakePixelDojo
) -> None:
    noise = Image.frombytes("RGB", (2048, 2048), os.urandom(2048 * 2048 * 3))
    buf = io.BytesIO()
    noise.save(buf, format="PNG", compress_level=1)
    big = buf.getvalue()
    assert len(big) > 12 * 1024 * 1024

    def serve_big(name: str, width: int | None = None, height: int | None = None) -> str:
        pixeldojo.files[name] = big
        return f"{pixeldojo.origin}/files/{name}"

    pixeldojo.add_result_file = serve_big  # type: ignore[method-assign]
    async with running_bot(
        fake, tmp_path, extra_toml=pixeldojo_toml(pixeldojo), env=pixeldojo_env()
    ) as h:
        job = await h.wait_job((await h.job_for(await h.imagine("a noisy fox"))).id, within_s=60)
        assert job.state is JobPhase.DONE, job.error
        message = h.placeholder(job)
        [attachment] = message.attachments
        assert attachment.size <= 10 * 1024 * 1024
        assert Image.open(io.BytesIO(attachment.data)).format == "JPEG"
        assert "shown as JPEG" in message.content and "original PNG was" in message.content
        assert fake.violations == []


async def test_one_members_batch_does_not_starve_another(fake: FakeDiscord, tmp_path: Path) -> None:
    limits = "max_concurrent_jobs = 1\nmax_running_per_user = 1\nmax_queued_per_user = 6"
    async with running_bot(fake, tmp_path, generation=limits, mock_delay=0.2) as h:
        alice = [await h.job_for(await h.imagine(f"alice {i}")) for i in range(5)]
        bob = await h.job_for(await h.imagine("bob 0", user="bob"))
        done = [await h.wait_job(j.id, within_s=40) for j in [*alice, bob]]
        order = sorted(done, key=lambda j: j.submitted_at or 0)
        assert all(j.state is JobPhase.DONE for j in done)
        # Bob asked last but waits for at most one of Alice's jobs after the one running.
        assert [j.request.prompt for j in order].index("bob 0") <= 2
        assert await credits_of(h, "alice") == 40 and await credits_of(h, "bob") == 48


async def test_queue_limit_refuses_without_charge(
    fake: FakeDiscord, tmp_path: Path, pixeldojo: FakePixelDojo
) -> None:
    pixeldojo.never_finish = True
    async with running_bot(
        fake,
        tmp_path,
        extra_toml=pixeldojo_toml(pixeldojo),
        generation='max_queued_per_user = 2\nprovider = "pixeldojo"',
        env=pixeldojo_env(),
    ) as h:
        await h.job_for(await h.imagine("one"))
        await h.job_for(await h.imagine("two"))
        third = await h.imagine("three")
        await third.wait_acknowledged()
        reply = third.original_message()
        assert reply is not None and reply.ephemeral
        assert "already have 2 images waiting" in reply.content
        assert await credits_of(h) == 46


async def test_image_set_charges_only_what_was_delivered(fake: FakeDiscord, tmp_path: Path) -> None:
    async with running_bot(fake, tmp_path, mock_delay=0.2) as h:
        # The mock makes one image fewer than asked in image-set mode for odd seeds.
        handle = await h.imagine("a set of foxes", n=6, image_set=True, seed=7, size="1K")
        job = await h.wait_job((await h.job_for(handle)).id)
        assert job.state is JobPhase.DONE, job.error
        assert job.images_delivered == 5
        assert len(h.placeholder(job).attachments) == 5
        assert await credits_of(h) == 50 - 10
        assert "made 5 of the 6" in h.placeholder(job).content


async def test_twelve_images_go_in_two_messages(fake: FakeDiscord, tmp_path: Path) -> None:
    async with running_bot(fake, tmp_path, mock_delay=0.2) as h:
        handle = await h.imagine("twelve foxes", n=12, image_set=True, seed=8, size="1K")
        job = await h.wait_job((await h.job_for(handle)).id, within_s=40)
        assert job.state is JobPhase.DONE, job.error
        first, second = (fake.message(i) for i in job.message_ids)
        assert first is not None and second is not None
        assert len(first.attachments) == 10 and len(second.attachments) == 2
        assert "images 1-10 of 12" in first.content and "images 11-12 of 12" in second.content
        assert await credits_of(h) == 50 - 24
        deleted = await fake.click(first.id, f"wanbot:delete:{job.id}")
        await deleted.wait_acknowledged()
        await h.wait_for(lambda: all(fake.message(i).deleted for i in job.message_ids))
        assert fake.violations == []


async def test_unsupported_option_refused_before_any_call(
    fake: FakeDiscord, tmp_path: Path, pixeldojo: FakePixelDojo
) -> None:
    async with running_bot(
        fake, tmp_path, extra_toml=pixeldojo_toml(pixeldojo), env=pixeldojo_env()
    ) as h:
        handle = await h.imagine("a fox", negative_prompt="blur", provider="pixeldojo")
        await handle.wait_acknowledged()
        reply = handle.original_message()
        assert reply is not None and reply.ephemeral
        assert "PixelDojo can't use a negative prompt" in reply.content
        assert "Nothing was charged" in reply.content
        assert pixeldojo.requests == []
        assert await credits_of(h) == 50 or (await h.store.jobs_in(list(JobPhase))) == []


async def test_reroll_makes_a_new_job_with_a_new_seed(fake: FakeDiscord, tmp_path: Path) -> None:
    async with running_bot(fake, tmp_path, mock_delay=0.2) as h:
        job = await h.wait_job((await h.job_for(await h.imagine("a fox", seed=5))).id)
        click = await fake.click(job.message_ids[0], f"wanbot:reroll:{job.id}", user="bob")
        again = await h.wait_job((await h.job_for(click)).id)
        assert again.state is JobPhase.DONE and again.parent_job_id == job.id
        assert again.request.prompt == "a fox" and again.request.seed != 5
        assert again.user_id == h.user_id("bob")
        assert await credits_of(h, "bob") == 48


async def test_delete_only_by_owner_or_moderator(fake: FakeDiscord, tmp_path: Path) -> None:
    async with running_bot(fake, tmp_path, mock_delay=0.2) as h:
        job = await h.wait_job((await h.job_for(await h.imagine("a fox"))).id)
        refused = await fake.click(job.message_ids[0], f"wanbot:delete:{job.id}", user="bob")
        await refused.wait_acknowledged()
        assert not fake.message(job.message_ids[0]).deleted
        ok = await fake.click(job.message_ids[0], f"wanbot:delete:{job.id}", user="alice")
        await ok.wait_acknowledged()
        await h.wait_for(lambda: fake.message(job.message_ids[0]).deleted)
