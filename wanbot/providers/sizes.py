"""Output dimensions for an aspect ratio and a size tier.

A tier names a pixel budget: 1K is about 1024×1024 pixels, 2K about 2048×2048, 4K about
4096×4096. Each side is rounded down to a multiple of 16 so the total stays within the budget.
"""

from __future__ import annotations

import math

from wanbot.providers.models import ASPECT_RATIOS, SIZE_TIERS, AspectRatio, SizeTier

TIER_SIDE: dict[SizeTier, int] = {"1K": 1024, "2K": 2048, "4K": 4096}


def dimensions(aspect_ratio: AspectRatio, size: str) -> tuple[int, int]:
    """Width and height for a tier (1K/2K/4K) and an aspect ratio, or an explicit `W*H`."""
    if "*" in size:
        width, height = size.split("*", 1)
        return int(width), int(height)
    side = next(px for tier, px in TIER_SIDE.items() if tier == size)
    rw, rh = (int(part) for part in aspect_ratio.split(":"))
    scale = math.sqrt(side * side / (rw * rh))
    return _down16(rw * scale), _down16(rh * scale)


def _down16(value: float) -> int:
    return max(16, int(value) // 16 * 16)


def size_table() -> list[tuple[AspectRatio, SizeTier, int, int]]:
    """Every (aspect ratio, tier) pair with its dimensions, for documentation and tests."""
    return [(ar, tier, *dimensions(ar, tier)) for tier in SIZE_TIERS for ar in ASPECT_RATIOS]
