"""Contract tests: SkillsVideoProvider against the strict skills.video fake."""

from __future__ import annotations

import asyncio
import io
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, aclosing
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from PIL import Image

from tests.fakes.provider_server import Fault, make_png
from tests.fakes.skillsvideo_server import FakeSkillsVideo
from wanbot.config import SkillsVideoConfig
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
from wanbot.providers.http import RetryPolicy
from wanbot.providers.models import (
    GenerationRequest,
    InputImage,
    JobState,
    JobStatus,
    PaletteColor,
)
from wanbot.providers.skillsvideo import SkillsVideoProvider

RETRY = RetryPolicy(attempts=3, base_delay_s=0.01, max_delay_s=0.02, max_retry_after_s=0.05)
SUBMIT = "/api/v1/generation/wan/wan-v2.7-pro"
STREAM = "/api/v1/generation/sse/wan/wan-v2.7-pro"

Serve = Callable[..., Awaitable[FakeSkillsVideo]]


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


@pytest.fixture
async def serve() -> AsyncIterator[Serve]:
    """Start fakes with the given options (or an instance); all stop at teardown."""
    async with AsyncExitStack() as stack:

        async def start(fake: FakeSkillsVideo | None = None, **options: Any) -> FakeSkillsVideo:
            fake = fake or FakeSkillsVideo(job_duration_s=0.1, **options)
            await fake.start()
            stack.push_async_callback(fake.stop)
            return fake

        yield start


def provider_for(
    fake: FakeSkillsVideo, session: aiohttp.ClientSession, key: str | None = None
) -> SkillsVideoProvider:
    config = SkillsVideoConfig(base_url=fake.base_url, timeout_s=5)
    return SkillsVideoProvider(config, api_key=key or fake.api_key, session=session, retry=RETRY)


async def poll(provider: SkillsVideoProvider, job_id: str) -> JobStatus:
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline:
        status = await provider.get_status(job_id)
        if status.state.terminal:
            return status
        await asyncio.sleep(0.02)
    raise AssertionError("the job never finished")


async def watch(provider: SkillsVideoProvider, request: GenerationRequest) -> list[JobStatus]:
    seen: list[JobStatus] = []
    async with aclosing(provider.submit_and_watch(request)) as stream:
        async for status in stream:
            seen.append(status)
    return seen


async def assert_pngs(session: aiohttp.ClientSession, status: JobStatus) -> None:
    assert status.images
    for image in status.images:
        async with session.get(image.url) as response:
            assert response.status == 200
            content = await response.read()
        assert content.startswith(b"\x89PNG\r\n\x1a\n")
        with Image.open(io.BytesIO(content)) as png:
            assert png.size == (image.width, image.height)


def png_file(tmp_path: Path, width: int, height: int, name: str = "in.png") -> InputImage:
    path = tmp_path / name
    path.write_bytes(make_png(width, height))
    return InputImage(
        path=str(path),
        content_type="image/png",
        width=width,
        height=height,
        size_bytes=path.stat().st_size,
        filename=name,
    )


def parts(body: Any, name: str) -> list[dict[str, Any]]:
    assert isinstance(body, dict)
    return body[name]  # type: ignore[no-any-return]


# -- text to image -------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("vocabulary", "first_raw"), [("lower", "starting"), ("upper", "IN_QUEUE")]
)
async def test_submit_then_poll_delivers_pngs(
    serve: Serve, session: aiohttp.ClientSession, vocabulary: str, first_raw: str
) -> None:
    fake = await serve(vocabulary=vocabulary)
    provider = provider_for(fake, session)
    request = GenerationRequest(
        prompt="a red fox",
        negative_prompt="blurry",
        aspect_ratio="16:9",
        n=2,
        seed=42,
        safety_checker=False,
    )

    started = await provider.submit(request)
    assert started.state is JobState.QUEUED
    assert started.raw_status == first_raw
    assert started.job_id.startswith("gen_")
    assert started.cost == 40

    done = await poll(provider, started.job_id)
    assert done.state is JobState.SUCCEEDED
    assert len(done.images) == 2
    assert (done.images[0].width, done.images[0].height) == (64, 36)
    assert done.extra["actual_prompt"] == "a red fox (expanded)"
    await assert_pngs(session, done)
    (sent,) = fake.submissions(SUBMIT)
    assert sent.body == {
        "prompt": "a red fox",
        "aspect_ratio": "16:9",
        "n": 2,
        "negative_prompt": "blurry",
        "seed": 42,
        "enable_safety_checker": False,
    }


async def test_optional_fields_are_left_out(serve: Serve, session: aiohttp.ClientSession) -> None:
    fake = await serve()
    await provider_for(fake, session).submit(GenerationRequest(prompt="p", size="1K"))
    (sent,) = fake.submissions(SUBMIT)
    assert sent.body == {"prompt": "p", "aspect_ratio": "1:1", "n": 1}


@pytest.mark.parametrize("vocabulary", ["lower", "upper"])
async def test_stream_delivers_pngs(
    serve: Serve, session: aiohttp.ClientSession, vocabulary: str
) -> None:
    fake = await serve(vocabulary=vocabulary)
    provider = provider_for(fake, session)

    seen = await watch(provider, GenerationRequest(prompt="a lighthouse", aspect_ratio="3:4"))

    assert [s.state for s in seen] == [JobState.QUEUED, JobState.RUNNING, JobState.SUCCEEDED]
    assert len({s.job_id for s in seen}) == 1
    assert seen[0].job_id in fake.jobs
    await assert_pngs(session, seen[-1])
    (sent,) = fake.submissions(STREAM)
    assert sent.headers["Accept"] == "text/event-stream"
    assert sent.body == {"prompt": "a lighthouse", "aspect_ratio": "3:4", "n": 1}


async def test_stream_with_crlf_lines(serve: Serve, session: aiohttp.ClientSession) -> None:
    class CrlfFake(FakeSkillsVideo):
        def _event(self, view: dict[str, Any], number: int) -> bytes:
            return super()._event(view, number).replace(b"\n", b"\r\n")

    fake = await serve(CrlfFake(job_duration_s=0.1))
    seen = await watch(provider_for(fake, session), GenerationRequest(prompt="p"))
    assert seen[-1].state is JobState.SUCCEEDED
    assert seen[-1].images


@pytest.mark.parametrize(("vocabulary", "raw"), [("lower", "canceled"), ("upper", "CANCELED")])
async def test_cancelled_job(
    serve: Serve, session: aiohttp.ClientSession, vocabulary: str, raw: str
) -> None:
    fake = await serve(vocabulary=vocabulary)
    provider = provider_for(fake, session)
    started = await provider.submit(GenerationRequest(prompt="p"))
    fake.cancel_job(started.job_id)
    status = await provider.get_status(started.job_id)
    assert (status.state, status.raw_status, status.error) == (JobState.CANCELLED, raw, None)


IMAGE = {"url": "http://127.0.0.1:9/x.png", "width": 8, "height": 8, "content_type": "image/png"}


@pytest.mark.parametrize(
    ("answer", "state", "images"),
    [
        ({"status": "WARMING_UP"}, JobState.RUNNING, 0),
        ({"status": "In_Progress"}, JobState.RUNNING, 0),
        ({"status": " Starting "}, JobState.QUEUED, 0),
        ({"status": "Completed", "data": None}, JobState.RUNNING, 0),  # result not readable yet
        ({"status": "succeeded", "data": {"images": []}}, JobState.FAILED, 0),
        ({"status": "SUCCEEDED", "data": {"image": IMAGE, "extra": 1}}, JobState.SUCCEEDED, 1),
        ({"status": "completed", "data": {"images": [IMAGE, IMAGE]}}, JobState.SUCCEEDED, 2),
        ({"status": "Failed"}, JobState.FAILED, 0),
    ],
)
async def test_status_answers(
    serve: Serve,
    session: aiohttp.ClientSession,
    answer: dict[str, Any],
    state: JobState,
    images: int,
) -> None:
    class Scripted(FakeSkillsVideo):
        async def _get(self, request: web.Request) -> web.Response:
            return web.json_response({"id": request.match_info["id"], "surprise": True, **answer})

    fake = await serve(Scripted())
    status = await provider_for(fake, session).get_status("gen_9")
    assert (status.job_id, status.state, len(status.images)) == ("gen_9", state, images)
    assert (status.error is not None) == (state is JobState.FAILED)
    if images:
        assert status.images[0].width == 8


# -- edit ----------------------------------------------------------------------------------
async def test_edit_uploads_files_and_retries_after_429(
    serve: Serve, session: aiohttp.ClientSession, tmp_path: Path
) -> None:
    fake = await serve()
    fake.inject(SUBMIT, Fault("429", retry_after=0.01))
    provider = provider_for(fake, session)
    first, second = png_file(tmp_path, 512, 400, "a.png"), png_file(tmp_path, 400, 512, "b.png")
    request = GenerationRequest(
        prompt="make it night", input_images=(first, second), seed=7, safety_checker=True
    )

    started = await provider.submit(request)
    done = await poll(provider, started.job_id)

    assert done.state is JobState.SUCCEEDED
    await assert_pngs(session, done)
    sent = fake.submissions(SUBMIT)
    assert len(sent) == 2  # the 429, then the same form again
    for attempt in sent:
        files = parts(attempt.body, "image_urls")
        assert [f["filename"] for f in files] == ["a.png", "b.png"]
        assert files[0]["bytes"] == await asyncio.to_thread(Path(first.path).read_bytes)
        assert files[0]["content_type"] == "image/png"
        assert parts(attempt.body, "prompt")[0]["bytes"] == b"make it night"
        assert parts(attempt.body, "seed")[0]["bytes"] == b"7"
        assert parts(attempt.body, "enable_safety_checker")[0]["bytes"] == b"true"


async def test_edit_through_the_stream(
    serve: Serve, session: aiohttp.ClientSession, tmp_path: Path
) -> None:
    fake = await serve()
    image = png_file(tmp_path, 400, 400)
    seen = await watch(
        provider_for(fake, session), GenerationRequest(prompt="p", input_images=(image,))
    )
    assert seen[-1].state is JobState.SUCCEEDED
    (sent,) = fake.submissions(STREAM)
    assert parts(sent.body, "image_urls")[0]["bytes"] == await asyncio.to_thread(
        Path(image.path).read_bytes
    )


async def test_edit_falls_back_to_the_source_url_when_the_file_is_gone(
    serve: Serve, session: aiohttp.ClientSession, tmp_path: Path
) -> None:
    fake = await serve()
    url = fake.add_result_file("upload.png", 400, 400)
    image = png_file(tmp_path, 400, 400).model_copy(
        update={"path": str(tmp_path / "gone.png"), "source_url": url}
    )
    provider = provider_for(fake, session)
    started = await provider.submit(GenerationRequest(prompt="p", input_images=(image,)))
    assert (await poll(provider, started.job_id)).state is JobState.SUCCEEDED
    (sent,) = fake.submissions(SUBMIT)
    (item,) = parts(sent.body, "image_urls")
    assert (item["filename"], item["bytes"]) == (None, url.encode())


async def test_edit_with_a_missing_file_and_no_url_is_refused(
    serve: Serve, session: aiohttp.ClientSession, tmp_path: Path
) -> None:
    fake = await serve()
    image = png_file(tmp_path, 400, 400).model_copy(update={"path": str(tmp_path / "gone.png")})
    with pytest.raises(BadRequest, match="attach it again"):
        await provider_for(fake, session).submit(
            GenerationRequest(prompt="p", input_images=(image,))
        )
    assert fake.requests == []


async def test_small_input_refused_before_any_request(
    serve: Serve, session: aiohttp.ClientSession, tmp_path: Path
) -> None:
    fake = await serve()
    provider = provider_for(fake, session)
    request = GenerationRequest(prompt="p", input_images=(png_file(tmp_path, 200, 200),))
    with pytest.raises(UnsupportedRequest, match="384"):
        provider.check(request)
    with pytest.raises(UnsupportedRequest):
        await provider.submit(request)
    with pytest.raises(UnsupportedRequest):
        await watch(provider, request)
    assert fake.requests == []


# -- streams that go wrong -----------------------------------------------------------------
async def test_broken_stream_raises_after_the_first_status_then_polling_finishes(
    serve: Serve, session: aiohttp.ClientSession
) -> None:
    fake = await serve(sse_break_after=1)
    provider = provider_for(fake, session)
    seen: list[JobStatus] = []
    with pytest.raises(Unavailable):
        async with aclosing(provider.submit_and_watch(GenerationRequest(prompt="p"))) as stream:
            async for status in stream:
                seen.append(status)
    assert [s.state for s in seen] == [JobState.QUEUED]
    done = await poll(provider, seen[0].job_id)
    assert done.state is JobState.SUCCEEDED
    await assert_pngs(session, done)


async def test_host_answering_json_instead_of_a_stream(
    serve: Serve, session: aiohttp.ClientSession
) -> None:
    class NoStream(FakeSkillsVideo):
        async def _stream(self, request: web.Request) -> web.StreamResponse:
            return await self._submit(request)

    fake = await serve(NoStream(job_duration_s=0.1))
    provider = provider_for(fake, session)
    seen: list[JobStatus] = []
    with pytest.raises(Unavailable):
        async with aclosing(provider.submit_and_watch(GenerationRequest(prompt="p"))) as stream:
            async for status in stream:
                seen.append(status)
    assert [s.state for s in seen] == [JobState.QUEUED]
    assert (await poll(provider, seen[0].job_id)).state is JobState.SUCCEEDED


@pytest.mark.parametrize(
    ("setup", "expected"),
    [
        (lambda f: f.script_error("/sse/", 422, "CONTENT_REJECTED", "flagged"), ContentRejected),
        (lambda f: setattr(f, "credits", 0), OutOfCredits),
        (lambda f: f.script_error("/sse/", 400, "INVALID_INPUT", "prompt: too long"), BadRequest),
    ],
)
async def test_error_before_the_stream_opens(
    serve: Serve,
    session: aiohttp.ClientSession,
    setup: Callable[[FakeSkillsVideo], None],
    expected: type[ProviderError],
) -> None:
    fake = await serve()
    setup(fake)
    with pytest.raises(expected) as caught:
        await watch(provider_for(fake, session), GenerationRequest(prompt="p"))
    assert caught.value.status in (400, 402, 422)
    assert len(fake.submissions(STREAM)) == 1


async def test_stream_retries_a_429_before_it_opens(
    serve: Serve, session: aiohttp.ClientSession
) -> None:
    fake = await serve()
    fake.inject(STREAM, Fault("429", retry_after=0.01))
    seen = await watch(provider_for(fake, session), GenerationRequest(prompt="p"))
    assert seen[-1].state is JobState.SUCCEEDED
    assert len(fake.submissions(STREAM)) == 2


async def test_never_finishing_job_stays_running(
    serve: Serve, session: aiohttp.ClientSession
) -> None:
    fake = await serve()
    fake.never_finish = True
    provider = provider_for(fake, session)
    started = await provider.submit(GenerationRequest(prompt="p"))
    for _ in range(3):
        await asyncio.sleep(0.06)
        assert (await provider.get_status(started.job_id)).state is JobState.RUNNING

    states: list[JobState] = []
    async with aclosing(provider.submit_and_watch(GenerationRequest(prompt="p"))) as stream:
        async for status in stream:
            states.append(status.state)
            if len(states) == 2:
                break
    assert states == [JobState.QUEUED, JobState.RUNNING]


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


# -- the fake itself is strict -------------------------------------------------------------
async def test_fake_refuses_what_the_docs_forbid(
    serve: Serve, session: aiohttp.ClientSession
) -> None:
    fake = await serve()
    small = fake.add_result_file("small.png", 200, 200)
    large = fake.add_result_file("large.png", 400, 400)
    bad_bodies: list[dict[str, Any]] = [
        {"prompt": ""},
        {"prompt": "x" * 2001},
        {"prompt": "p", "n": 5},
        {"prompt": "p", "n": 0},
        {"prompt": "p", "n": "2"},
        {"prompt": "p", "n": True},
        {"prompt": "p", "negative_prompt": "x" * 501},
        {"prompt": "p", "aspect_ratio": "5:4"},
        {"prompt": "p", "image_size": "huge"},
        {"prompt": "p", "seed": -1},
        {"prompt": "p", "seed": 2_147_483_648},
        {"prompt": "p", "num_images": 6},
        {"prompt": "p", "max_images": 0},
        {"prompt": "p", "enable_safety_checker": "false"},
        {"prompt": "p", "size": "2K"},
        {"prompt": "p", "image_urls": []},
        {"prompt": "p", "image_urls": [large] * 5},
        {"prompt": "p", "image_urls": [small]},
        {"prompt": "p", "image_urls": [large], "num_images": 5},
        {"prompt": "p", "image_urls": ["not a url"]},
    ]
    headers = {"Authorization": f"Bearer {fake.api_key}"}
    for body in bad_bodies:
        async with session.post(
            fake.base_url + "/generation/wan/wan-v2.7-pro", json=body, headers=headers
        ) as r:
            answer = await r.json()
            assert (r.status, answer["code"]) == (400, "INVALID_INPUT"), body

    good = {
        "prompt": "p",
        "seed": None,
        "image_size": "square_hd",
        "num_images": 5,
        "max_images": 5,
        "enable_prompt_expansion": False,
    }
    async with session.post(
        fake.base_url + "/generation/wan/wan-v2.7-pro", json=good, headers=headers
    ) as r:
        assert r.status == 200
    async with session.post(
        fake.base_url + "/generation/wan/wan-v2.7", json=good, headers=headers
    ) as r:
        assert (r.status, (await r.json())["code"]) == (400, "UNSUPPORTED_MODEL")
    async with session.get(fake.base_url + "/credits", headers=headers) as r:
        assert (await r.json())["total"] == 10_000 - 5 * 20


@pytest.mark.parametrize(
    ("fields", "image", "status"),
    [
        ({"prompt": "p"}, (400, 400), 200),
        ({"prompt": "p"}, (200, 200), 400),
        ({"prompt": "p", "n": "two"}, (400, 400), 400),
        ({"prompt": "p", "enable_safety_checker": "yes"}, (400, 400), 400),
        ({"prompt": "p", "strength": "0.5"}, (400, 400), 400),
    ],
)
async def test_fake_checks_multipart_uploads(
    serve: Serve,
    session: aiohttp.ClientSession,
    fields: dict[str, str],
    image: tuple[int, int],
    status: int,
) -> None:
    fake = await serve()
    form = aiohttp.FormData()
    for name, value in fields.items():
        form.add_field(name, value)
    form.add_field("image_urls", make_png(*image), filename="x.png", content_type="image/png")
    headers = {"Authorization": f"Bearer {fake.api_key}"}
    async with session.post(
        fake.base_url + "/generation/wan/wan-v2.7-pro", data=form, headers=headers
    ) as r:
        assert r.status == status
