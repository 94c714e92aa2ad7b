"""A member's saved defaults for /imagine and /edit, and how they meet what the member typed."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypedDict, TypeVar, Unpack, cast

from wanbot.options import (
    MAX_SUFFIX,
    bad_option,
    checked_ratio,
    checked_size,
    clean_prompt,
    clean_suffix,
)
from wanbot.providers.capabilities import Capabilities
from wanbot.providers.models import ASPECT_RATIOS, SIZE_TIERS, AspectRatio, SizeTier

MAX_DEFAULT_N = 4
MAX_NEGATIVE = 500  # the longest negative prompt any host takes
T = TypeVar("T")


def pick(explicit: T | None, default: T | None) -> T | None:
    """What the member typed wins over a saved default."""
    return default if explicit is None else explicit


class PreferenceChanges(TypedDict, total=False):
    """What /set was given; an option left out, or None, stays as it is."""

    aspect_ratio: str | None
    size: str | None
    n: int | None
    negative_prompt: str | None  # "none" clears it
    thinking: bool | None
    private: bool | None
    suffix: str | None  # "none" clears it


@dataclass(frozen=True)
class Preferences:
    """Defaults a member saved with /set; None means "not set" (the bot's own default applies)."""

    aspect_ratio: AspectRatio | None = None
    size: SizeTier | None = None
    n: int | None = None
    negative_prompt: str | None = None
    thinking: bool | None = None
    private: bool | None = None
    suffix: str | None = None  # added to the end of every prompt (/set suffix)

    @classmethod
    def from_stored(cls, data: Mapping[str, Any]) -> Preferences:
        """Read stored defaults, skipping anything no longer valid rather than failing a job."""
        ratio = data.get("aspect_ratio")
        size = data.get("size")
        n = data.get("n")
        negative = data.get("negative_prompt")
        thinking = data.get("thinking")
        private = data.get("private")
        suffix = data.get("suffix")
        return cls(
            aspect_ratio=cast(AspectRatio, ratio) if ratio in ASPECT_RATIOS else None,
            size=cast(SizeTier, size) if size in SIZE_TIERS else None,
            n=n
            if isinstance(n, int) and not isinstance(n, bool) and 1 <= n <= MAX_DEFAULT_N
            else None,
            negative_prompt=negative if isinstance(negative, str) and negative else None,
            thinking=thinking if isinstance(thinking, bool) else None,
            private=private if isinstance(private, bool) else None,
            suffix=suffix if isinstance(suffix, str) and 0 < len(suffix) <= MAX_SUFFIX else None,
        )

    def to_stored(self) -> dict[str, Any]:
        return {k: v for k, v in dataclasses.asdict(self).items() if v is not None}

    @property
    def empty(self) -> bool:
        return not self.to_stored()

    def updated(self, **options: Unpack[PreferenceChanges]) -> Preferences:
        """These defaults with the given options changed; a negative prompt or suffix of "none"
        clears it.

        Raises a Refusal (bad_option) for a value /imagine would refuse.
        """
        changes = {
            name: check(value)
            for name, check in _CHECKS.items()
            if (value := options.get(name)) is not None
        }
        return dataclasses.replace(self, **changes)

    def fitted(self, capabilities: Capabilities, *, edit: bool = False) -> Preferences:
        """The defaults this provider can honour, for this kind of job.

        A saved default is not something the member asked for this time, so one the provider
        can't use (a negative prompt on PixelDojo, 4K for an edit) is left out instead of
        refusing the job.
        """
        sizes = capabilities.edit_sizes if edit else capabilities.text_sizes
        negative = self.negative_prompt
        if negative and (
            not capabilities.negative_prompt or len(negative) > capabilities.negative_prompt_max
        ):
            negative = None
        return Preferences(
            aspect_ratio=None
            if edit or self.aspect_ratio not in capabilities.aspect_ratios
            else self.aspect_ratio,
            size=self.size if self.size in sizes else None,
            n=None if self.n is None else min(self.n, capabilities.max_n),
            negative_prompt=negative,
            thinking=self.thinking if capabilities.thinking else None,
            private=self.private,
            suffix=self.suffix,  # the host's prompt limit is checked on the prompt with it
        )


def _default_n(n: int) -> int:
    if not 1 <= n <= MAX_DEFAULT_N:
        raise bad_option("default_n_range", max=MAX_DEFAULT_N)
    return n


def _default_negative(text: str) -> str:
    cleaned = clean_prompt(text, "negative prompt")
    if len(cleaned) > MAX_NEGATIVE:
        raise bad_option("default_negative_too_long", limit=MAX_NEGATIVE)
    return cleaned


def _clearable(check: Callable[[str], str]) -> Callable[[str], str | None]:
    """A text default that "none" (or "-") clears; any other text is checked."""

    def checked(text: str) -> str | None:
        return None if text.strip().lower() in ("none", "-") else check(text)

    return checked


# How each option of /set is checked before it is saved, in the order the checks run.
_CHECKS: dict[str, Callable[[Any], Any]] = {
    "aspect_ratio": checked_ratio,
    "size": checked_size,
    "n": _default_n,
    "negative_prompt": _clearable(_default_negative),
    "thinking": bool,
    "private": bool,
    "suffix": _clearable(clean_suffix),
}
