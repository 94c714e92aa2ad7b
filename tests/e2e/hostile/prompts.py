"""Hostile prompts and palettes, and what the bot is expected to make of them."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Literal

from hypothesis import strategies as st

Verdict = Literal["ok", "bad", "any"]  # certainly admitted / certainly refused / either is fine

USERS = ("alice", "bob")
CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")  # what wanbot.options strips
MOCK_NEGATIVE_MAX = 500
PROMPT_MAX = 5000
DISCORD_STRING_MAX = 6000


def combine(*verdicts: Verdict) -> Verdict:
    if "bad" in verdicts:
        return "bad"
    return "any" if "any" in verdicts else "ok"


# -- what the bot is expected to make of a prompt ------------------------------------------------


def cleaned(text: str) -> str:
    return CONTROL.sub("", text).strip()


def visible(text: str) -> bool:
    return any(not c.isspace() and unicodedata.category(c) not in ("Cc", "Cf") for c in text)


def text_verdict(text: str, limit: int, *, known_safe: bool) -> Verdict:
    """A prompt is refused when nothing visible is left, it is too long or it names a blocked
    word; a prompt made only of safe words and inert fragments is otherwise admitted, anything
    else may meet the content filter."""
    kept = cleaned(text)
    if not visible(kept) or len(kept) > limit or BLOCKED in kept.split():
        return "bad"
    return "ok" if known_safe else "any"


@dataclass(frozen=True)
class Ids:
    alice: int
    bob: int
    role: int
    channel: int


SAFE_WORDS = ("a", "red", "fox", "in", "snow", "castle", "by", "the", "lake", "at", "dawn", "owl")
BLOCKED = "volcano"  # on the server's blocklist: a prompt naming it is refused


def hostile_fragments(ids: Ids) -> list[str]:
    return [
        "@everyone",
        "@here",
        "@ everyone",
        "@\u200beveryone",
        f"<@{ids.alice}>",
        f"<@!{ids.bob}>",
        f"<@&{ids.role}>",
        f"<#{ids.channel}>",
        "<@1>",
        "<@123456789012345678901234>",
        "**bold**",
        "__under__",
        "~~strike~~",
        "`code`",
        "```py\nprint(1)\n```",
        "||spoiler||",
        "> quote",
        "# Heading",
        "-# small",
        "[link](https://example.com)",
        "https://discord.gg/invite",
        "\\",
        "\u200b",
        "\u200d",
        "\u202e",
        "\ufeff",
        "\u2060",
        "\x00",
        "\x07",
        "\x1b[31m",
        "\x7f",
        "\r\n",
        "\t",
        "\n\n\n",
        "😀",
        "👩‍👩‍👧",
        "e\u0301",
        "\u3164",
        "Ω≈ç√",
        "'; DROP TABLE jobs; --",
        "{prompt}",
        "%s%n",
    ]


def prompts(
    ids: Ids, limit: int = PROMPT_MAX, *, hostile: bool = True
) -> st.SearchStrategy[tuple[str, Verdict]]:
    """(prompt, verdict) pairs: made of safe words and hostile fragments (mentions, markdown,
    control and zero-width characters), or when `hostile` also blank or invisible, around the
    length limits, or arbitrary text."""
    fragments = hostile_fragments(ids)
    composed = st.lists(
        st.one_of(st.sampled_from(SAFE_WORDS), st.sampled_from(fragments), st.just(BLOCKED)),
        min_size=1,
        max_size=14,
    ).map(lambda parts: " ".join(parts))

    def judged(text: str, safe: bool) -> tuple[str, Verdict]:
        return text, text_verdict(text, limit, known_safe=safe)

    if not hostile:
        return composed.map(lambda t: judged(t, True))
    blank = st.sampled_from(
        ["", " ", "   ", "\t\n", "\u200b", "\u200b\u200d \ufeff", "\x00\x01", "\n\u2060\n", "\x7f"]
    )
    long = st.integers(limit - 10, DISCORD_STRING_MAX + 10).map(lambda k: ("fox " * k)[:k])
    return st.one_of(
        blank.map(lambda t: judged(t, True)),
        long.map(lambda t: judged(t, True)),
        st.text(max_size=300).map(lambda t: judged(t, False)),
    )


# Characters that render as nothing or only reorder text: format characters (zero-width, bidi
# embeddings and overrides, isolates, tags) and other default-ignorable marks.
INVISIBLE = (
    "\u200b",
    "\u200c",
    "\u200d",
    "\u2060",
    "\ufeff",
    "\u00ad",
    "\u034f",
    "\u202a",
    "\u202e",
    "\u2066",
    "\u2069",
    "\u200f",
    "\u180e",
    "\u3164",
    "\ufe0f",
    "\U000e0070",
    "\U000e007f",
)
# Refused wherever they stand in a prompt here: the server's word, and built-in ones (the test
# channel runs filtered).
ALWAYS_BLOCKED = (BLOCKED, "porn", "nsfw", "hentai", "loli")


@st.composite
def disguised(draw: st.DrawFn) -> tuple[str, Verdict]:
    """A blocked word with invisible or direction characters inside or around it, among safe
    words: people and the model read the word, so the filter must too."""
    word = draw(st.sampled_from(ALWAYS_BLOCKED))
    cuts = draw(
        st.lists(
            st.tuples(st.integers(0, len(word)), st.sampled_from(INVISIBLE)),
            min_size=1,
            max_size=4,
        )
    )
    for at, char in sorted(cuts, reverse=True):
        word = word[:at] + char + word[at:]
    before = draw(st.lists(st.sampled_from(SAFE_WORDS), max_size=4))
    after = draw(st.lists(st.sampled_from(SAFE_WORDS), max_size=4))
    return " ".join([*before, word, *after]), "bad"


def discord_string_ok(text: str, low: int, high: int) -> bool:
    return low <= len(text) <= high


# -- palettes ------------------------------------------------------------------------------------

hex_colour = st.integers(0, 0xFFFFFF).map(lambda v: f"#{v:06X}")
separator = st.sampled_from([" ", ",", ", ", "  ", "\t"])
JUNK_ITEMS = (
    "red",
    "#GGGGGG",
    "#FFF",
    "FF0000",
    "#FF0000:abc%",
    "#FF0000:50",
    "#FF0000:-5%",
    "#FF0000:0%",
    "#FF0000:101%",
    "#FF0000:1000%",
    "#FF0000:%",
    "@everyone",
    "<@&123456789012345678>",
    "#FF0000FF",
    "#ＦＦ0000",
)


@st.composite
def palettes(draw: st.DrawFn, hostile: bool) -> tuple[str, Verdict]:
    bad = ["count", "junk", "total", "over", "arbitrary"]
    kind = draw(st.sampled_from(bad if hostile else ["plain", "shares", "partial"]))
    sep = draw(separator)
    if kind == "arbitrary":
        return draw(st.text(max_size=220)), "any"
    if kind == "count":
        count = draw(st.sampled_from([0, 1, 2, 11, 12]))
        colours = draw(st.lists(hex_colour, min_size=count, max_size=count))
        return sep.join(colours) or " ", "bad"
    count = draw(st.integers(3, 10))
    colours = draw(st.lists(hex_colour, min_size=count, max_size=count))
    if kind == "plain":
        return sep.join(colours), "ok"
    if kind == "junk":
        colours[draw(st.integers(0, count - 1))] = draw(st.sampled_from(JUNK_ITEMS))
        return sep.join(colours), "bad"
    if kind == "shares":  # every share given, totalling exactly 100
        cuts = sorted(draw(st.sets(st.integers(1, 99), min_size=count - 1, max_size=count - 1)))
        shares = [b - a for a, b in zip([0, *cuts], [*cuts, 100], strict=True)]
        return sep.join(f"{c}:{s}%" for c, s in zip(colours, shares, strict=True)), "ok"
    if kind == "partial":  # some given, leaving a positive rest for the others
        given = draw(st.integers(1, count - 1))
        share = draw(st.integers(1, 90 // given))
        items = [f"{c}:{share}%" if i < given else c for i, c in enumerate(colours)]
        return sep.join(items), "ok"
    if kind == "total":  # every share given, not totalling 100
        shares = draw(st.lists(st.integers(1, 100), min_size=count, max_size=count))
        if abs(sum(shares) - 100) <= 0.01:
            shares[0] += 1 if shares[0] < 100 else -1
        return sep.join(f"{c}:{s}%" for c, s in zip(colours, shares, strict=True)), "bad"
    # "over": the shares given already reach 100% before every colour has one
    items = [f"{colours[0]}:60%", f"{colours[1]}:40.00%", *colours[2:]]
    return sep.join(items), "bad"
