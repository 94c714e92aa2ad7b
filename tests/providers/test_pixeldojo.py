"""Contract tests: the PixelDojo client against the strict fake PixelDojo server."""

from __future__ import annotations

import asyncio
import base64
import io
import logging
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from PIL import Image
from pydantic import ValidationError

from tests.fakes.pixeldojo_server import FakePixelDojo
from tests.fakes.provider_server import Fault, make_png
from wanbot.config import PixelDojoConfig
from wanbot.providers.errors import (
    AuthError,
    BadRequest,
    ContentRejected,
    GenerationFailed,
    OutOfCredits,
    ProviderError,
    RateLimited,
    Unavailable,
    UnsupportedRequest,
)
from wanbot.providers.http import RetryPolicy
from wanbot.providers.models import (
    MAX_SEED,
    GenerationRequest,
    InputImage,
    JobState,
    JobStatus,
    PaletteColor,
)
from wanbot.providers.pixeldojo import PixelDojoProvider, mentions_content_block

# The fake-server base stores the parsed body under a plain string key, which aiohttp warns about
# (and filterwarnings=error turns into a 500). Drop this once the base uses a web.RequestKey.

POLICY = RetryPolicy(attempts=3, base_delay_s=0.01, max_delay_s=0.02, max_retry_after_s=0.05)
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"

StartFake = Callable[..., Awaitable[FakePixelDojo]]


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client:
        yield client


@pytest.fixture
async def start_fake() -> AsyncIterator[StartFake]:
    servers: list[FakePixelDojo] = []

    async def start(**kwargs: Any) -> FakePixelDojo:
        kwargs.setdefault("job_duration_s", 0.05)
        server = FakePixelDojo(**kwargs)
        await server.start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        await server.stop()


@pytest.fixture
async def fake(start_fake: StartFake) -> FakePixelDojo:
    return await start_fake()


def make_provider(
    fake: FakePixelDojo,
    session: aiohttp.ClientSession,
    *,
    api_key: str | None = None,
    base_url: str | None = None,
    **config: Any,
) -> PixelDojoProvider:
    return PixelDojoProvider(
        PixelDojoConfig(base_url=base_url or fake.base_url, **config),
        api_key=api_key or fake.api_key,
        session=session,
        retry=POLICY,
    )


@pytest.fixture
def provider(fake: FakePixelDojo, session: aiohttp.ClientSession) -> PixelDojoProvider:
    return make_provider(fake, session)


@pytest.fixture
def input_image(tmp_path: Path) -> InputImage:
    return write_image(tmp_path / "in.png", (300, 260), (10, 120, 200))


def write_image(path: Path, size: tuple[int, int], colour: tuple[int, int, int]) -> InputImage:
    data = make_png(*size, colour)
    path.write_bytes(data)
    return InputImage(
        path=str(path),
        content_type="image/png",
        width=size[0],
        height=size[1],
        size_bytes=len(data),
        filename=path.name,
    )


async def wait_done(provider: PixelDojoProvider, job_id: str) -> JobStatus:
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        status = await provider.get_status(job_id)
        if status.state.terminal:
            return status
        await asyncio.sleep(0.02)
    raise AssertionError(f"job {job_id} never finished")


def run_bodies(fake: FakePixelDojo) -> list[dict[str, Any]]:
    return [r.body for r in fake.submissions("/run")]


def gets(fake: FakePixelDojo, path_part: str) -> int:
    return sum(1 for r in fake.requests if r.method == "GET" and path_part in r.path)


def file_bytes(image: InputImage) -> bytes:
    return Path(image.path).read_bytes()


def decode_data_uri(uri: str) -> tuple[str, bytes]:
    head, _, payload = uri.partition(",")
    assert head.startswith("data:") and head.endswith(";base64")
    return head.removeprefix("data:").removesuffix(";base64"), base64.b64decode(payload)


# -- text to image ----------------------------------------------------------------------------


async def test_text_to_image_delivers_downloadable_pngs(
    fake: FakePixelDojo, provider: PixelDojoProvider, session: aiohttp.ClientSession
) -> None:
    request = GenerationRequest(prompt="a red fox in snow", aspect_ratio="16:9", size="2K", n=2)

    submitted = await provider.submit(request)

    assert submitted.job_id
    assert submitted.state is JobState.QUEUED
    assert submitted.cost == 4
    assert submitted.extra["credits_remaining"] == fake.credits
    assert submitted.host_balance == fake.credits
    assert run_bodies(fake) == [
        {"prompt": "a red fox in snow", "aspect_ratio": "16:9", "size": "2K", "n": 2}
    ]
    assert fake.requests[0].path == "/api/v1/models/wan-2.7-image-pro/run"
    assert fake.requests[0].headers["Authorization"] == f"Bearer {fake.api_key}"

    done = await wait_done(provider, submitted.job_id)

    assert done.state is JobState.SUCCEEDED
    assert done.error is None
    assert len(done.images) == 2
    for image in done.images:
        async with session.get(image.url) as resp:
            assert resp.status == 200
            data = await resp.read()
        assert data.startswith(PNG_MAGIC)
        with Image.open(io.BytesIO(data)) as decoded:
            assert decoded.size == fake.result_size


@pytest.mark.parametrize(
    ("shares", "expected"),
    [
        ((100 / 3,) * 3, ["33.34%", "33.33%", "33.33%"]),
        ((12.5,) * 8, ["12.50%"] * 8),
        ((100 / 7,) * 7, ["14.29%"] * 4 + ["14.28%"] * 3),
        ((50.0, 25.0, 25.0), ["50.00%", "25.00%", "25.00%"]),
    ],
)
async def test_options_map_onto_the_documented_fields(
    fake: FakePixelDojo,
    provider: PixelDojoProvider,
    shares: tuple[float, ...],
    expected: list[str],
) -> None:
    hexes = [f"#{i:02x}20A0" for i in range(len(shares))]
    palette = tuple(PaletteColor(hex=h, share=s) for h, s in zip(hexes, shares, strict=True))
    request = GenerationRequest(
        prompt="lanterns", size="1280*720", seed=42, thinking=False, palette=palette
    )

    submitted = await provider.submit(request)

    (body,) = run_bodies(fake)
    assert body["seed"] == 42
    assert body["thinking_mode"] is False
    assert body["size"] == "1280*720"
    assert "enable_sequential" not in body
    assert body["color_palette"] == [
        {"hex": h.upper(), "ratio": r} for h, r in zip(hexes, expected, strict=True)
    ]
    assert (await wait_done(provider, submitted.job_id)).state is JobState.SUCCEEDED


async def test_image_set_sends_enable_sequential_and_returns_every_image(
    fake: FakePixelDojo, provider: PixelDojoProvider
) -> None:
    request = GenerationRequest(prompt="a comic strip", n=8, image_set=True, thinking=True)

    done = await wait_done(provider, (await provider.submit(request)).job_id)

    (body,) = run_bodies(fake)
    assert body["enable_sequential"] is True
    assert body["n"] == 8
    assert len(done.images) == 8


# -- edit mode ----------------------------------------------------------------------------------


@pytest.mark.parametrize("field", ["images", "image_urls", "image_url"])
async def test_edit_uses_the_image_field_the_schema_lists(
    start_fake: StartFake,
    session: aiohttp.ClientSession,
    tmp_path: Path,
    input_image: InputImage,
    field: str,
) -> None:
    fake = await start_fake(image_field=field)
    provider = make_provider(fake, session)
    second = write_image(tmp_path / "second.png", (320, 320), (0, 200, 0))
    batches = [(input_image,)] if field == "image_url" else [(input_image,), (input_image, second)]

    for images in batches * 2:
        request = GenerationRequest(prompt="make it night", size="2K", input_images=images)
        done = await wait_done(provider, (await provider.submit(request)).job_id)
        assert done.state is JobState.SUCCEEDED

    assert gets(fake, "/models/wan-2.7-image-pro") == 1
    for body, images in zip(run_bodies(fake), batches * 2, strict=True):
        sent = body[field]
        uris = [sent] if field == "image_url" else sent
        assert isinstance(sent, str) if field == "image_url" else isinstance(sent, list)
        decoded = [decode_data_uri(uri) for uri in uris]
        assert decoded == [("image/png", file_bytes(i)) for i in images]
        assert set(body) == {"prompt", "aspect_ratio", "size", "n", field}


async def test_edit_prefers_images_then_image_urls_then_image_url(
    start_fake: StartFake, session: aiohttp.ClientSession, input_image: InputImage
) -> None:
    fake = await start_fake(image_field=("image_url", "image_urls"))
    provider = make_provider(fake, session)

    await provider.submit(GenerationRequest(prompt="sepia", input_images=(input_image,)))

    (body,) = run_bodies(fake)
    assert isinstance(body["image_urls"], list)
    assert "image_url" not in body


async def test_concurrent_edits_fetch_the_schema_once(
    fake: FakePixelDojo, provider: PixelDojoProvider, input_image: InputImage
) -> None:
    request = GenerationRequest(prompt="sepia", input_images=(input_image,))

    await asyncio.gather(*(provider.submit(request) for _ in range(3)))

    assert gets(fake, "/models/") == 1
    assert len(run_bodies(fake)) == 3


async def test_configured_image_field_skips_the_schema(
    start_fake: StartFake, session: aiohttp.ClientSession, input_image: InputImage
) -> None:
    fake = await start_fake(image_field="image_urls")
    provider = make_provider(fake, session, image_field="image_urls")

    submitted = await provider.submit(GenerationRequest(prompt="x", input_images=(input_image,)))

    assert (await wait_done(provider, submitted.job_id)).state is JobState.SUCCEEDED
    assert gets(fake, "/models/") == 0
    assert "image_urls" in run_bodies(fake)[0]


async def test_a_wrong_configured_image_field_is_refused_by_the_strict_schema(
    fake: FakePixelDojo, session: aiohttp.ClientSession, input_image: InputImage
) -> None:
    provider = make_provider(fake, session, image_field="image_url")

    with pytest.raises(BadRequest) as caught:
        await provider.submit(GenerationRequest(prompt="x", input_images=(input_image,)))

    assert "image_url" in caught.value.user_message
    assert caught.value.status == 400
    assert fake.jobs == {}


async def test_a_model_without_an_image_field_refuses_edits_before_submitting(
    start_fake: StartFake, session: aiohttp.ClientSession, input_image: InputImage
) -> None:
    fake = await start_fake(image_field=None)
    provider = make_provider(fake, session)

    with pytest.raises(UnsupportedRequest):
        await provider.submit(GenerationRequest(prompt="x", input_images=(input_image,)))

    assert run_bodies(fake) == []


async def test_a_single_image_field_refuses_two_images_before_submitting(
    start_fake: StartFake, session: aiohttp.ClientSession, tmp_path: Path, input_image: InputImage
) -> None:
    fake = await start_fake(image_field="image_url")
    provider = make_provider(fake, session)
    second = write_image(tmp_path / "b.png", (300, 300), (1, 2, 3))

    with pytest.raises(UnsupportedRequest, match="one image"):
        await provider.submit(GenerationRequest(prompt="x", input_images=(input_image, second)))

    assert run_bodies(fake) == []


async def test_a_missing_input_file_is_a_typed_error(
    fake: FakePixelDojo, provider: PixelDojoProvider, tmp_path: Path, input_image: InputImage
) -> None:
    gone = input_image.model_copy(update={"path": str(tmp_path / "deleted.png")})

    with pytest.raises(BadRequest, match="no longer available"):
        await provider.submit(GenerationRequest(prompt="x", input_images=(gone,)))

    assert run_bodies(fake) == []


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


# -- capability check ---------------------------------------------------------------------------


def _palette() -> tuple[PaletteColor, ...]:
    return (
        PaletteColor(hex="#112233", share=40),
        PaletteColor(hex="#445566", share=30),
        PaletteColor(hex="#778899", share=30),
    )


@pytest.mark.parametrize(
    ("update", "edit", "model"),
    [
        ({"negative_prompt": "blurry"}, False, "wan-2.7-image-pro"),
        ({"size": "4K"}, True, "wan-2.7-image-pro"),
        ({"size": "3840*2160"}, True, "wan-2.7-image-pro"),
        ({"size": "4K"}, False, "wan-2.7-image"),
        ({"n": 5}, False, "wan-2.7-image-pro"),
        ({"n": 13, "image_set": True}, False, "wan-2.7-image-pro"),
        ({"palette": _palette(), "image_set": True}, False, "wan-2.7-image-pro"),
        ({"safety_checker": True}, False, "wan-2.7-image-pro"),
        ({"prompt": "x" * 5001}, False, "wan-2.7-image-pro"),
    ],
    ids=[
        "negative_prompt",
        "4K-edit",
        "4K-tier-WxH-edit",
        "4K-non-pro",
        "n5-without-image-set",
        "image-set-13",
        "palette-with-image-set",
        "safety-checker",
        "long-prompt",
    ],
)
async def test_unsupported_requests_are_refused_before_any_call(
    fake: FakePixelDojo,
    session: aiohttp.ClientSession,
    input_image: InputImage,
    update: dict[str, Any],
    edit: bool,
    model: str,
) -> None:
    provider = make_provider(fake, session, model=model)
    base = GenerationRequest(prompt="x", input_images=(input_image,) if edit else ())
    # model_copy skips validation, as a request loaded from an older store row might.
    request = base.model_copy(update=update)

    with pytest.raises(UnsupportedRequest):
        provider.check(request)
    with pytest.raises(UnsupportedRequest):
        await provider.submit(request)

    assert fake.requests == []


def test_the_request_model_itself_refuses_n_above_4_without_image_set() -> None:
    with pytest.raises(ValidationError, match="image_set"):
        GenerationRequest(prompt="x", n=5)


@pytest.mark.parametrize(
    ("size", "edit"), [("4K", False), ("3840*2160", False), ("2K", True), ("2048*2048", True)]
)
async def test_sizes_the_host_accepts_pass_the_check(
    fake: FakePixelDojo, provider: PixelDojoProvider, input_image: InputImage, size: str, edit: bool
) -> None:
    request = GenerationRequest(prompt="x", size=size, input_images=(input_image,) if edit else ())

    done = await wait_done(provider, (await provider.submit(request)).job_id)

    assert done.state is JobState.SUCCEEDED


# -- secrets ------------------------------------------------------------------------------------


async def test_the_api_key_never_reaches_logs_or_errors(
    fake: FakePixelDojo, session: aiohttp.ClientSession, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    wrong_key = "sk-wrong-0123456789-secret"
    fake.echo_auth_in_errors = True
    errors: list[ProviderError] = []

    with pytest.raises(AuthError) as caught:
        await make_provider(fake, session, api_key=wrong_key).submit(GenerationRequest(prompt="x"))
    errors.append(caught.value)

    provider = make_provider(fake, session)
    submitted = await provider.submit(GenerationRequest(prompt="x"))
    fake.inject("/jobs/", Fault("5xx", status=502), Fault("429", retry_after=0.01))
    await wait_done(provider, submitted.job_id)
    fake.inject("/jobs/", Fault("malformed"))
    with pytest.raises(Unavailable) as unreadable:
        await provider.get_status(submitted.job_id)
    errors.append(unreadable.value)
    fake.reply_next("/run", 400, {"error": f"bad key {fake.api_key} in body", "code": "x"})
    with pytest.raises(BadRequest) as refused:
        await provider.submit(GenerationRequest(prompt="x"))
    errors.append(refused.value)

    logged = "\n".join(
        f"{record.getMessage()} {record.args!r} {record.exc_text or ''}"
        for record in caplog.records
    )
    assert any("retrying" in record.getMessage() for record in caplog.records)
    assert "[redacted]" in logged  # the echoed keys were there, and were redacted
    for key in (wrong_key, fake.api_key):
        assert key not in logged
        for error in errors:
            assert key not in str(error)
            assert key not in repr(error)
            assert key not in error.user_message


# -- the fake's own strictness ------------------------------------------------------------------


def _data_uri(data: bytes, kind: str = "image/png") -> str:
    return f"data:{kind};base64,{base64.b64encode(data).decode()}"


PNG = make_png(300, 300)
GOOD_PALETTE = [
    {"hex": "#112233", "ratio": "50.00%"},
    {"hex": "#445566", "ratio": "25.00%"},
    {"hex": "#778899", "ratio": "25.00%"},
]


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"prompt": "x"}, 202),
        ({"prompt": "x", "n": 12, "enable_sequential": True}, 202),
        ({"prompt": "x", "color_palette": GOOD_PALETTE, "seed": 0}, 202),
        ({"prompt": "x", "images": [_data_uri(PNG)], "size": "2K"}, 202),
        ({"prompt": "x", "negative_prompt": "y"}, 400),
        ({"prompt": "x", "image_url": "https://a/b.png"}, 400),
        ({}, 400),
        ({"prompt": ""}, 400),
        ({"prompt": 5}, 400),
        ({"prompt": "x", "size": "8K"}, 400),
        ({"prompt": "x", "size": "1024x1024"}, 400),
        ({"prompt": "x", "size": "4K", "images": [_data_uri(PNG)]}, 400),
        ({"prompt": "x", "n": 5}, 400),
        ({"prompt": "x", "n": 0}, 400),
        ({"prompt": "x", "n": 13, "enable_sequential": True}, 400),
        ({"prompt": "x", "n": True}, 400),
        ({"prompt": "x", "seed": -1}, 400),
        ({"prompt": "x", "seed": MAX_SEED + 1}, 400),
        ({"prompt": "x", "seed": "5"}, 400),
        ({"prompt": "x", "aspect_ratio": "2:1"}, 400),
        ({"prompt": "x", "thinking_mode": "yes"}, 400),
        ({"prompt": "x", "enable_sequential": 1}, 400),
        ({"prompt": "x", "color_palette": GOOD_PALETTE[:2]}, 400),
        (
            {
                "prompt": "x",
                "color_palette": [*GOOD_PALETTE[:2], {**GOOD_PALETTE[2], "ratio": "24.99%"}],
            },
            400,
        ),
        (
            {
                "prompt": "x",
                "color_palette": [*GOOD_PALETTE[:2], {**GOOD_PALETTE[2], "ratio": "25%"}],
            },
            400,
        ),
        (
            {
                "prompt": "x",
                "color_palette": [*GOOD_PALETTE[:2], {"hex": "red", "ratio": "25.00%"}],
            },
            400,
        ),
        ({"prompt": "x", "color_palette": GOOD_PALETTE, "enable_sequential": True}, 400),
        ({"prompt": "x", "images": ["not a uri"]}, 400),
        ({"prompt": "x", "images": [_data_uri(b"not an image")]}, 400),
        ({"prompt": "x", "images": [_data_uri(PNG, "image/jpeg")]}, 400),
        ({"prompt": "x", "images": [_data_uri(PNG)] * 5}, 400),
    ],
)
async def test_the_fake_validates_run_bodies_strictly(
    fake: FakePixelDojo, session: aiohttp.ClientSession, body: dict[str, Any], status: int
) -> None:
    async with session.post(
        f"{fake.base_url}/models/wan-2.7-image-pro/run",
        json=body,
        headers={"Authorization": f"Bearer {fake.api_key}"},
    ) as resp:
        assert resp.status == status, await resp.text()
        answer = await resp.json()
    if status == 400:
        assert answer["error"]["code"] == "invalid_request"


@pytest.mark.parametrize(
    ("model", "key", "body", "status", "code"),
    [
        ("wan-2.7-image", "good", {"prompt": "x", "size": "4K"}, 400, "invalid_request"),
        ("wan-2.7-image", "good", {"prompt": "x", "size": "2K"}, 202, None),
        ("wan-3", "good", {"prompt": "x"}, 404, "model_not_found"),
        ("wan-2.7-image-pro", "bad", {"prompt": "x"}, 401, "unauthorized"),
    ],
)
async def test_the_fake_checks_model_and_key(
    fake: FakePixelDojo,
    session: aiohttp.ClientSession,
    model: str,
    key: str,
    body: dict[str, Any],
    status: int,
    code: str | None,
) -> None:
    token = fake.api_key if key == "good" else "nope"
    async with session.post(
        f"{fake.base_url}/models/{model}/run",
        json=body,
        headers={"Authorization": f"Bearer {token}"},
    ) as resp:
        assert resp.status == status
        answer = await resp.json()
    if code is not None:
        assert answer["error"] == {
            "code": code,
            "message": answer["error"]["message"],
            "status": status,
        }
