"""Contract tests: the skills.video client against the strict fake when things go wrong (error
answers, retries, malformed answers), its capability check, and never its key."""

from __future__ import annotations

import logging
import time
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from tests.fakes.provider_server import Fault
from tests.fakes.skillsvideo_server import FakeSkillsVideo
from tests.providers.skillsvideo.kit import (
    RETRY,
    STREAM,
    SUBMIT,
    Serve,
    poll,
    provider_for,
    watch,
)
from wanbot.providers.errors import (
    AuthError,
    BadRequest,
    ContentRejected,
    GenerationFailed,
    OutOfCredits,
    ProviderError,
    RateLimited,
    TimedOut,
    Unavailable,
    UnsupportedRequest,
)
from wanbot.providers.models import (
    GenerationRequest,
    JobState,
    PaletteColor,
)
from wanbot.providers.skillsvideo import SkillsVideoProvider

# -- errors --------------------------------------------------------------------------------
ERROR_CASES: list[tuple[int, str, type[ProviderError], type[ProviderError]]] = [
    # status, code, type by code, type when the body has no code (bare {message})
    (400, "INVALID_INPUT", BadRequest, BadRequest),
    (400, "UNSUPPORTED_MODEL", BadRequest, BadRequest),
    (401, "UNAUTHORIZED", AuthError, AuthError),
    (403, "FORBIDDEN", AuthError, AuthError),
    (402, "INSUFFICIENT_CREDITS", OutOfCredits, OutOfCredits),
    (422, "CONTENT_REJECTED", ContentRejected, BadRequest),
    (422, "NSFW_DETECTED", ContentRejected, BadRequest),
    (429, "IMAGE_GENERATION_RATE_LIMITED", RateLimited, RateLimited),
    (429, "RATE_LIMITED", RateLimited, RateLimited),
    (500, "INTERNAL_ERROR", Unavailable, Unavailable),
    (503, "PROVIDER_UNAVAILABLE", Unavailable, Unavailable),
    (502, "FAILED", GenerationFailed, GenerationFailed),
    (504, "TIMEOUT", TimedOut, TimedOut),
    (400, "CONTENT_REJECTED", ContentRejected, BadRequest),  # the code wins over the status
    (500, "IMAGE_GENERATION_TIMEOUT", TimedOut, Unavailable),
]


@pytest.mark.parametrize("shape", ["coded", "legacy", "message"])
@pytest.mark.parametrize(("status", "code", "by_code", "by_status"), ERROR_CASES)
async def test_error_mapping(
    serve: Serve,
    session: aiohttp.ClientSession,
    shape: str,
    status: int,
    code: str,
    by_code: type[ProviderError],
    by_status: type[ProviderError],
) -> None:
    fake = await serve(error_shape=shape)
    for _ in range(RETRY.attempts):  # 429 and 503 are retried on submit
        fake.script_error(SUBMIT, status, code, "the host explains")
    with pytest.raises(ProviderError) as caught:
        await provider_for(fake, session).submit(GenerationRequest(prompt="p"))
    error = caught.value
    assert type(error) is (by_status if shape == "message" else by_code)
    assert error.status == status
    assert error.code == (None if shape == "message" else code)
    assert error.provider == "skillsvideo"
    if isinstance(error, BadRequest | ContentRejected | GenerationFailed):
        assert "the host explains" in error.user_message


FAILURE_CODES: list[tuple[str, type[ProviderError]]] = [
    ("CONTENT_REJECTED", ContentRejected),
    ("TIMEOUT", TimedOut),
    ("FAILED", GenerationFailed),
    ("IMAGE_GENERATION_RATE_LIMITED", RateLimited),
    ("SOMETHING_NEW", GenerationFailed),
]


@pytest.mark.parametrize("shape", ["coded", "legacy", "message"])
@pytest.mark.parametrize(("code", "expected"), FAILURE_CODES)
async def test_failed_job_code_mapping(
    serve: Serve,
    session: aiohttp.ClientSession,
    shape: str,
    code: str,
    expected: type[ProviderError],
) -> None:
    fake = await serve(FakeSkillsVideo(job_duration_s=0.03, error_shape=shape))  # type: ignore[arg-type]
    fake.fail_jobs = code
    provider = provider_for(fake, session)
    done = await poll(provider, (await provider.submit(GenerationRequest(prompt="p"))).job_id)
    assert done.state is JobState.FAILED
    assert done.error is not None
    assert type(done.error) is (GenerationFailed if shape == "message" else expected)
    assert done.error.code == (None if shape == "message" else code)


async def test_failed_job_through_the_stream(serve: Serve, session: aiohttp.ClientSession) -> None:
    fake = await serve(vocabulary="upper")
    fake.fail_jobs = "CONTENT_REJECTED"
    seen = await watch(provider_for(fake, session), GenerationRequest(prompt="p"))
    assert seen[-1].state is JobState.FAILED
    assert isinstance(seen[-1].error, ContentRejected)


async def test_lookup_errors(serve: Serve, session: aiohttp.ClientSession) -> None:
    fake = await serve()
    with pytest.raises(GenerationFailed) as caught:
        await provider_for(fake, session).get_status("gen_missing")
    assert caught.value.status == 404
    with pytest.raises(AuthError):
        await provider_for(fake, session, key="sk-wrong").get_status("gen_1")


async def test_429_retry_after_is_honoured(serve: Serve, session: aiohttp.ClientSession) -> None:
    fake = await serve()
    fake.inject(SUBMIT, Fault("429", retry_after=0.04), Fault("429", retry_after=0.04))
    began = time.monotonic()
    started = await provider_for(fake, session).submit(GenerationRequest(prompt="p"))
    assert time.monotonic() - began >= 0.08
    assert started.state is JobState.QUEUED
    assert len(fake.submissions(SUBMIT)) == 3


async def test_429_until_attempts_run_out(serve: Serve, session: aiohttp.ClientSession) -> None:
    fake = await serve()
    fake.inject(SUBMIT, *[Fault("429", retry_after=0.01)] * RETRY.attempts)
    with pytest.raises(RateLimited) as caught:
        await provider_for(fake, session).submit(GenerationRequest(prompt="p"))
    assert caught.value.retry_after == pytest.approx(0.01)
    assert len(fake.submissions(SUBMIT)) == RETRY.attempts


@pytest.mark.parametrize("path", [SUBMIT, STREAM])
@pytest.mark.parametrize(
    ("fault", "expected"),
    [
        (Fault("5xx", status=500), Unavailable),
        (Fault("5xx", status=502), GenerationFailed),
        (Fault("drop"), Unavailable),
    ],
)
async def test_post_not_retried_when_the_job_may_exist(
    serve: Serve,
    session: aiohttp.ClientSession,
    path: str,
    fault: Fault,
    expected: type[ProviderError],
) -> None:
    fake = await serve()
    fake.inject(path, fault)
    provider = provider_for(fake, session)
    with pytest.raises(expected):
        if path == SUBMIT:
            await provider.submit(GenerationRequest(prompt="p"))
        else:
            await watch(provider, GenerationRequest(prompt="p"))
    assert len(fake.submissions(path)) == 1


async def test_reads_are_retried_on_5xx(serve: Serve, session: aiohttp.ClientSession) -> None:
    fake = await serve()
    provider = provider_for(fake, session)
    started = await provider.submit(GenerationRequest(prompt="p"))
    fake.inject("/generation/gen_", Fault("5xx", status=502), Fault("5xx", status=500))
    assert (await provider.get_status(started.job_id)).job_id == started.job_id
    gets = [r for r in fake.requests if r.method == "GET"]
    assert len(gets) == 3


@pytest.mark.parametrize("path", [SUBMIT, STREAM, "/generation/gen_"])
async def test_malformed_json_is_a_typed_error(
    serve: Serve, session: aiohttp.ClientSession, path: str
) -> None:
    fake = await serve()
    provider = provider_for(fake, session)
    fake.inject(path, Fault("malformed"))
    with pytest.raises(Unavailable, match="unreadable"):
        if path == SUBMIT:
            await provider.submit(GenerationRequest(prompt="p"))
        elif path == STREAM:
            await watch(provider, GenerationRequest(prompt="p"))
        else:
            await provider.get_status("gen_1")


async def test_answer_without_an_id_is_a_typed_error(
    serve: Serve, session: aiohttp.ClientSession
) -> None:
    class Anonymous(FakeSkillsVideo):
        async def _submit(self, request: web.Request) -> web.Response:
            return web.json_response({"status": "starting"})

    fake = await serve(Anonymous())
    with pytest.raises(Unavailable, match="job id"):
        await provider_for(fake, session).submit(GenerationRequest(prompt="p"))


# -- capabilities --------------------------------------------------------------------------
PALETTE = (
    PaletteColor(hex="#FF0000", share=50),
    PaletteColor(hex="#00FF00", share=25),
    PaletteColor(hex="#0000FF", share=25),
)


@pytest.mark.parametrize(
    ("options", "reason"),
    [
        ({"palette": PALETTE}, "palette"),
        ({"thinking": True}, "thinking"),
        ({"image_set": True, "n": 6}, "image sets"),
        ({"aspect_ratio": "5:4"}, "5:4"),
        ({"aspect_ratio": "4:5"}, "4:5"),
        ({"size": "4K"}, "4K"),
        ({"size": "1024*1024"}, "W\\*H"),
        ({"prompt": "x" * 2001}, "2000"),
        ({"negative_prompt": "x" * 501}, "500"),
    ],
)
async def test_capability_check_refuses(
    serve: Serve, session: aiohttp.ClientSession, options: dict[str, Any], reason: str
) -> None:
    fake = await serve()
    provider = provider_for(fake, session)
    request = GenerationRequest.model_validate({"prompt": "p", **options})
    with pytest.raises(UnsupportedRequest, match=reason):
        provider.check(request)
    with pytest.raises(UnsupportedRequest):
        await provider.submit(request)
    assert fake.requests == []


@pytest.mark.parametrize("size", ["1K", "2K"])
def test_size_tiers_are_accepted_and_ignored(size: str) -> None:
    request = GenerationRequest(prompt="p", size=size, n=4, thinking=False)
    SkillsVideoProvider.capabilities.check(request)
    assert SkillsVideoProvider.capabilities.push_updates


# -- secrets -------------------------------------------------------------------------------
async def test_key_never_in_logs_or_errors(
    serve: Serve, session: aiohttp.ClientSession, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    fake = await serve()
    key = fake.api_key
    wrong = "sk-wrong-0123456789abcdef"
    errors: list[ProviderError] = []

    # The fake echoes the key it was given.
    with pytest.raises(AuthError) as caught:
        await provider_for(fake, session, key=wrong).submit(GenerationRequest(prompt="p"))
    errors.append(caught.value)

    fake.script_error(SUBMIT, 400, "INVALID_INPUT", f"bad header: Bearer {key}")
    provider = provider_for(fake, session)
    with pytest.raises(BadRequest) as bad:
        await provider.submit(GenerationRequest(prompt="p"))
    errors.append(bad.value)
    assert "[redacted]" in str(bad.value)

    fake.script_error(STREAM, 422, "CONTENT_REJECTED", f"key {key} was flagged")
    with pytest.raises(ContentRejected) as rejected:
        await watch(provider, GenerationRequest(prompt="p"))
    errors.append(rejected.value)

    fake.inject(SUBMIT, Fault("429", retry_after=0.01), Fault("5xx", status=500))
    with pytest.raises(Unavailable) as down:
        await provider.submit(GenerationRequest(prompt="p"))
    errors.append(down.value)

    assert caplog.records
    for secret in (key, wrong):
        assert secret not in caplog.text
        for error in errors:
            assert secret not in str(error)
            assert secret not in repr(error)
            assert secret not in error.user_message
