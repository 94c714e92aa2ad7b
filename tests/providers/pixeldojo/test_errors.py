"""Contract tests: the PixelDojo client against the strict fake PixelDojo server, when things
go wrong: error answers, unreadable answers, retries."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import pytest

from tests.fakes.pixeldojo_server import FakePixelDojo
from tests.fakes.provider_server import Fault
from tests.providers.pixeldojo.kit import (
    StartFake,
    gets,
    make_provider,
    run_bodies,
    wait_done,
)
from wanbot.providers.errors import (
    AuthError,
    BadRequest,
    ContentRejected,
    GenerationFailed,
    OutOfCredits,
    ProviderError,
    RateLimited,
    Unavailable,
)
from wanbot.providers.models import (
    MAX_SEED,
    GenerationRequest,
    JobState,
)
from wanbot.providers.pixeldojo import PixelDojoProvider, mentions_content_block

# -- errors -------------------------------------------------------------------------------------


async def _trigger_400(fake: FakePixelDojo, session: aiohttp.ClientSession) -> None:
    # The capability table has no seed range (the request model does), so an unvalidated copy is
    # the one way to make the client send a body the strict fake refuses.
    request = GenerationRequest(prompt="x").model_copy(update={"seed": MAX_SEED + 1})
    await make_provider(fake, session).submit(request)


async def _trigger_401(fake: FakePixelDojo, session: aiohttp.ClientSession) -> None:
    await make_provider(fake, session, api_key="wrong-key").submit(GenerationRequest(prompt="x"))


async def _trigger_402(fake: FakePixelDojo, session: aiohttp.ClientSession) -> None:
    fake.credits = 3
    await make_provider(fake, session).submit(GenerationRequest(prompt="x", n=2))


async def _trigger_404(fake: FakePixelDojo, session: aiohttp.ClientSession) -> None:
    await make_provider(fake, session, model="wan-9-image").submit(GenerationRequest(prompt="x"))


async def _trigger_429(fake: FakePixelDojo, session: aiohttp.ClientSession) -> None:
    fake.inject("/run", *[Fault("429", retry_after=0.01)] * 3)
    await make_provider(fake, session).submit(GenerationRequest(prompt="x"))


async def _trigger_500(fake: FakePixelDojo, session: aiohttp.ClientSession) -> None:
    fake.inject("/run", Fault("5xx", status=500))
    await make_provider(fake, session).submit(GenerationRequest(prompt="x"))


ERROR_CASES = [
    (_trigger_400, BadRequest, 400, "invalid_request", 1),
    (_trigger_401, AuthError, 401, "unauthorized", 1),
    (_trigger_402, OutOfCredits, 402, "insufficient_credits", 1),
    (_trigger_404, Unavailable, 404, "model_not_found", 1),
    (_trigger_429, RateLimited, 429, "rate_limited", 3),
    (_trigger_500, Unavailable, 500, "internal_error", 1),
]


@pytest.mark.parametrize("shape", ["nested", "flat", "error_only", "message"])
@pytest.mark.parametrize(
    ("trigger", "error_type", "status", "code", "posts"),
    ERROR_CASES,
    ids=[str(case[2]) for case in ERROR_CASES],
)
async def test_errors_map_to_their_type_in_every_body_shape(
    start_fake: StartFake,
    session: aiohttp.ClientSession,
    shape: str,
    trigger: Callable[[FakePixelDojo, aiohttp.ClientSession], Awaitable[None]],
    error_type: type[ProviderError],
    status: int,
    code: str,
    posts: int,
) -> None:
    fake = await start_fake(error_shape=shape)

    with pytest.raises(ProviderError) as caught:
        await trigger(fake, session)

    assert type(caught.value) is error_type
    assert caught.value.status == status
    assert caught.value.code == (code if shape in ("nested", "flat") else None)
    assert caught.value.provider == "pixeldojo"
    assert len(run_bodies(fake)) == posts
    assert fake.jobs == {}


async def test_bad_request_carries_the_hosts_reason(
    fake: FakePixelDojo, session: aiohttp.ClientSession
) -> None:
    with pytest.raises(BadRequest) as caught:
        await _trigger_400(fake, session)

    assert "seed" in caught.value.user_message


async def test_rate_limit_after_retries_keeps_retry_after(
    fake: FakePixelDojo, session: aiohttp.ClientSession
) -> None:
    with pytest.raises(RateLimited) as caught:
        await _trigger_429(fake, session)

    assert caught.value.retry_after == pytest.approx(0.01)


async def test_a_moderation_refusal_at_submit_is_content_rejected(
    fake: FakePixelDojo, provider: PixelDojoProvider
) -> None:
    fake.reply_next(
        "/run",
        400,
        {"error": {"code": "invalid_request", "message": "Prompt flagged by content moderation"}},
    )

    with pytest.raises(ContentRejected):
        await provider.submit(GenerationRequest(prompt="x"))


async def test_an_unknown_job_is_a_generation_failure(provider: PixelDojoProvider) -> None:
    with pytest.raises(GenerationFailed) as caught:
        await provider.get_status("job_does_not_exist")

    assert caught.value.status == 404


@pytest.mark.parametrize("as_object", [False, True])
@pytest.mark.parametrize(
    ("failure", "error_type"),
    [("generation_failed", GenerationFailed), ("content_moderation", ContentRejected)],
)
async def test_failed_jobs_report_their_kind(
    fake: FakePixelDojo,
    provider: PixelDojoProvider,
    failure: str,
    error_type: type[ProviderError],
    as_object: bool,
) -> None:
    fake.fail_jobs = failure
    fake.job_error_as_object = as_object

    done = await wait_done(provider, (await provider.submit(GenerationRequest(prompt="x"))).job_id)

    assert done.state is JobState.FAILED
    assert type(done.error) is error_type
    assert done.images == ()
    if as_object:
        assert done.error.code == failure


@pytest.mark.parametrize(
    ("text", "blocked"),
    [
        ("Output flagged as NSFW", True),
        ("Blocked by the safety checker", True),
        ("Content policy violation", True),
        ("The request was moderated", True),
        ("flagged content", True),
        ("Could not fetch content from URL", False),
        ("Unsupported content-type", False),
        ("Worker crashed", False),
    ],
)
def test_moderation_words(text: str, blocked: bool) -> None:
    assert mentions_content_block(text) is blocked


# -- unreadable and unusual answers -------------------------------------------------------------


async def test_malformed_json_on_submit_is_unavailable(
    fake: FakePixelDojo, provider: PixelDojoProvider
) -> None:
    fake.inject("/run", Fault("malformed"))

    with pytest.raises(Unavailable, match="could not read"):
        await provider.submit(GenerationRequest(prompt="x"))

    assert len(run_bodies(fake)) == 1


async def test_malformed_json_on_poll_is_unavailable(
    fake: FakePixelDojo, provider: PixelDojoProvider
) -> None:
    submitted = await provider.submit(GenerationRequest(prompt="x"))
    fake.inject("/jobs/", Fault("malformed"))

    with pytest.raises(Unavailable, match="could not read"):
        await provider.get_status(submitted.job_id)


@pytest.mark.parametrize(
    ("route", "body"),
    [
        ("/run", {"status": "pending", "creditCost": 2}),
        ("/run", {"jobId": "", "status": "pending"}),
        ("/run", ["job_1"]),
        ("/jobs/", {"jobId": "job_1", "output": {"images": ["https://x/1.png"]}}),
        ("/jobs/", {"jobId": "job_1", "status": "completed", "output": {"images": [7]}}),
        ("/jobs/", "completed"),
    ],
)
async def test_json_of_the_wrong_shape_is_unavailable(
    fake: FakePixelDojo, provider: PixelDojoProvider, route: str, body: Any
) -> None:
    fake.reply_next(route, 200, body)

    with pytest.raises(Unavailable):
        if route == "/run":
            await provider.submit(GenerationRequest(prompt="x"))
        else:
            await provider.get_status("job_1")


@pytest.mark.parametrize(
    ("answer", "state", "urls"),
    [
        ({"status": "completed", "output": {"image": "https://t/a.png"}}, "succeeded", 1),
        (
            {"status": "completed", "output": {"images": [{"url": "https://t/a.png"}]}},
            "succeeded",
            1,
        ),
        (
            {"status": "Completed", "output": {"images": ["https://t/a.png"]}, "x": 1},
            "succeeded",
            1,
        ),
        ({"status": "completed", "output": {"images": []}}, "failed", 0),
        ({"status": "pending"}, "queued", 0),
        ({"status": "processing", "progress": 40}, "running", 0),
        ({"status": "starting"}, "running", 0),
        ({"status": "canceled"}, "cancelled", 0),
    ],
)
async def test_job_answers_are_read_tolerantly(
    fake: FakePixelDojo, provider: PixelDojoProvider, answer: dict[str, Any], state: str, urls: int
) -> None:
    fake.reply_next("/jobs/", 200, {"jobId": "job_9", "creditCost": 2, **answer})

    status = await provider.get_status("job_9")

    assert status.state == JobState(state)
    assert len(status.images) == urls
    assert status.raw_status == answer["status"]
    if state == "failed":
        assert isinstance(status.error, GenerationFailed)


async def test_a_job_that_never_finishes_keeps_reporting_running(
    fake: FakePixelDojo, provider: PixelDojoProvider
) -> None:
    fake.never_finish = True
    submitted = await provider.submit(GenerationRequest(prompt="x"))

    for _ in range(4):
        await asyncio.sleep(fake.job_duration_s)
        status = await provider.get_status(submitted.job_id)
        assert status.state is JobState.RUNNING
        assert status.images == ()


async def test_expired_result_urls_answer_404(
    fake: FakePixelDojo, provider: PixelDojoProvider, session: aiohttp.ClientSession
) -> None:
    done = await wait_done(provider, (await provider.submit(GenerationRequest(prompt="x"))).job_id)
    fake.expire_results = True

    async with session.get(done.images[0].url) as resp:
        assert resp.status == 404


# -- retries ------------------------------------------------------------------------------------


async def test_429_on_submit_is_retried_after_retry_after(
    fake: FakePixelDojo, provider: PixelDojoProvider
) -> None:
    # 0.04 s is above the policy's backoff ceiling (0.02 s), so the wait proves Retry-After won.
    fake.inject("/run", Fault("429", retry_after=0.04))
    started = time.monotonic()

    submitted = await provider.submit(GenerationRequest(prompt="x"))

    assert time.monotonic() - started >= 0.04
    assert len(run_bodies(fake)) == 2
    assert list(fake.jobs) == [submitted.job_id]


async def test_5xx_on_poll_is_retried(fake: FakePixelDojo, provider: PixelDojoProvider) -> None:
    submitted = await provider.submit(GenerationRequest(prompt="x"))
    fake.inject("/jobs/", Fault("5xx", status=502), Fault("5xx", status=500))

    status = await provider.get_status(submitted.job_id)

    assert status.job_id == submitted.job_id
    assert gets(fake, "/jobs/") == 3


async def test_5xx_on_poll_gives_up_after_the_policys_attempts(
    fake: FakePixelDojo, provider: PixelDojoProvider
) -> None:
    submitted = await provider.submit(GenerationRequest(prompt="x"))
    fake.inject("/jobs/", *[Fault("5xx", status=503)] * 3)

    with pytest.raises(Unavailable):
        await provider.get_status(submitted.job_id)

    assert gets(fake, "/jobs/") == 3


async def test_500_on_submit_is_not_retried(
    fake: FakePixelDojo, provider: PixelDojoProvider
) -> None:
    fake.inject("/run", Fault("5xx", status=500))

    with pytest.raises(Unavailable):
        await provider.submit(GenerationRequest(prompt="x"))

    assert len(run_bodies(fake)) == 1


async def test_503_on_submit_is_retried(fake: FakePixelDojo, provider: PixelDojoProvider) -> None:
    fake.inject("/run", Fault("5xx", status=503))

    await provider.submit(GenerationRequest(prompt="x"))

    assert len(run_bodies(fake)) == 2
    assert len(fake.jobs) == 1


async def test_an_unreachable_host_is_unavailable(
    fake: FakePixelDojo, session: aiohttp.ClientSession
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    provider = make_provider(fake, session, base_url=f"http://127.0.0.1:{port}/api/v1")

    with pytest.raises(Unavailable, match="could not reach"):
        await provider.submit(GenerationRequest(prompt="x"))
    with pytest.raises(Unavailable, match="could not reach"):
        await provider.get_status("job_1")


async def test_a_dropped_poll_is_retried(fake: FakePixelDojo, provider: PixelDojoProvider) -> None:
    submitted = await provider.submit(GenerationRequest(prompt="x"))
    fake.inject("/jobs/", Fault("drop"))

    status = await provider.get_status(submitted.job_id)

    assert status.job_id == submitted.job_id
    assert gets(fake, "/jobs/") == 2


async def test_a_dropped_submission_is_not_sent_twice(
    fake: FakePixelDojo, provider: PixelDojoProvider
) -> None:
    fake.inject("/run", Fault("drop"))

    with pytest.raises(Unavailable):
        await provider.submit(GenerationRequest(prompt="x"))

    assert len(run_bodies(fake)) == 1
