"""Contract tests: the DashScope client against the strict fake, for what it sends: sizes,
edit inputs, parameters, capability checks, and never its key."""

from __future__ import annotations

import asyncio
import base64
import io
import logging
import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image

from tests.fakes.provider_server import Fault
from tests.providers.dashscope.kit import (
    RETRY,
    SUBMIT,
    documented_sizes,
    finish,
    image_file,
    last_body,
    make_provider,
)
from wanbot.providers.encoding import palette_ratios
from wanbot.providers.errors import (
    AuthError,
    BadRequest,
    ProviderError,
    Unavailable,
    UnsupportedRequest,
)
from wanbot.providers.models import (
    ASPECT_RATIOS,
    GenerationRequest,
    JobState,
    PaletteColor,
)
from wanbot.providers.sizes import size_table


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
