"""Contract tests: DashScopeProvider against the strict fake DashScope."""

from __future__ import annotations

import asyncio
import base64
import io
import logging
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image

from tests.fakes.dashscope_server import FakeDashScope
from tests.fakes.provider_server import Fault
from wanbot.config import DashScopeConfig
from wanbot.providers import dashscope
from wanbot.providers.dashscope import DashScopeProvider
from wanbot.providers.encoding import palette_ratios
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
    ASPECT_RATIOS,
    GenerationRequest,
    InputImage,
    JobState,
    JobStatus,
    PaletteColor,
)
from wanbot.providers.sizes import size_table

# The shared fake base stores the parsed body under a str key, which aiohttp warns about (and
# filterwarnings=error turns into a 500). Drop this once the base uses a web.RequestKey.

RETRY = RetryPolicy(attempts=3, base_delay_s=0.01, max_delay_s=0.02, max_retry_after_s=0.05)
SUBMIT = "/services/aigc/image-generation/generation"


@pytest.fixture
async def fake() -> AsyncIterator[FakeDashScope]:
    server = FakeDashScope(job_duration_s=0.06)
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


def make_provider(
    fake: FakeDashScope,
    session: aiohttp.ClientSession,
    *,
    api_key: str | None = None,
    model: str = "wan2.7-image-pro",
) -> DashScopeProvider:
    config = DashScopeConfig(base_url=fake.base_url, model=model)
    return DashScopeProvider(config, api_key=api_key or fake.api_key, session=session, retry=RETRY)


@pytest.fixture
def provider(fake: FakeDashScope, session: aiohttp.ClientSession) -> DashScopeProvider:
    return make_provider(fake, session)


async def finish(provider: DashScopeProvider, job_id: str, timeout_s: float = 3.0) -> JobStatus:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        status = await provider.get_status(job_id)
        if status.state.terminal:
            return status
        assert asyncio.get_running_loop().time() < deadline, f"still {status.state}"
        await asyncio.sleep(0.02)


def last_body(fake: FakeDashScope) -> dict[str, Any]:
    body = fake.submissions(SUBMIT)[-1].body
    assert isinstance(body, dict)
    return body


def image_file(
    tmp_path: Path, name: str, size: tuple[int, int], fmt: str, content_type: str | None = None
) -> InputImage:
    buf = io.BytesIO()
    Image.new("RGB", size, (10, 120, 200)).save(buf, format=fmt)
    path = tmp_path / name
    path.write_bytes(buf.getvalue())
    return InputImage(
        path=str(path),
        content_type=content_type or f"image/{fmt.lower()}",
        width=size[0],
        height=size[1],
        size_bytes=len(buf.getvalue()),
        filename=name,
    )


def documented_sizes() -> dict[tuple[str, str], str]:
    """The aspect ratio × tier table as written in the provider's module docstring."""
    assert dashscope.__doc__ is not None
    table: dict[tuple[str, str], str] = {}
    for match in re.finditer(
        r"^\s+(\d+:\d+)\s+(\d+\*\d+)\s+(\d+\*\d+)\s+(\d+\*\d+)\s*$", dashscope.__doc__, re.M
    ):
        for tier, size in zip(("1K", "2K", "4K"), match.groups()[1:], strict=True):
            table[(match[1], tier)] = size
    return table


# -- text to image ----------------------------------------------------------------------------
async def test_text_to_image_delivers_real_pngs(fake, provider, session):
    request = GenerationRequest(prompt="a lighthouse", aspect_ratio="16:9", n=2, seed=7)
    submitted = await provider.submit(request)
    assert submitted.state is JobState.QUEUED
    assert submitted.job_id in fake.tasks

    done = await finish(provider, submitted.job_id)

    assert done.state is JobState.SUCCEEDED
    assert done.cost == 2.0
    assert len(done.images) == 2
    for image in done.images:
        async with session.get(image.url) as resp:
            assert resp.status == 200
            data = await resp.read()
        with Image.open(io.BytesIO(data)) as png:
            assert png.format == "PNG"
            assert png.size == (64, 36)
    sent = fake.submissions(SUBMIT)[-1]
    assert sent.headers["X-DashScope-Async"] == "enable"
    assert sent.headers["Authorization"] == f"Bearer {fake.api_key}"
    assert sent.body == {
        "model": "wan2.7-image-pro",
        "input": {"messages": [{"role": "user", "content": [{"text": "a lighthouse"}]}]},
        "parameters": {
            "size": "2720*1536",
            "n": 2,
            "watermark": False,
            "enable_sequential": False,
            "seed": 7,
        },
    }


def test_docstring_size_table_matches_sizes():
    expected = {(ar, tier): f"{w}*{h}" for ar, tier, w, h in size_table()}
    assert documented_sizes() == expected
    assert len(expected) == len(ASPECT_RATIOS) * 3


@pytest.mark.parametrize(("aspect_ratio", "tier", "width", "height"), size_table())
async def test_each_ratio_and_tier_sends_documented_size(
    fake, provider, aspect_ratio, tier, width, height
):
    request = GenerationRequest(prompt="p", aspect_ratio=aspect_ratio, size=tier)
    status = await provider.submit(request)
    assert status.state is JobState.QUEUED
    assert last_body(fake)["parameters"]["size"] == documented_sizes()[(aspect_ratio, tier)]
    assert fake.tasks[status.job_id].width == width
    assert fake.tasks[status.job_id].height == height


async def test_edit_tiers_are_accepted_for_every_ratio(fake, provider, tmp_path):
    source = image_file(tmp_path, "in.png", (300, 300), "PNG")
    for aspect_ratio in ASPECT_RATIOS:
        for tier in ("1K", "2K"):
            request = GenerationRequest(
                prompt="p", aspect_ratio=aspect_ratio, size=tier, input_images=(source,)
            )
            await provider.submit(request)
            assert last_body(fake)["parameters"]["size"] == documented_sizes()[(aspect_ratio, tier)]
    assert len(fake.tasks) == len(ASPECT_RATIOS) * 2


async def test_explicit_size_is_sent_as_given(fake, provider):
    await provider.submit(GenerationRequest(prompt="p", size="1600*900"))
    assert last_body(fake)["parameters"]["size"] == "1600*900"


@pytest.mark.parametrize(
    ("model", "fields", "reason"),
    [
        ("wan2.7-image-pro", {"size": "100*100"}, "too small"),
        ("wan2.7-image-pro", {"size": "4200*4200"}, "too large"),
        ("wan2.7-image-pro", {"size": "5700*700"}, "between 1:8 and 8:1"),
        ("wan2.7-image-pro", {"size": "2600*2600", "image_set": True}, "too large"),
        ("wan2.7-image-pro", {"size": "4K", "image_set": True}, "4K image sets"),
        ("wan2.7-image", {"size": "4K"}, "4K with wan2.7-image"),
        ("wan2.7-image", {"size": "3000*3000"}, "too large"),
    ],
)
async def test_sizes_outside_documented_limits_are_refused(fake, session, model, fields, reason):
    provider = make_provider(fake, session, model=model)
    request = GenerationRequest(prompt="p", **fields)
    with pytest.raises(UnsupportedRequest, match=reason):
        provider.check(request)
    with pytest.raises(UnsupportedRequest):
        await provider.submit(request)
    assert fake.requests == []


# -- edit -------------------------------------------------------------------------------------
async def test_edit_sends_data_uris_the_fake_decodes(fake, provider, tmp_path):
    png = image_file(tmp_path, "a.png", (300, 400), "PNG")
    jpeg = image_file(tmp_path, "b.jpg", (500, 250), "JPEG")
    # Mislabelled by its uploader: the bytes, not the label, decide the data URI's type.
    webp = image_file(tmp_path, "c.webp", (260, 260), "WEBP", content_type="image/png")
    request = GenerationRequest(
        prompt="merge them", size="1K", aspect_ratio="4:3", input_images=(png, jpeg, webp)
    )

    done = await finish(provider, (await provider.submit(request)).job_id)

    assert done.state is JobState.SUCCEEDED
    content = last_body(fake)["input"]["messages"][0]["content"]
    assert content[0] == {"text": "merge them"}
    for item, source, mime in zip(
        content[1:], (png, jpeg, webp), ("image/png", "image/jpeg", "image/webp"), strict=True
    ):
        prefix = f"data:{mime};base64,"
        assert item["image"].startswith(prefix)
        sent = base64.b64decode(item["image"][len(prefix) :])
        assert sent == await asyncio.to_thread(Path(source.path).read_bytes)


async def test_edit_image_gone_from_disk_is_a_bad_request(fake, provider, tmp_path):
    source = image_file(tmp_path, "gone.png", (300, 300), "PNG")
    await asyncio.to_thread(Path(source.path).unlink)
    with pytest.raises(BadRequest, match=r"gone\.png"):
        await provider.submit(GenerationRequest(prompt="p", input_images=(source,)))
    assert fake.requests == []


# -- parameters -------------------------------------------------------------------------------
@pytest.mark.parametrize("thinking", [None, True, False])
async def test_thinking_mode_sent_only_when_chosen(fake, provider, thinking):
    await provider.submit(GenerationRequest(prompt="p", thinking=thinking))
    parameters = last_body(fake)["parameters"]
    if thinking is None:
        assert "thinking_mode" not in parameters
    else:
        assert parameters["thinking_mode"] is thinking


@pytest.mark.parametrize("count", [3, 7, 10])
async def test_palette_ratios_total_exactly_100(fake, provider, count):
    palette = tuple(PaletteColor(hex=f"#{i:02x}8040", share=100 / count) for i in range(count))
    status = await provider.submit(GenerationRequest(prompt="p", palette=palette))
    assert status.state is JobState.QUEUED  # the fake checks the total too
    sent = last_body(fake)["parameters"]["color_palette"]
    assert [c["hex"] for c in sent] == [c.hex for c in palette]
    assert all(re.fullmatch(r"\d+\.\d\d%", c["ratio"]) for c in sent)
    assert sum(round(float(c["ratio"][:-1]) * 100) for c in sent) == 10_000


@given(st.lists(st.floats(min_value=0.5, max_value=60), min_size=3, max_size=10))
def test_palette_rounding_stays_close_and_sums_to_100(weights):
    total = sum(weights)
    palette = tuple(PaletteColor(hex="#ABCDEF", share=w * 100 / total) for w in weights)
    units = [round(float(c["ratio"][:-1]) * 100) for c in palette_ratios(palette)]
    assert sum(units) == 10_000
    for unit, weight in zip(units, weights, strict=True):
        assert unit >= 1
        assert abs(unit - weight * 10_000 / total) < 1


async def test_image_set_sends_enable_sequential(fake, provider):
    await provider.submit(GenerationRequest(prompt="p", n=12, image_set=True))
    parameters = last_body(fake)["parameters"]
    assert parameters["enable_sequential"] is True
    assert parameters["n"] == 12


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


# -- capability checks ------------------------------------------------------------------------
def _tiny_input(tmp_path: Path) -> dict[str, Any]:
    return {"input_images": (image_file(tmp_path, "tiny.png", (100, 100), "PNG"),)}


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (lambda _: GenerationRequest(prompt="p", negative_prompt="blur"), "negative prompt"),
        (
            lambda t: GenerationRequest(
                prompt="p", size="4K", input_images=(image_file(t, "a.png", (300, 300), "PNG"),)
            ),
            "can't make 4K for editing",
        ),
        (lambda _: GenerationRequest.model_construct(prompt="p", n=5), "up to 4 images"),
        (lambda t: GenerationRequest(prompt="p", **_tiny_input(t)), "at least 240"),
    ],
)
async def test_capability_check_refuses_before_any_request(fake, provider, tmp_path, make, reason):
    request = make(tmp_path)
    with pytest.raises(UnsupportedRequest, match=reason):
        provider.check(request)
    with pytest.raises(UnsupportedRequest, match=reason):
        await provider.submit(request)
    assert fake.requests == []


# -- secrets ----------------------------------------------------------------------------------
async def test_key_never_in_logs_or_errors(fake, provider, session, caplog):
    caplog.set_level(logging.DEBUG)
    key = fake.api_key
    errors: list[ProviderError] = []
    fake.inject(SUBMIT, Fault("429", retry_after=0.01))
    fake.reject(SUBMIT, 400, "InvalidParameter", f"header was Bearer {key}")
    with pytest.raises(BadRequest) as caught:
        await provider.submit(GenerationRequest(prompt="p"))
    errors.append(caught.value)
    fake.reject("/tasks/", 503, "InternalError", f"key {key}", times=RETRY.attempts)
    with pytest.raises(Unavailable) as unavailable:
        await provider.get_status("t")
    errors.append(unavailable.value)
    fake.respond(
        "/tasks/",
        200,
        {"output": {"task_status": "FAILED", "code": "Boom", "message": f"bad key {key}"}},
    )
    failed = await provider.get_status("t")
    assert failed.error is not None
    errors.append(failed.error)
    wrong = make_provider(fake, session, api_key="sk-other-secret-9999")
    with pytest.raises(AuthError) as auth:
        await wrong.submit(GenerationRequest(prompt="p"))
    errors.append(auth.value)

    assert "[redacted]" in errors[0].user_message
    assert "[redacted]" in errors[2].user_message
    for error in errors:
        for text in (str(error), repr(error), error.user_message):
            assert key not in text
            assert "sk-other-secret-9999" not in text
    assert caplog.records
    for record in caplog.records:
        assert key not in record.getMessage()
    assert key not in caplog.text


# -- the fake itself --------------------------------------------------------------------------
def _png_uri(size: tuple[int, int], fmt: str = "PNG", mime: str = "image/png") -> str:
    buf = io.BytesIO()
    Image.new("RGB", size).save(buf, format=fmt)
    return f"data:{mime};base64,{base64.b64encode(buf.getvalue()).decode()}"


def _body(
    *, images: list[str] | None = None, model: str = "wan2.7-image-pro", **parameters: Any
) -> dict[str, Any]:
    content: list[dict[str, str]] = [{"text": "p"}] + [{"image": i} for i in images or []]
    return {
        "model": model,
        "input": {"messages": [{"role": "user", "content": content}]},
        "parameters": parameters,
    }


def _mutated(change: Any) -> dict[str, Any]:
    body = _body()
    change(body)
    return body


GOOD = "https://example.com/a.png"


@pytest.mark.parametrize(
    "body",
    [
        _body(size="4K", n=4, seed=0, watermark=False, thinking_mode=True),
        _body(size="1K", n=12, enable_sequential=True),
        _body(images=[GOOD] * 9, size="2048*2048"),
        _body(images=[_png_uri((240, 1920)), _png_uri((300, 300), "WEBP", "image/webp")]),
        _body(images=[_png_uri((300, 300), "JPEG", "image/jpg")]),
        _body(images=[GOOD], bbox_list=[[[0, 0, 10, 10]]]),
        _body(model="wan2.7-image", size="768*768", seed=2_147_483_647),
        _body(
            color_palette=[
                {"hex": "#FF0000", "ratio": "33.34%"},
                {"hex": "#00ff00", "ratio": "33.33%"},
                {"hex": "#0000FF", "ratio": "33.33%"},
            ]
        ),
    ],
)
async def test_fake_accepts_valid_bodies(fake, session, body):
    async with session.post(
        f"{fake.base_url}{SUBMIT}",
        json=body,
        headers={"Authorization": f"Bearer {fake.api_key}", "X-DashScope-Async": "enable"},
    ) as resp:
        assert resp.status == 200, await resp.text()
        answer = await resp.json()
    assert answer["output"]["task_status"] == "PENDING"


@pytest.mark.parametrize(
    ("body", "code", "words"),
    [
        (_mutated(lambda b: b.update(extra=1)), "InvalidParameter", "Unknown field"),
        (_body(model="wan2.6-image"), "InvalidParameter.ModelNotFound", "Model"),
        (_body(negative_prompt="x"), "InvalidParameter", "Unknown parameter"),
        (
            _mutated(lambda b: b["input"]["messages"].append(b["input"]["messages"][0])),
            "InvalidParameter",
            "exactly one message",
        ),
        (
            _mutated(lambda b: b["input"]["messages"][0].update(role="assistant")),
            "InvalidParameter",
            "role",
        ),
        (
            _mutated(lambda b: b["input"]["messages"][0]["content"][0].update(image=GOOD)),
            "InvalidParameter",
            "exactly one of",
        ),
        (
            _mutated(lambda b: b["input"]["messages"][0]["content"].append({"text": "q"})),
            "InvalidParameter",
            "exactly one text",
        ),
        (
            _mutated(lambda b: b["input"]["messages"][0]["content"][0].update(text="x" * 5001)),
            "InvalidParameter",
            "5000",
        ),
        (_body(images=[GOOD] * 10), "InvalidParameter", "At most 9"),
        (_body(images=["ftp://example.com/a.png"]), "InvalidURL", "neither"),
        (_body(images=["data:image/png;base64,!!!"]), "InvalidParameter", "base64"),
        (_body(images=[_png_uri((100, 100))]), "InvalidParameter", "sides"),
        (_body(images=[_png_uri((240, 2000))]), "InvalidParameter", "1:8"),
        (_body(images=[_png_uri((300, 300), "GIF", "image/gif")]), "InvalidParameter", "GIF"),
        (_body(images=[_png_uri((300, 300), "JPEG")]), "InvalidParameter", "holds image/jpeg"),
        (_body(images=[GOOD], size="4K"), "InvalidParameter", "4K"),
        (_body(size="4K", enable_sequential=True), "InvalidParameter", "4K"),
        (_body(model="wan2.7-image", size="4K"), "InvalidParameter", "4K"),
        (_body(images=[GOOD], size="3000*3000"), "InvalidParameter", "pixels"),
        (_body(size="700*700"), "InvalidParameter", "pixels"),
        (_body(size="4000*480"), "InvalidParameter", "1:8"),
        (_body(size="2k"), "InvalidParameter", "size"),
        (_body(n=5), "InvalidParameter", "between 1 and 4"),
        (_body(n=13, enable_sequential=True), "InvalidParameter", "between 1 and 12"),
        (_body(n=True), "InvalidParameter", "integer"),
        (_body(seed=-1), "InvalidParameter", "seed"),
        (_body(seed=2_147_483_648), "InvalidParameter", "seed"),
        (_body(seed="1"), "InvalidParameter", "integer"),
        (_body(watermark="false"), "InvalidParameter", "boolean"),
        (
            _body(color_palette=[{"hex": "#FF0000", "ratio": "50.00%"}] * 2),
            "InvalidParameter",
            "3 to 10",
        ),
        (
            _body(color_palette=[{"hex": "#FF0000", "ratio": "33.33%"}] * 3),
            "InvalidParameter",
            "99.99%",
        ),
        (
            _body(color_palette=[{"hex": "red", "ratio": "34.00%"}] * 3),
            "InvalidParameter",
            "hex",
        ),
        (
            _body(enable_sequential=True, color_palette=[{"hex": "#FF0000", "ratio": "34%"}] * 3),
            "InvalidParameter",
            "enable_sequential",
        ),
        (_body(images=[GOOD], bbox_list=[[[0, 0, 1]]]), "InvalidParameter", "box"),
    ],
)
async def test_fake_rejects_invalid_bodies(fake, session, body, code, words):
    async with session.post(
        f"{fake.base_url}{SUBMIT}",
        json=body,
        headers={"Authorization": f"Bearer {fake.api_key}", "X-DashScope-Async": "enable"},
    ) as resp:
        assert resp.status == 400
        answer = await resp.json()
    assert set(answer) == {"request_id", "code", "message"}
    assert answer["code"] == code
    assert words in answer["message"]
    assert fake.tasks == {}


async def test_fake_refuses_synchronous_calls_and_wrong_keys(fake, session):
    url = f"{fake.base_url}{SUBMIT}"
    headers = {"Authorization": f"Bearer {fake.api_key}"}
    async with session.post(url, json=_body(), headers=headers) as resp:
        assert resp.status == 400
        assert "does not support synchronous calls" in (await resp.json())["message"]
    async with session.get(f"{fake.base_url}/tasks/x", headers={"Authorization": "Bearer no"}) as r:
        assert r.status == 401
        assert (await r.json())["code"] == "InvalidApiKey"


async def test_fake_expired_results_answer_404(fake, provider, session):
    done = await finish(provider, (await provider.submit(GenerationRequest(prompt="p"))).job_id)
    fake.expire_results = True
    async with session.get(done.images[0].url) as resp:
        assert resp.status == 404
