"""Contract tests: the DashScope client against the strict fake when things go wrong: error
codes, cancel, retries, malformed answers."""

from __future__ import annotations

import asyncio

import pytest

from tests.fakes.provider_server import Fault
from tests.providers.dashscope.kit import (
    RETRY,
    SUBMIT,
    finish,
    make_provider,
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
    GenerationRequest,
    JobState,
)


# -- errors -----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("status", "code", "error_type"),
    [
        (400, "InvalidParameter", BadRequest),
        (400, "InvalidURL", BadRequest),
        (400, "InvalidParameter.DataInspection", ContentRejected),
        (400, "DataInspectionFailed", ContentRejected),
        (400, "IPInfringementSuspect", ContentRejected),
        (400, "Arrearage", OutOfCredits),
        (401, "InvalidApiKey", AuthError),
        (403, "AccessDenied", AuthError),
        (400, "AccessDenied.Unpurchased", AuthError),
        (429, "Throttling", RateLimited),
        (429, "Throttling.RateQuota", RateLimited),
        (500, "InternalError", Unavailable),
        (400, "SomethingNew", BadRequest),
        (503, "ServiceUnavailable", Unavailable),
    ],
)
async def test_submit_error_codes_map_to_types(fake, provider, status, code, error_type):
    fake.reject(SUBMIT, status, code, "the host says no", times=RETRY.attempts)
    with pytest.raises(ProviderError) as caught:
        await provider.submit(GenerationRequest(prompt="p"))
    error = caught.value
    assert type(error) is error_type
    assert (error.code, error.status, error.provider) == (code, status, "dashscope")


@pytest.mark.parametrize(
    ("status", "body", "error_type"),
    [
        (400, {"request_id": "r", "message": "bad"}, BadRequest),
        (401, {"message": "who"}, AuthError),
        (403, "Forbidden", AuthError),
        (429, "", RateLimited),
        (502, "<html>Bad Gateway</html>", Unavailable),
        (404, {"message": "no such path"}, Unavailable),
    ],
)
async def test_errors_without_a_code_fall_back_on_status(fake, provider, status, body, error_type):
    fake.respond(SUBMIT, status, body, times=RETRY.attempts)
    with pytest.raises(ProviderError) as caught:
        await provider.submit(GenerationRequest(prompt="p"))
    assert type(caught.value) is error_type
    assert caught.value.status == status


async def test_status_errors_are_raised_typed(fake, provider):
    fake.reject("/tasks/", 403, "AccessDenied", "not yours")
    with pytest.raises(AuthError):
        await provider.get_status("some-task")


@pytest.mark.parametrize(
    ("code", "error_type"),
    [
        ("DataInspectionFailed", ContentRejected),
        ("IPInfringementSuspect", ContentRejected),
        ("InvalidParameter", BadRequest),
        ("Arrearage", OutOfCredits),
        ("InternalError.Timeout", Unavailable),
        ("ModelOverloaded", GenerationFailed),
    ],
)
async def test_failed_task_codes_map_to_types(fake, provider, code, error_type):
    fake.fail_jobs = code
    done = await finish(provider, (await provider.submit(GenerationRequest(prompt="p"))).job_id)
    assert done.state is JobState.FAILED
    assert done.raw_status == "FAILED"
    assert type(done.error) is error_type
    assert done.error is not None
    assert done.error.code == code


async def test_unknown_task_is_failed(provider):
    status = await provider.get_status("no-such-task")
    assert status.state is JobState.FAILED
    assert status.raw_status == "UNKNOWN"
    assert isinstance(status.error, GenerationFailed)
    assert status.error.user_message == "the task expired or is unknown"


async def test_wrong_key_is_an_auth_error(fake, session):
    provider = make_provider(fake, session, api_key="sk-wrong-key-5555")
    with pytest.raises(AuthError) as caught:
        await provider.submit(GenerationRequest(prompt="p"))
    assert caught.value.code == "InvalidApiKey"
    with pytest.raises(AuthError):
        await provider.get_status("x")


# -- cancel -----------------------------------------------------------------------------------
async def test_cancel_pending_task(fake, provider):
    fake.job_duration_s = 10
    job_id = (await provider.submit(GenerationRequest(prompt="p"))).job_id
    assert await provider.cancel(job_id) is True
    status = await provider.get_status(job_id)
    assert status.state is JobState.CANCELLED
    assert status.raw_status == "CANCELED"
    assert fake.requests[-2].path == f"/api/v1/tasks/{job_id}/cancel"


async def test_cancel_running_task_is_refused(fake, provider):
    fake.job_duration_s = 0
    fake.never_finish = True
    job_id = (await provider.submit(GenerationRequest(prompt="p"))).job_id
    assert (await provider.get_status(job_id)).state is JobState.RUNNING
    assert await provider.cancel(job_id) is False
    assert (await provider.get_status(job_id)).state is JobState.RUNNING


# -- retries ----------------------------------------------------------------------------------
async def test_429_retry_after_is_honoured(fake, provider):
    fake.inject(SUBMIT, Fault("429", retry_after=0.04))
    loop = asyncio.get_running_loop()
    started = loop.time()
    status = await provider.submit(GenerationRequest(prompt="p"))
    assert loop.time() - started >= 0.035
    assert status.state is JobState.QUEUED
    assert len(fake.submissions(SUBMIT)) == 2


async def test_long_retry_after_is_capped(fake, provider):
    fake.inject(SUBMIT, Fault("429", retry_after=30))
    loop = asyncio.get_running_loop()
    started = loop.time()
    await provider.submit(GenerationRequest(prompt="p"))
    assert loop.time() - started < 1


async def test_429_until_attempts_run_out_is_rate_limited(fake, provider):
    fake.inject(SUBMIT, *[Fault("429", retry_after=0.01)] * RETRY.attempts)
    with pytest.raises(RateLimited) as caught:
        await provider.submit(GenerationRequest(prompt="p"))
    assert caught.value.retry_after == pytest.approx(0.01)
    assert caught.value.code == "Throttling.RateQuota"
    assert len(fake.submissions(SUBMIT)) == RETRY.attempts


async def test_5xx_on_status_is_retried(fake, provider):
    job_id = (await provider.submit(GenerationRequest(prompt="p"))).job_id
    fake.inject("/tasks/", Fault("5xx", status=502), Fault("5xx", status=500))
    status = await provider.get_status(job_id)
    assert status.state in (JobState.QUEUED, JobState.RUNNING, JobState.SUCCEEDED)
    assert len([r for r in fake.requests if r.method == "GET"]) == 3


async def test_500_on_submit_is_not_retried(fake, provider):
    fake.inject(SUBMIT, Fault("5xx", status=500))
    with pytest.raises(Unavailable):
        await provider.submit(GenerationRequest(prompt="p"))
    assert len(fake.submissions(SUBMIT)) == 1


async def test_503_on_submit_is_retried(fake, provider):
    fake.inject(SUBMIT, Fault("5xx", status=503))
    await provider.submit(GenerationRequest(prompt="p"))
    assert len(fake.submissions(SUBMIT)) == 2
    assert len(fake.tasks) == 1


# -- malformed answers ------------------------------------------------------------------------
async def test_malformed_json_is_unavailable(fake, provider):
    fake.inject(SUBMIT, Fault("malformed"))
    with pytest.raises(Unavailable):
        await provider.submit(GenerationRequest(prompt="p"))
    fake.inject("/tasks/", Fault("malformed"))
    with pytest.raises(Unavailable):
        await provider.get_status("x")


@pytest.mark.parametrize(
    ("route", "body"),
    [
        (SUBMIT, {"request_id": "r"}),
        (SUBMIT, {"output": {"task_status": "PENDING"}}),
        (SUBMIT, []),
        ("/tasks/", {"request_id": "r", "output": {"task_status": 5}}),
        ("/tasks/", {"output": {"task_status": "SUCCEEDED", "choices": "nope"}}),
    ],
)
async def test_wrong_shape_is_unavailable(fake, provider, route, body):
    fake.respond(route, 200, body)
    with pytest.raises(Unavailable, match="could not read"):
        if route == SUBMIT:
            await provider.submit(GenerationRequest(prompt="p"))
        else:
            await provider.get_status("x")


async def test_images_from_several_choices_and_extra_fields(fake, provider):
    fake.split_choices = True
    done = await finish(
        provider, (await provider.submit(GenerationRequest(prompt="p", n=3))).job_id
    )
    assert len(done.images) == 3
    assert len({i.url for i in done.images}) == 3
    fake.respond(
        "/tasks/",
        200,
        {
            "request_id": "r",
            "new_top_level": {"x": 1},
            "output": {
                "task_id": "t",
                "task_status": "SUCCEEDED",
                "choices": [
                    {"message": {"content": [{"image": "https://a/1.png", "type": "image"}]}},
                    {"message": {"content": [{"text": "caption"}, {"image": "https://a/2.png"}]}},
                ],
            },
            "usage": {"image_count": 2, "input_tokens": 10},
        },
    )
    status = await provider.get_status("t")
    assert [i.url for i in status.images] == ["https://a/1.png", "https://a/2.png"]
    assert status.cost == 2.0


async def test_succeeded_without_images_is_failed(fake, provider):
    fake.respond("/tasks/", 200, {"output": {"task_id": "t", "task_status": "SUCCEEDED"}})
    status = await provider.get_status("t")
    assert status.state is JobState.FAILED
    assert isinstance(status.error, GenerationFailed)


async def test_never_finishing_task_keeps_running(fake, provider):
    fake.never_finish = True
    fake.job_duration_s = 0.02
    job_id = (await provider.submit(GenerationRequest(prompt="p"))).job_id
    await asyncio.sleep(0.1)
    for _ in range(2):
        status = await provider.get_status(job_id)
        assert status.state is JobState.RUNNING
        assert status.raw_status == "RUNNING"
