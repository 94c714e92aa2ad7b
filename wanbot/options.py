"""What a member typed, turned into a GenerationRequest or a Refusal naming the wrong option."""

from __future__ import annotations

import random
import re
import unicodedata
from collections.abc import Sequence

from pydantic import ValidationError

from wanbot.errors import Refusal, RefusalReason
from wanbot.providers.models import (
    ASPECT_RATIOS,
    MAX_SEED,
    SIZE_TIERS,
    SUFFIX_JOIN,
    AspectRatio,
    GenerationRequest,
    InputImage,
    PaletteColor,
)

MAX_PROMPT = 5000  # the longest any host takes; each provider's own limit is checked after
MAX_SUFFIX = 300  # a saved prompt suffix (/set suffix): a style, not a second prompt
_PALETTE_ITEM = re.compile(r"^(#[0-9A-Fa-f]{6})(?::(\d{1,3}(?:\.\d{1,2})?)%)?$")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def bad_option(problem: str, **details: object) -> Refusal:
    """A refusal naming the option that is wrong (`problem`) and the values the message needs."""
    return Refusal(RefusalReason.BAD_OPTION, {"problem": problem, **details})


def _visible(text: str) -> bool:
    """Whether anything would show: not only spaces, zero-width and other format characters."""
    return any(not c.isspace() and unicodedata.category(c) not in ("Cc", "Cf") for c in text)


def clean_prompt(text: str | None, what: str = "prompt") -> str:
    cleaned = _CONTROL.sub("", text or "").strip()
    if not _visible(cleaned):
        raise bad_option("empty", field=what)
    if len(cleaned) > MAX_PROMPT:
        raise bad_option("too_long", field=what, length=len(cleaned), limit=MAX_PROMPT)
    return cleaned


def clean_suffix(text: str) -> str:
    """A prompt suffix as /set saves it; a Refusal (prompt_suffix) when empty or too long."""
    cleaned = " ".join(_CONTROL.sub("", text).split())
    if not _visible(cleaned):
        raise Refusal(RefusalReason.PROMPT_SUFFIX, {"problem": "empty"})
    if len(cleaned) > MAX_SUFFIX:
        raise Refusal(
            RefusalReason.PROMPT_SUFFIX,
            {"problem": "too_long", "length": len(cleaned), "limit": MAX_SUFFIX},
        )
    return cleaned


def suffixed(prompt: str, suffix: str | None) -> str:
    """The prompt hosts get and moderation screens: the member's, then their saved suffix."""
    return f"{prompt}{SUFFIX_JOIN}{suffix}" if suffix else prompt


def parse_palette(text: str) -> tuple[PaletteColor, ...]:
    """`#RRGGBB` items separated by spaces or commas, each optionally `:NN%`; shares total 100."""
    items = [part for part in re.split(r"[\s,]+", text.strip()) if part]
    if not 3 <= len(items) <= 10:
        raise bad_option("palette_count", count=len(items))
    colours: list[tuple[str, float | None]] = []
    for item in items:
        match = _PALETTE_ITEM.match(item)
        if not match:
            raise bad_option("palette_item", item=item[:20])
        share = float(match[2]) if match[2] else None
        if share is not None and not 0 < share <= 100:
            raise bad_option("palette_share_range", item=item)
        colours.append((match[1].upper(), share))
    given = sum(s for _, s in colours if s is not None)
    unset = [c for c, s in colours if s is None]
    if unset:
        rest = 100.0 - given
        if rest <= 0:
            raise bad_option("palette_shares_full")
        each = rest / len(unset)
        colours = [(c, s if s is not None else each) for c, s in colours]
    elif abs(given - 100.0) > 0.01:
        raise bad_option("palette_total", total=given)
    return tuple(PaletteColor(hex=c, share=s or 0) for c, s in colours)


def checked_ratio(value: str) -> AspectRatio:
    """An aspect ratio a host can make, or a Refusal naming the ones there are."""
    for ratio in ASPECT_RATIOS:
        if value == ratio:
            return ratio
    raise bad_option("aspect_ratio", value=value, choices=list(ASPECT_RATIOS))


def checked_size(value: str) -> str:
    """A size tier in capitals ("2k" is 2K), or a Refusal naming the tiers."""
    if value.upper() not in SIZE_TIERS:
        raise bad_option("size", value=value, choices=list(SIZE_TIERS))
    return value.upper()


def build_request(
    *,
    prompt: str,
    negative_prompt: str | None = None,
    aspect_ratio: str | None = None,
    size: str | None = None,
    n: int | None = None,
    seed: int | None = None,
    thinking: bool | None = None,
    image_set: bool | None = None,
    palette: str | None = None,
    input_images: Sequence[InputImage] = (),
    safety_checker: bool | None = None,
    suffix: str | None = None,
    rng: random.Random | None = None,
) -> GenerationRequest:
    """Validate every option and fill a seed, so the result can be shown and rerolled. A saved
    `suffix` goes at the end of the prompt, and counts toward its length."""
    prompt = clean_prompt(prompt)
    if suffix:
        full = suffixed(prompt, suffix)
        if len(full) > MAX_PROMPT:
            raise Refusal(
                RefusalReason.PROMPT_SUFFIX,
                {"problem": "too_long_total", "length": len(full), "limit": MAX_PROMPT},
            )
        prompt = full
    negative = clean_prompt(negative_prompt, "negative prompt") if negative_prompt else None
    ratio = "1:1" if aspect_ratio is None else checked_ratio(aspect_ratio)
    if size is not None:
        size = checked_size(size)
    count = 1 if n is None else n
    if not 1 <= count <= 12:
        raise bad_option("n_range")
    if count > 4 and not image_set:
        raise bad_option("n_needs_image_set")
    if seed is not None and not 0 <= seed <= MAX_SEED:
        raise bad_option("seed_range", max=MAX_SEED)
    colours = parse_palette(palette) if palette else None
    if colours and image_set:
        raise bad_option("palette_with_image_set")
    chosen_seed = seed if seed is not None else (rng or random).randint(0, MAX_SEED)
    try:
        return GenerationRequest(
            prompt=prompt,
            negative_prompt=negative,
            aspect_ratio=ratio,
            size=(size or "2K").upper(),
            n=count,
            seed=chosen_seed,
            thinking=thinking,
            image_set=bool(image_set),
            palette=colours,
            input_images=tuple(input_images),
            safety_checker=safety_checker,
            suffix=suffix or None,
        )
    except ValidationError as e:
        first = e.errors()[0]["msg"].removeprefix("Value error, ")
        raise bad_option("combination", text=first) from None


def is_remix(request: GenerationRequest, parent: GenerationRequest) -> bool:
    """A request made from another one's result with different words (Remix), not a Reroll."""
    return (request.typed_prompt, request.negative_prompt) != (
        parent.typed_prompt,
        parent.negative_prompt,
    )


def remixed(
    request: GenerationRequest, *, prompt: str, negative_prompt: str | None, suffix: str | None
) -> GenerationRequest:
    """`request` with new words (Remix): the same options, seed and inputs included; the
    remixer's own suffix; the safety setting left for admission to decide again."""
    cleaned = clean_prompt(prompt)
    negative = clean_prompt(negative_prompt, "negative prompt") if negative_prompt else None
    full = suffixed(cleaned, suffix)
    if suffix and len(full) > MAX_PROMPT:
        raise Refusal(
            RefusalReason.PROMPT_SUFFIX,
            {"problem": "too_long_total", "length": len(full), "limit": MAX_PROMPT},
        )
    changes = {
        "prompt": full,
        "negative_prompt": negative,
        "suffix": suffix or None,
        "safety_checker": None,
    }
    try:
        return GenerationRequest.model_validate({**request.model_dump(), **changes})
    except ValidationError as e:
        first = e.errors()[0]["msg"].removeprefix("Value error, ")
        raise bad_option("combination", text=first) from None
