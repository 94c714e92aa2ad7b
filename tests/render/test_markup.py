"""What members typed, echoed by the bot: inert markdown and mentions, no direction controls,
bounded length."""

from __future__ import annotations

import pytest

from cogs.render.markup import in_code, safe, shorten
from wanbot.text import BIDI_CONTROLS

BIDI = "".join(chr(c) for c in sorted(BIDI_CONTROLS))


@pytest.mark.parametrize("echo", [safe, lambda t: shorten(t, 300), in_code])
def test_no_direction_control_survives_an_echo(echo: object) -> None:
    assert callable(echo)
    text = f"a fox {BIDI} \u202e<@1> for"
    shown = echo(text)
    assert not BIDI_CONTROLS & {ord(c) for c in shown}, ascii(shown)
    assert "fox" in shown


def test_safe_makes_markdown_and_mentions_inert_and_bounds_length() -> None:
    shown = safe("@everyone **bold** <@123> `x`\n\n  lots   of   space")
    assert "@everyone" not in shown and "\\*\\*bold\\*\\*" in shown
    assert "\n" not in shown and "  " not in shown
    assert safe("x" * 500, 20) == "x" * 19 + "…"


def test_shorten_keeps_text_but_bounds_it() -> None:
    assert shorten("abc", 3) == "abc"
    assert shorten("abcd", 3) == "ab…"


def test_in_code_cannot_close_its_code_span() -> None:
    assert "`" not in in_code("a`b``c")
