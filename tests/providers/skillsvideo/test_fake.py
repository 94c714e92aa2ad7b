"""The fake skills.video is as strict as the documentation: it refuses what the real host would."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest

from tests.fakes.provider_server import make_png
from tests.providers.skillsvideo.kit import (
    Serve,
)


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
