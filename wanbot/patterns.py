"""Server admins' blocklist patterns, run on RE2: matching time grows linearly with the text.

Python's `re` backtracks: a pattern like `(a+)+$` against forty "a"s and a "!" takes longer than the
universe has left, on the event loop that serves every server. RE2 has no backtracking (and so no
backreferences or lookaround); a pattern it can't compile is refused when it is added, with the
reason. Matching is bounded twice more: patterns by length, texts by length.
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass
from typing import Any

import re2

log = logging.getLogger(__name__)

MAX_PATTERN = 200
MAX_TEXT = 8000  # longer than any prompt Discord lets through; the rest is not looked at
MAX_PROGRAM_BYTES = 1 << 20  # RE2's memory for one compiled pattern

_OPTIONS = re2.Options()
_OPTIONS.case_sensitive = False
_OPTIONS.log_errors = False
_OPTIONS.max_mem = MAX_PROGRAM_BYTES


class PatternError(ValueError):
    """Why a pattern can't be used: `reason` is one of too_long, invalid, matches_everything."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True)
class UserPattern:
    """A compiled server pattern; `search` runs in time linear in the text."""

    source: str
    _program: Any

    def search(self, text: str) -> str | None:
        """The first part of `text` (cut at MAX_TEXT characters) the pattern matches, or None."""
        found = self._program.search(text[:MAX_TEXT])
        if found is None:
            return None
        matched: str = found.group(0)
        return matched


@functools.lru_cache(maxsize=1024)
def compile_pattern(source: str) -> UserPattern:
    """Compile a server pattern with RE2, case-insensitively; PatternError when it can't be used."""
    if not 1 <= len(source) <= MAX_PATTERN:
        raise PatternError("too_long", f"1 to {MAX_PATTERN} characters")
    try:
        program = re2.compile(source, _OPTIONS)
    except re2.error as e:
        detail = e.args[0] if e.args else ""
        if isinstance(detail, bytes):
            detail = detail.decode("utf-8", errors="replace")
        raise PatternError("invalid", str(detail)[:120]) from None
    return UserPattern(source, program)
