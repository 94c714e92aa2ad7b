"""Contract tests: the PixelDojo client against the strict fake PixelDojo server, for what it
sends: text to image, edit mode, capability checks, and never its key."""

from __future__ import annotations

import asyncio
import io
import logging
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from PIL import Image
from pydantic import ValidationError

from tests.fakes.pixeldojo_server import FakePixelDojo
from tests.fakes.provider_server import Fault
from tests.providers.pixeldojo.kit import (
    PNG_MAGIC,
    StartFake,
    decode_data_uri,
    file_bytes,
    gets,
    make_provider,
    run_bodies,
    wait_done,
    write_image,
)
from wanbot.providers.errors import (
    AuthError,
    BadRequest,
    ProviderError,
    Unavailable,
    UnsupportedRequest,
)
from wanbot.providers.models import (
    GenerationRequest,
    InputImage,
    JobState,
    PaletteColor,
)
from wanbot.providers.pixeldojo import PixelDojoProvider

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
