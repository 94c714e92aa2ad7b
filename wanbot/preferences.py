"""A member's saved defaults for /imagine and /edit, and how they meet what the member typed."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypeVar, cast

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

    def updated(
        self,
        *,
        aspect_ratio: str | None = None,
        size: str | None = None,
        n: int | None = None,
        negative_prompt: str | None = None,
        thinking: bool | None = None,
        private: bool | None = None,
        suffix: str | None = None,
    ) -> Preferences:
        """These defaults with the given options changed; a negative prompt or suffix of "none"
        clears it.

        Raises a Refusal (bad_option) for a value /imagine would refuse.
        """
        changes: dict[str, Any] = {}
        if aspect_ratio is not None:
            changes["aspect_ratio"] = checked_ratio(aspect_ratio)
        if size is not None:
            changes["size"] = checked_size(size)
        if n is not None:
            if not 1 <= n <= MAX_DEFAULT_N:
                raise bad_option("default_n_range", max=MAX_DEFAULT_N)
            changes["n"] = n
        if negative_prompt is not None:
            if negative_prompt.strip().lower() in ("none", "-"):
                changes["negative_prompt"] = None
            else:
                cleaned = clean_prompt(negative_prompt, "negative prompt")
                if len(cleaned) > MAX_NEGATIVE:
                    raise bad_option("default_negative_too_long", limit=MAX_NEGATIVE)
                changes["negative_prompt"] = cleaned
        if thinking is not None:
            changes["thinking"] = thinking
        if private is not None:
            changes["private"] = private
        if suffix is not None:
            clear = suffix.strip().lower() in ("none", "-")
            changes["suffix"] = None if clear else clean_suffix(suffix)
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
