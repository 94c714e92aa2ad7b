"""Find English left in a message rendered for a zh-CN member.

Heuristic: take away what may stay as it is (Discord markup, URLs, code spans, the member's own
text echoed back, provider names, option values and `name:value` command options), then any run
of two or more ASCII words made of letters is an English phrase left untranslated.
A single word (JPEG, PNG, Discord, MB) may stay.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

PROVIDER_NAMES = ("PixelDojo", "skills.video", "DashScope", "Mock", "wanbot", "Wan 2.7 Pro")
_MARKUP = [
    r"<(?:@[!&]?|#)\d+>",  # mentions of members, roles, channels
    r"<t:-?\d+(?::[tTdDfFR])?>",  # timestamps Discord renders in the reader's language
    r"<a?:\w+:\d+>",  # custom emoji
    r"https?://\S+",
    r"```.*?```",
    r"`[^`]*`",
    r"(?<!\w)/[-\w]+",  # a command name: /imagine, /画图
    r"[-\w]+:(?:\S+)",  # an option as typed: provider:pixeldojo, 宽高比:16:9, channel:#name
    r"#[0-9A-Fa-f]{6}(?::\d+%)?",  # colours
    r"\b\d+(?:[.,]\d+)*\s*(?:K|MB|KB|GB|px)\b",  # sizes
    r"\b\d+\s*[:×x]\s*\d+\b",  # ratios and dimensions
]
_WORD_RUN = re.compile(r"[A-Za-z]+(?:['’][A-Za-z]+)?(?:[ \t]+[A-Za-z]+(?:['’][A-Za-z]+)?)+")


def english_left(text: str, *, echoed: Iterable[str] = ()) -> list[str]:
    """The English phrases left in `text`, after removing what may stay untranslated.

    `echoed` is member text the message repeats (prompts, reasons, file names): it is removed
    as given and in the escaped form the renderer shows (markdown escaped, whitespace folded).
    """
    remaining = text
    for item in sorted({*echoed, *_escaped(echoed)}, key=len, reverse=True):
        if item:
            remaining = remaining.replace(item, " ")
    for name in PROVIDER_NAMES:
        remaining = re.sub(re.escape(name), " ", remaining, flags=re.IGNORECASE)
    for pattern in _MARKUP:
        remaining = re.sub(pattern, " ", remaining, flags=re.DOTALL)
    # numbers glue nothing: "image 3 of 12" is the phrase "image of"
    remaining = re.sub(r"(?<![A-Za-z])\d[\d,.\-]*(?![A-Za-z])", "", remaining)
    return [" ".join(m.group(0).split()) for m in _WORD_RUN.finditer(remaining)]


def _escaped(items: Iterable[str]) -> list[str]:
    found = []
    for item in items:
        folded = " ".join(item.split())
        found.append(folded)
        found.append(re.sub(r"([_*~|`>\\])", r"\\\1", folded))
    return found


def assert_chinese(text: str, *, echoed: Iterable[str] = ()) -> None:
    """Fail with the English phrases left in a zh-CN message."""
    left = english_left(text, echoed=echoed)
    assert not left, f"English left in a zh-CN message: {left!r}\n---\n{text}"
