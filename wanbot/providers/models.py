"""The provider-neutral request and status models."""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass, field
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from wanbot.providers.errors import ProviderError

AspectRatio = Literal["1:1", "16:9", "9:16", "4:3", "3:4", "5:4", "4:5"]
ASPECT_RATIOS: tuple[AspectRatio, ...] = ("1:1", "16:9", "9:16", "4:3", "3:4", "5:4", "4:5")
SizeTier = Literal["1K", "2K", "4K"]
SIZE_TIERS: tuple[SizeTier, ...] = ("1K", "2K", "4K")
MAX_SEED = 2_147_483_647

# Between a prompt and the member's saved suffix (/set suffix) appended to it.
SUFFIX_JOIN = ", "
_HEX = re.compile(r"^#[0-9A-Fa-f]{6}$")
_WXH = re.compile(r"^(\d{2,5})\*(\d{2,5})$")


class PaletteColor(BaseModel):
    model_config = ConfigDict(frozen=True)

    hex: str
    share: float = Field(gt=0, le=100)  # percent

    @field_validator("hex")
    @classmethod
    def _hex(cls, value: str) -> str:
        if not _HEX.match(value):
            raise ValueError(f"{value!r} is not a #RRGGBB colour")
        return value.upper()


class InputImage(BaseModel):
    """A reference image for edit mode, kept on disk so a job can be finished after a restart."""

    model_config = ConfigDict(frozen=True)

    path: str  # local copy of the bytes
    content_type: str  # image/png, image/jpeg, image/webp, ...
    width: int
    height: int
    size_bytes: int
    source_url: str | None = None  # where it came from (Discord links expire; prefer `path`)
    filename: str = "image.png"


class GenerationRequest(BaseModel):
    """What the member asked for, provider-neutral. Persisted as JSON with the job."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    prompt: Annotated[str, Field(min_length=1)]
    negative_prompt: str | None = None
    aspect_ratio: AspectRatio = "1:1"
    size: str = "2K"  # a tier (1K, 2K, 4K) or explicit "W*H"
    n: Annotated[int, Field(ge=1, le=12)] = 1
    seed: Annotated[int, Field(ge=0, le=MAX_SEED)] | None = None
    thinking: bool | None = None  # None: the provider's own default
    image_set: bool = False
    palette: tuple[PaletteColor, ...] | None = None
    input_images: tuple[InputImage, ...] = ()
    safety_checker: bool | None = None  # None: the provider's default
    # The server's content filter applies: the safety checker goes on wherever the host that runs
    # the job has the switch (see Capabilities.prepared), whichever host that turns out to be.
    filtered: bool = False
    # The member's saved suffix, already at the end of `prompt` (what hosts get and moderation
    # screens); kept apart to show it as the style, and to give the typed prompt back.
    suffix: str | None = None

    @field_validator("size")
    @classmethod
    def _size(cls, value: str) -> str:
        if value.upper() in SIZE_TIERS:
            return value.upper()
        if _WXH.match(value):
            return value
        raise ValueError("size must be 1K, 2K, 4K or W*H")

    @model_validator(mode="after")
    def _palette_total(self) -> GenerationRequest:
        if self.palette is not None:
            if not 3 <= len(self.palette) <= 10:
                raise ValueError("a palette needs 3 to 10 colours")
            if abs(sum(c.share for c in self.palette) - 100.0) > 0.01:
                raise ValueError("palette shares must total 100%")
        if self.n > 4 and not self.image_set:
            raise ValueError("n above 4 needs image_set")
        return self

    @property
    def typed_prompt(self) -> str:
        """The prompt as the member wrote it, without their saved suffix."""
        if self.suffix:
            return self.prompt.removesuffix(SUFFIX_JOIN + self.suffix)
        return self.prompt

    @property
    def is_edit(self) -> bool:
        return bool(self.input_images)

    @property
    def size_tier(self) -> SizeTier | None:
        for tier in SIZE_TIERS:
            if self.size == tier:
                return tier
        return None


class JobState(enum.StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def terminal(self) -> bool:
        return self in (JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED)


@dataclass(frozen=True)
class ResultImage:
    url: str
    width: int | None = None
    height: int | None = None
    content_type: str | None = None


@dataclass(frozen=True)
class JobStatus:
    """One observation of a provider job."""

    job_id: str
    state: JobState
    images: tuple[ResultImage, ...] = ()
    cost: float | None = None  # what the provider says it charged, in its own units
    error: ProviderError | None = None  # set when state is FAILED
    progress: float | None = None  # 0..1 when the provider reports it
    host_balance: float | None = None  # the operator's balance at the host, when it says
    raw_status: str = ""
    extra: dict[str, object] = field(default_factory=dict)
