"""Characters that change what text looks like, or hide what it says.

`strip_invisible` removes every character that renders as nothing, before text is matched against
a filter: "p\u202aorn", "p\u034forn" and tag characters read as "porn" to people and to the model.
`neutralise_bidi` replaces the direction controls in text the bot echoes, so a prompt can't reorder
the rest of a caption (for instance the "for @member" after it).
"""

from __future__ import annotations

import unicodedata

# Unicode's Default_Ignorable_Code_Point set (DerivedCoreProperties.txt), less what is also Cf
# (caught by category). These render as nothing when a font has no glyph for them.
_IGNORABLE_RANGES = (
    (0x034F, 0x034F),  # combining grapheme joiner
    (0x115F, 0x1160),  # Hangul fillers
    (0x17B4, 0x17B5),  # Khmer inherent vowels
    (0x180B, 0x180F),  # Mongolian free variation selectors (U+180E is Cf)
    (0x3164, 0x3164),  # Hangul filler
    (0xFE00, 0xFE0F),  # variation selectors
    (0xFFA0, 0xFFA0),  # halfwidth Hangul filler
    (0x1D173, 0x1D17A),  # musical symbol formatting (Cf too)
    (0xE0000, 0xE0FFF),  # tags (Cf) and variation selectors supplement
)
# Bidi controls: embeddings and overrides, isolates, marks.
BIDI_CONTROLS = frozenset([*range(0x202A, 0x202F), *range(0x2066, 0x206A), 0x200E, 0x200F, 0x061C])


def is_invisible(char: str) -> bool:
    point = ord(char)
    if unicodedata.category(char) == "Cf":
        return True
    return any(low <= point <= high for low, high in _IGNORABLE_RANGES)


def strip_invisible(text: str) -> str:
    """`text` without format characters and other default-ignorable code points."""
    return "".join(char for char in text if not is_invisible(char))


def neutralise_bidi(text: str) -> str:
    """`text` with every bidi control removed, so it can't reorder what follows it."""
    return "".join(char for char in text if ord(char) not in BIDI_CONTROLS)
