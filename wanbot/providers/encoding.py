"""Request pieces that several hosts encode the same way: palettes and inline input images."""

from __future__ import annotations

import asyncio
import base64
from pathlib import Path
from typing import Any

from wanbot.providers.errors import BadRequest
from wanbot.providers.models import GenerationRequest, InputImage, PaletteColor


def wan_options(request: GenerationRequest) -> dict[str, Any]:
    """The model options PixelDojo and DashScope both take under Wan's own names (each puts them
    in its own place in the body): only those the member set."""
    found: dict[str, Any] = {}
    if request.seed is not None:
        found["seed"] = request.seed
    if request.thinking is not None:
        found["thinking_mode"] = request.thinking
    if request.palette:
        found["color_palette"] = palette_ratios(request.palette)
    return found


def palette_ratios(palette: tuple[PaletteColor, ...]) -> list[dict[str, str]]:
    """`{hex, ratio}` entries whose two-decimal ratios total exactly 100.00%.

    Shares are scaled to hundredths of a percent and rounded by largest remainder, so each ratio
    is within 0.01 of its exact value, none drops to zero, and the hosts' exact-sum check passes.
    """
    total = sum(c.share for c in palette)
    exact = [c.share * 10_000 / total for c in palette]
    units = [max(1, int(x)) for x in exact]
    by_remainder = sorted(range(len(exact)), key=lambda i: exact[i] - int(exact[i]), reverse=True)
    shortfall = 10_000 - sum(units)
    for i in by_remainder[: max(shortfall, 0)]:
        units[i] += 1
    while sum(units) > 10_000:  # only when tiny shares were lifted to 0.01
        units[units.index(max(units))] -= 1
    return [
        {"hex": c.hex, "ratio": f"{u // 100}.{u % 100:02d}%"}
        for c, u in zip(palette, units, strict=True)
    ]


async def data_uri(image: InputImage, provider: str) -> str:
    """The kept copy of an input image, inline (Discord's own links expire)."""
    try:
        data = await asyncio.to_thread(Path(image.path).read_bytes)
    except OSError as e:
        raise BadRequest(
            f"the image to edit ({image.filename}) is no longer available", provider=provider
        ) from e
    # The bytes, not a label, decide the type: a host that checks would refuse a mismatch.
    mime = _sniff(data) or image.content_type
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


def _sniff(data: bytes) -> str | None:
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data.startswith(b"BM"):
        return "image/bmp"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None
