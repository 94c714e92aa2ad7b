"""The fake PixelDojo is as strict as the documentation: it refuses what the real host would."""

from __future__ import annotations

import asyncio
import base64
from typing import Any

import aiohttp
import pytest

from tests.fakes.pixeldojo_server import FakePixelDojo
from tests.fakes.provider_server import make_png
from tests.providers.pixeldojo.kit import StartFake
from wanbot.providers.models import (
    MAX_SEED,
)

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


async def test_the_fake_s_rate_limit_refuses_submissions_above_it_until_a_slot_frees(
    start_fake: StartFake, session: aiohttp.ClientSession
) -> None:
    fake = await start_fake(submit_rate=(2, 0.5))
    url = f"{fake.base_url}/models/wan-2.7-image/run"
    headers = {"Authorization": f"Bearer {fake.api_key}"}

    async def submit() -> tuple[int, str | None]:
        async with session.post(url, json={"prompt": "x"}, headers=headers) as resp:
            return resp.status, resp.headers.get("Retry-After")

    answers = [await submit() for _ in range(3)]
    assert [status for status, _ in answers] == [202, 202, 429]
    wait = answers[2][1]
    assert wait is not None and 0 < float(wait) <= 0.5
    assert (len(fake.jobs), fake.rate_limited) == (2, 1)
    await asyncio.sleep(float(wait) + 0.05)
    assert (await submit())[0] == 202
    assert len(fake.jobs) == 3
