"""One job's run without Discord: fallback and its price, the safety switch per host, the deadline,
host failures and Retry-After abuse, partial delivery. Real SQLite file, real mock host, real
PixelDojo client against its fake host where a host's headers matter."""

from __future__ import annotations

import json
import time
from pathlib import Path

import aiohttp
import pytest

from tests.fakes.pixeldojo_server import FakePixelDojo
from tests.fakes.provider_server import Fault
from tests.jobs.kit import ScriptedHost, SwitchedHost, open_kit
from wanbot.config import PixelDojoConfig
from wanbot.jobs.ports import FailureReason
from wanbot.providers.errors import ContentRejected, Unavailable
from wanbot.providers.http import RetryPolicy
from wanbot.providers.models import JobState, ResultImage
from wanbot.providers.pixeldojo import PixelDojoProvider
from wanbot.store.base import Job, JobPhase

REFUNDED_2 = {"hold": (-2, 2), "release": (2, -2)}


def mock_request(tmp_path: Path, job: Job) -> dict[str, object]:
    """What the mock host was sent for `job` (it keeps each job as a JSON file)."""
    record = tmp_path / "data" / "mock" / f"{job.provider_job_id}.json"
    request: dict[str, object] = json.loads(record.read_text())["request"]
    return request


async def test_a_fallback_host_charges_its_own_price(tmp_path: Path) -> None:
    """Admitted at the first host's price (3 an image, held for 2); made by the mock at 1 an
    image: the hold stays 6, the capture is 2, the other 4 come back."""
    primary = ScriptedHost()
    primary.submit_error = Unavailable(provider="scripted")
    async with open_kit(
        tmp_path,
        hosts=(primary,),
        default="scripted",
        fallback=("mock",),
        prices={"scripted": 3, "mock": 1},
    ) as kit:
        admitted = await kit.admit(n=2)
        assert admitted.job.image_cost == 3 and admitted.balance == 44
        await kit.service.enqueue(admitted.job, 1)
        job = await kit.wait_job(admitted.job.id)
        assert job.state is JobPhase.DONE, job.error
        assert (job.provider, job.image_cost, job.hold_amount) == ("mock", 1, 6)
        assert await kit.ledger(job.id) == {
            "hold": (-6, 6),
            "capture": (0, -2),
            "release": (4, -4),
        }
        (delivery,) = kit.notifier.deliveries[job.id]
        assert (delivery.charged, delivery.balance_after) == (2, 48)
        assert await kit.balance() == 48


async def test_a_dearer_fallback_is_charged_no_more_than_the_hold(tmp_path: Path) -> None:
    primary = ScriptedHost()
    primary.submit_error = Unavailable(provider="scripted")
    async with open_kit(
        tmp_path,
        hosts=(primary,),
        default="scripted",
        fallback=("mock",),
        prices={"scripted": 1, "mock": 5},
    ) as kit:
        job_id = await kit.start(n=2)
        job = await kit.wait_job(job_id)
        assert job.state is JobPhase.DONE and job.image_cost == 5
        assert await kit.ledger(job_id) == {"hold": (-2, 2), "capture": (0, -2), "release": (0, 0)}


async def test_the_safety_switch_follows_the_host_that_runs_the_job(tmp_path: Path) -> None:
    """Filtered (an ordinary channel): admitted for a host without the switch, run at the mock,
    which has one: on there. Admitted for a host with the switch, run at one without: left off,
    where it used to make the fallback refuse the job."""
    without = ScriptedHost()
    without.submit_error = Unavailable(provider="scripted")
    async with open_kit(tmp_path, hosts=(without,), default="scripted", fallback=("mock",)) as kit:
        admitted = await kit.admit()
        assert admitted.job.request.filtered and admitted.job.request.safety_checker is None
        await kit.service.enqueue(admitted.job, 1)
        job = await kit.wait_job(admitted.job.id)
        assert job.state is JobPhase.DONE and job.provider == "mock"
        assert mock_request(tmp_path, job)["safety_checker"] is True

    switched, plain = SwitchedHost(), ScriptedHost()
    switched.submit_error = Unavailable(provider="switched")
    plain.state = JobState.FAILED  # it runs the job; the test is done once it took it
    (tmp_path / "second").mkdir()
    async with open_kit(
        tmp_path / "second", hosts=(switched, plain), default="switched", fallback=("scripted",)
    ) as kit:
        admitted = await kit.admit()
        assert admitted.job.request.safety_checker is True
        await kit.service.enqueue(admitted.job, 1)
        await kit.wait_job(admitted.job.id)
        (sent,) = plain.submitted
        assert sent.safety_checker is None and sent.filtered


async def test_an_unfiltered_job_runs_without_the_safety_checker(tmp_path: Path) -> None:
    async with open_kit(tmp_path) as kit:
        await kit.store.set_nsfw_policy(1, "allow")
        admitted = await kit.admit("a figure study", nsfw=True)
        assert not admitted.job.request.filtered
        await kit.service.enqueue(admitted.job, 1)
        job = await kit.wait_job(admitted.job.id)
        assert mock_request(tmp_path, job)["safety_checker"] is None


async def test_a_request_no_host_can_run_falls_back_no_further(tmp_path: Path) -> None:
    """A host that says no to the request itself (not "unavailable") is not a reason to try the
    next one: the job fails at once with every credit back."""
    primary = ScriptedHost()
    primary.submit_error = ContentRejected(provider="scripted")
    async with open_kit(tmp_path, hosts=(primary,), default="scripted", fallback=("mock",)) as kit:
        job_id = await kit.start()
        job = await kit.wait_job(job_id)
        assert job.state is JobPhase.FAILED and job.provider_job_id is None
        (outcome,) = kit.notifier.failures[job_id]
        assert outcome.reason is FailureReason.HOST_FAILED
        assert outcome.host_problem == "content_rejected" and outcome.provider_label == "Scripted"
        assert await kit.ledger(job_id) == REFUNDED_2


async def test_every_host_unavailable_fails_and_refunds(tmp_path: Path) -> None:
    primary = ScriptedHost()
    primary.submit_error = Unavailable(provider="scripted")
    async with open_kit(tmp_path, hosts=(primary,), default="scripted") as kit:
        job_id = await kit.start()
        job = await kit.wait_job(job_id)
        assert job.state is JobPhase.FAILED
        (outcome,) = kit.notifier.failures[job_id]
        assert outcome.host_problem == "unavailable"
        assert await kit.ledger(job_id) == REFUNDED_2


@pytest.mark.parametrize(
    ("state", "reason"),
    [
        (JobState.FAILED, FailureReason.HOST_FAILED),
        (JobState.CANCELLED, FailureReason.HOST_CANCELLED),
    ],
)
async def test_a_host_ending_the_job_refunds_it(
    tmp_path: Path, state: JobState, reason: FailureReason
) -> None:
    host = ScriptedHost()
    async with open_kit(tmp_path, hosts=(host,)) as kit:
        job_id = await kit.start(provider="scripted")
        await kit.wait_job(job_id, JobPhase.RUNNING)
        host.state = state
        job = await kit.wait_job(job_id)
        assert job.state is JobPhase.FAILED
        assert [o.reason for o in kit.notifier.failures[job_id]] == [reason]
        assert await kit.ledger(job_id) == REFUNDED_2


async def test_past_the_deadline_the_host_is_told_to_stop_and_the_job_refunded(
    tmp_path: Path,
) -> None:
    host = ScriptedHost()  # never finishes
    async with open_kit(tmp_path, hosts=(host,), job_timeout_s=0.5) as kit:
        started = time.monotonic()
        job_id = await kit.start(provider="scripted")
        job = await kit.wait_job(job_id)
        assert time.monotonic() - started < 3
        assert job.state is JobPhase.FAILED and host.cancels == [job.provider_job_id]
        assert [o.reason for o in kit.notifier.failures[job_id]] == [FailureReason.DEADLINE]
        assert await kit.ledger(job_id) == REFUNDED_2


async def test_results_the_bot_may_not_fetch_fail_and_refund(tmp_path: Path) -> None:
    """A host's result may name any URL: a file on this machine from a host that is not the mock
    is refused (and nothing is charged for it)."""
    host = ScriptedHost()
    async with open_kit(tmp_path, hosts=(host,)) as kit:
        job_id = await kit.start(provider="scripted")
        await kit.wait_job(job_id, JobPhase.RUNNING)
        secret = tmp_path / "secret.png"
        secret.write_bytes(b"\x89PNG not yours")
        host.images = (ResultImage(url=secret.as_uri()),)
        host.state = JobState.SUCCEEDED
        job = await kit.wait_job(job_id)
        assert job.state is JobPhase.FAILED
        assert [o.reason for o in kit.notifier.failures[job_id]] == [FailureReason.DOWNLOAD_FAILED]
        assert await kit.ledger(job_id) == REFUNDED_2
        assert job_id not in kit.notifier.deliveries


async def test_an_image_set_is_charged_for_the_images_made(tmp_path: Path) -> None:
    async with open_kit(tmp_path) as kit:
        # The mock makes one image fewer than asked for image sets with an odd seed.
        job_id = await kit.start(n=5, image_set=True, seed=3)
        job = await kit.wait_job(job_id)
        assert job.state is JobPhase.DONE and job.images_delivered == 4
        assert await kit.ledger(job_id) == {
            "hold": (-10, 10),
            "capture": (0, -8),
            "release": (2, -2),
        }


async def test_retry_after_inf_on_every_poll_ends_the_job_at_its_deadline(tmp_path: Path) -> None:
    """PixelDojo answers every status poll 429 with `Retry-After: inf`: the real client caps each
    wait, the job's run caps them all at the job's deadline, and the job ends there, refunded."""
    async with FakePixelDojo(job_duration_s=0.05) as fake:
        fake.inject("/jobs/", *[Fault("429", retry_after="inf")] * 200)
        async with aiohttp.ClientSession() as session:
            pixeldojo = PixelDojoProvider(
                PixelDojoConfig(base_url=fake.base_url),
                api_key=fake.api_key,
                session=session,
                retry=RetryPolicy(attempts=2),
            )
            async with open_kit(
                tmp_path, hosts=(pixeldojo,), default="pixeldojo", job_timeout_s=2.0
            ) as kit:
                started = time.monotonic()
                job_id = await kit.start()
                job = await kit.wait_job(job_id, within_s=10)
                took = time.monotonic() - started
                assert 1.5 < took < 4.5, took
                assert job.state is JobPhase.FAILED
                reasons = [o.reason for o in kit.notifier.failures[job_id]]
                assert reasons == [FailureReason.DEADLINE]
                assert await kit.ledger(job_id) == REFUNDED_2
        assert len(fake.submissions("/run")) == 1
        assert any("/jobs/" in r.path for r in fake.requests)
