"""Invisible and direction-changing characters: removed before filtering, neutralised in echoes."""

from __future__ import annotations

import sys
import unicodedata

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wanbot.moderation import ContentFilter, clean_entry, normalise
from wanbot.store.base import BlockEntry
from wanbot.text import BIDI_CONTROLS, is_invisible, neutralise_bidi, strip_invisible

FILTER = ContentFilter()

# Every kind of character that renders as nothing and must not split a word in two.
INVISIBLE = [
    "\u00ad",  # soft hyphen
    "\u034f",  # combining grapheme joiner
    "\u061c",  # Arabic letter mark
    "\u115f",  # Hangul choseong filler
    "\u180e",  # Mongolian vowel separator
    "\u200b",
    "\u200c",
    "\u200d",
    "\u200e",
    "\u200f",
    "\u202a",
    "\u202b",
    "\u202c",
    "\u202d",
    "\u202e",
    "\u2060",
    "\u2061",
    "\u2064",
    "\u2066",
    "\u2067",
    "\u2068",
    "\u2069",
    "\u3164",  # Hangul filler
    "\ufe00",
    "\ufe0f",  # variation selectors
    "\ufeff",
    "\uffa0",
    "\U0001d173",  # musical symbol begin beam
    "\U000e0001",
    "\U000e0020",
    "\U000e0041",
    "\U000e007f",  # tag characters
    "\U000e0100",
    "\U000e01ef",  # variation selectors supplement
]


@pytest.mark.parametrize("char", INVISIBLE)
def test_each_invisible_character_is_stripped(char: str) -> None:
    assert strip_invisible(f"p{char}orn") == "porn"
    assert normalise(f"P{char}ORN") == "porn"


def test_every_format_character_counts_as_invisible() -> None:
    format_chars = [
        chr(point)
        for point in range(sys.maxunicode + 1)
        if unicodedata.category(chr(point)) == "Cf"
    ]
    assert len(format_chars) > 150
    assert all(is_invisible(c) for c in format_chars)


def test_visible_text_is_kept() -> None:
    text = "Ünïcödé 日本語 a-b_c! 😀 العربية"
    assert strip_invisible(text) == text
    assert neutralise_bidi(text) == text


def test_the_reported_bypasses_are_blocked() -> None:
    for prompt in ("p\u202aorn", "p\u034forn", "p\U000e0041orn", "n\ufe0fude", "l\u2066oli"):
        block = FILTER.check(prompt, filtered=True)
        assert block is not None, prompt


def test_bidi_controls_are_removed_from_echoed_text() -> None:
    spoof = "a fox \u202e\u2066 rof @admin\u2069"
    shown = neutralise_bidi(spoof)
    assert not any(ord(c) in BIDI_CONTROLS for c in shown)
    assert shown == "a fox  rof @admin"
    for point in BIDI_CONTROLS:
        assert neutralise_bidi(f"x{chr(point)}y") == "xy"


BLOCKED = ["porn", "nude", "hentai", "decapitate", "loli", "jailbait", "csam"]


@settings(max_examples=300, deadline=None)
@given(
    term=st.sampled_from(BLOCKED),
    inserts=st.lists(
        st.tuples(st.integers(min_value=0, max_value=20), st.sampled_from(INVISIBLE)),
        min_size=1,
        max_size=8,
    ),
    prefix=st.sampled_from(["", "a ", "draw a ", "Please: "]),
)
def test_invisible_characters_inserted_anywhere_still_block(
    term: str, inserts: list[tuple[int, str]], prefix: str
) -> None:
    chars = list(term)
    for position, char in inserts:
        chars.insert(position % (len(chars) + 1), char)
    prompt = prefix + "".join(chars)
    assert FILTER.check(prompt, filtered=True) is not None, ascii(prompt)
    entry = BlockEntry(id=1, pattern=clean_entry("dragon", False), is_regex=False)
    hidden = "".join(c + inserts[0][1] for c in "dragon")
    assert FILTER.check(f"a {hidden}", filtered=False, server=[entry]) is not None
