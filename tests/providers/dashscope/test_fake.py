"""The fake DashScope is as strict as the documentation: it refuses what the real host would."""

from __future__ import annotations

import base64
import io
from typing import Any

import pytest
from PIL import Image

from tests.providers.dashscope.kit import (
    SUBMIT,
    finish,
)
from wanbot.providers.models import (
    GenerationRequest,
)


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
