"""Contract tests: the skills.video client against the strict fake, for what it sends and
reads: text to image by polling and by stream, edit uploads, streams that go wrong."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from contextlib import aclosing
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from tests.fakes.provider_server import Fault
from tests.fakes.skillsvideo_server import FakeSkillsVideo
from tests.providers.skillsvideo.kit import (
    STREAM,
    SUBMIT,
    Serve,
    assert_pngs,
    parts,
    png_file,
    poll,
    provider_for,
    watch,
)
from wanbot.providers.errors import (
    BadRequest,
    ContentRejected,
    OutOfCredits,
    ProviderError,
    Unavailable,
    UnsupportedRequest,
)
from wanbot.providers.models import (
    GenerationRequest,
    JobState,
    JobStatus,
)


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
