"""build_request and parse_palette: every refusal in plain words, and the defaults filled in."""

from __future__ import annotations

import random
from typing import Any

import pytest

from cogs.render.refusals import refusal as render_refusal
from wanbot.errors import Refusal
from wanbot.options import MAX_PROMPT, build_request, clean_prompt, parse_palette
from wanbot.providers.models import ASPECT_RATIOS, MAX_SEED, PaletteColor


def _words(err: Refusal) -> str:
    """The reply without its closing "Nothing was charged.", which must appear exactly once."""
    text = render_refusal(err)
    assert text.count("Nothing was charged.") == 1 and ".." not in text, text
    return text.removesuffix(" Nothing was charged.")


def refusal(**options: Any) -> str:
    options.setdefault("prompt", "a red fox")
    with pytest.raises(Refusal) as err:
        build_request(**options)
    return _words(err.value)


def palette_refusal(text: str) -> str:
    with pytest.raises(Refusal) as err:
        parse_palette(text)
    return _words(err.value)


# -- prompts ----------------------------------------------------------------------------------


@pytest.mark.parametrize("prompt", ["", "   ", "\x00\x07\x1b", " \x7f\n\t "])
def test_empty_prompt_is_refused(prompt: str) -> None:
    assert refusal(prompt=prompt) == "The prompt is empty. Describe the image you want."


def test_control_characters_are_stripped() -> None:
    request = build_request(prompt="  a\x00 red\x1b fox\x7f\non snow\t ", seed=1)
    assert request.prompt == "a red fox\non snow"  # newlines and tabs are kept inside
    assert clean_prompt("\x0bok\x0c") == "ok"


def test_over_long_prompt_is_refused_after_stripping() -> None:
    message = refusal(prompt="x" * (MAX_PROMPT + 1))
    assert message == (
        f"The prompt has {MAX_PROMPT + 1:,} characters; the most any image host takes is "
        f"{MAX_PROMPT:,}."
    )
    # Control characters do not count towards the limit.
    assert len(build_request(prompt="x" * MAX_PROMPT + "\x00" * 10).prompt) == MAX_PROMPT


def test_negative_prompt_is_checked_too() -> None:
    assert refusal(negative_prompt="\x00 ") == (
        "The negative prompt is empty. Describe the image you want."
    )
    assert "The negative prompt has 5,001 characters" in refusal(negative_prompt="y" * 5001)
    assert build_request(prompt="p", negative_prompt="").negative_prompt is None
    assert build_request(prompt="p", negative_prompt=" blur\x01 ").negative_prompt == "blur"


# -- aspect ratio, size, n, seed --------------------------------------------------------------


@pytest.mark.parametrize("ratio", ["2:1", "1:1 ", "16/9", ""])
def test_bad_aspect_ratio(ratio: str) -> None:
    assert refusal(aspect_ratio=ratio) == (
        f"{ratio!r} is not an aspect ratio. Use one of 1:1, 16:9, 9:16, 4:3, 3:4, 5:4, 4:5."
    )


@pytest.mark.parametrize("ratio", ASPECT_RATIOS)
def test_every_aspect_ratio_is_accepted(ratio: str) -> None:
    assert build_request(prompt="p", aspect_ratio=ratio).aspect_ratio == ratio


@pytest.mark.parametrize("size", ["8K", "3K", "1024*1024", ""])
def test_bad_size(size: str) -> None:
    assert refusal(size=size) == f"{size!r} is not a size. Use 1K, 2K or 4K."


def test_size_is_case_insensitive_and_defaults() -> None:
    assert build_request(prompt="p", size="4k").size == "4K"
    request = build_request(prompt="p")
    assert (request.size, request.aspect_ratio, request.n, request.image_set) == (
        "2K",
        "1:1",
        1,
        False,
    )


@pytest.mark.parametrize("n", [0, -1, 13, 100])
def test_n_out_of_range(n: int) -> None:
    message = "n must be between 1 and 4 (up to 12 with image_set)."
    assert refusal(n=n) == message
    assert refusal(n=n, image_set=True) == message


@pytest.mark.parametrize("n", [5, 12])
def test_more_than_four_needs_image_set(n: int) -> None:
    assert refusal(n=n) == "More than 4 images needs image_set:true (a coherent set of images)."
    assert refusal(n=n, image_set=False) == refusal(n=n)
    request = build_request(prompt="p", n=n, image_set=True)
    assert (request.n, request.image_set) == (n, True)


def test_four_without_image_set_is_fine() -> None:
    assert build_request(prompt="p", n=4).n == 4


@pytest.mark.parametrize("seed", [-1, MAX_SEED + 1])
def test_seed_out_of_range(seed: int) -> None:
    assert refusal(seed=seed) == f"seed must be between 0 and {MAX_SEED}."


def test_seed_is_filled_when_absent() -> None:
    expected = random.Random(7).randint(0, MAX_SEED)
    assert build_request(prompt="p", rng=random.Random(7)).seed == expected
    seed = build_request(prompt="p").seed
    assert seed is not None and 0 <= seed <= MAX_SEED


@pytest.mark.parametrize("seed", [0, 42, MAX_SEED])
def test_given_seed_is_kept(seed: int) -> None:
    assert build_request(prompt="p", seed=seed, rng=random.Random(7)).seed == seed


# -- palettes ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "count"),
    [("", 0), ("#FF0000", 1), ("#FF0000 #00FF00", 2), (" ".join(["#123456"] * 11), 11)],
)
def test_palette_colour_count(text: str, count: int) -> None:
    assert palette_refusal(text) == (
        f"A palette needs 3 to 10 colours; you gave {count}. "
        "Example: palette:#FF0000 #00FF00 #0000FF"
    )


@pytest.mark.parametrize(
    "bad", ["#FFF", "red", "FF0000", "#GG0000", "#FF0000:", "#FF0000:25", "#FF0000:1000%"]
)
def test_palette_colour_format(bad: str) -> None:
    assert palette_refusal(f"#000000 #FFFFFF {bad}") == (
        f"{bad[:20]!r} is not a colour. Write each as #RRGGBB, optionally with a share "
        "like #FF8800:25%."
    )


def test_palette_long_junk_is_cut_in_the_message() -> None:
    junk = "#" + "Z" * 60
    assert palette_refusal(f"#000000 #FFFFFF {junk}").startswith(f"{junk[:20]!r} is not")


@pytest.mark.parametrize("item", ["#FF0000:0%", "#FF0000:100.5%", "#FF0000:150%"])
def test_palette_share_out_of_range(item: str) -> None:
    assert palette_refusal(f"#000000 #FFFFFF {item}") == f"{item} has a share outside 0-100%."


def test_palette_shares_must_total_100() -> None:
    assert palette_refusal("#FF0000:50% #00FF00:30% #0000FF:10%") == (
        "The palette's shares total 90%; they must total 100%."
    )
    assert palette_refusal("#FF0000:50% #00FF00:50% #0000FF:10%") == (
        "The palette's shares total 110%; they must total 100%."
    )
    assert palette_refusal("#FF0000:60% #00FF00:40% #0000FF") == (
        "The palette's shares already reach 100% before every colour."
    )


def test_palette_shares_default_to_equal() -> None:
    colours = parse_palette("#ff0000, #00ff00,#0000ff  #ffffff")
    assert colours == tuple(
        PaletteColor(hex=h, share=25.0) for h in ("#FF0000", "#00FF00", "#0000FF", "#FFFFFF")
    )
    three = parse_palette("#111111 #222222 #333333")
    assert [c.share for c in three] == pytest.approx([100 / 3] * 3)
    assert sum(c.share for c in three) == pytest.approx(100)


def test_palette_unset_shares_split_the_rest() -> None:
    colours = parse_palette("#FF0000:50% #00FF00 #0000FF:20% #FFFFFF")
    assert [(c.hex, c.share) for c in colours] == [
        ("#FF0000", 50.0),
        ("#00FF00", 15.0),
        ("#0000FF", 20.0),
        ("#FFFFFF", 15.0),
    ]
    exact = parse_palette("#FF0000:33.33% #00FF00:33.33% #0000FF:33.34%")
    assert sum(c.share for c in exact) == pytest.approx(100)


@pytest.mark.parametrize("count", range(3, 11))
def test_every_accepted_palette_totals_100(count: int) -> None:
    text = " ".join(f"#{i:06X}" for i in range(count))
    request = build_request(prompt="p", palette=text)
    assert request.palette is not None and len(request.palette) == count
    assert sum(c.share for c in request.palette) == pytest.approx(100)


def test_palette_with_image_set_is_refused() -> None:
    palette = "#FF0000 #00FF00 #0000FF"
    assert refusal(palette=palette, image_set=True, n=6) == (
        "A colour palette can't be combined with image_set. Remove one."
    )
    assert build_request(prompt="p", palette=palette, image_set=False).palette is not None
    assert build_request(prompt="p", palette="", image_set=True).palette is None


def test_bad_palette_in_build_request_is_a_refusal() -> None:
    assert refusal(palette="#FF0000").startswith("A palette needs 3 to 10 colours; you gave 1.")
