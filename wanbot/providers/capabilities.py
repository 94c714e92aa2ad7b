"""What each provider can do, and the check that refuses a request before any call is made."""

from __future__ import annotations

from dataclasses import dataclass

from wanbot.providers.errors import UnsupportedRequest
from wanbot.providers.models import ASPECT_RATIOS, AspectRatio, GenerationRequest, SizeTier


@dataclass(frozen=True)
class Capabilities:
    """What a host can do. The defaults are Wan 2.7 Pro's own limits; a host sets what differs."""

    label: str  # how members see the provider's name
    aspect_ratios: tuple[AspectRatio, ...] = ASPECT_RATIOS
    text_sizes: tuple[SizeTier, ...] = ("1K", "2K", "4K")
    edit_sizes: tuple[SizeTier, ...] = ("1K", "2K")
    explicit_size: bool = True  # accepts W*H
    max_n: int = 4
    image_set: bool = True
    image_set_max_n: int = 12
    negative_prompt: bool = False
    negative_prompt_max: int = 500
    palette: bool = True
    thinking: bool = True
    seed: bool = True
    safety_checker: bool = False
    prompt_max: int = 5000
    edit: bool = True
    max_input_images: int = 4
    min_input_side: int = 240
    max_input_side: int = 8000
    max_input_bytes: int = 20 * 1024 * 1024
    input_types: tuple[str, ...] = ("image/png", "image/jpeg", "image/webp", "image/bmp")
    push_updates: bool = False  # streams status instead of being polled

    def prepared(self, request: GenerationRequest) -> GenerationRequest:
        """The request as this host runs it: the safety checker on when the job runs filtered
        and the host has the switch, else left to the host."""
        wanted = True if request.filtered and self.safety_checker else None
        if request.safety_checker == wanted:
            return request
        return request.model_copy(update={"safety_checker": wanted})

    def check(self, request: GenerationRequest) -> None:
        """Raise UnsupportedRequest with a member-facing reason when it can't be honoured."""
        problem = self.problem(request)
        if problem:
            raise UnsupportedRequest(problem)

    def problem(self, request: GenerationRequest) -> str | None:
        name = self.label
        if len(request.prompt) > self.prompt_max:
            return (
                f"{name} takes prompts of up to {self.prompt_max} characters; "
                f"yours has {len(request.prompt)}."
            )
        if request.negative_prompt:
            if not self.negative_prompt:
                return f"{name} can't use a negative prompt. Remove negative_prompt."
            if len(request.negative_prompt) > self.negative_prompt_max:
                return (
                    f"{name} takes negative prompts of up to {self.negative_prompt_max} characters."
                )
        if request.aspect_ratio not in self.aspect_ratios:
            return (
                f"{name} can't make {request.aspect_ratio} images. "
                f"Try one of {', '.join(self.aspect_ratios)}."
            )
        tier = request.size_tier
        if tier is None:
            if not self.explicit_size:
                return f"{name} can't take an explicit W*H size. Use a size tier instead."
        else:
            allowed = self.edit_sizes if request.is_edit else self.text_sizes
            if tier not in allowed:
                mode = "editing" if request.is_edit else "new images"
                if not allowed:
                    return f"{name} picks the size itself. Remove size."
                return f"{name} can't make {tier} for {mode}. Try {' or '.join(allowed)}."
        if request.image_set:
            if not self.image_set:
                return f"{name} can't make image sets. Remove image_set."
            if request.n > self.image_set_max_n:
                return f"{name} makes image sets of up to {self.image_set_max_n}."
            if request.palette:
                return "A colour palette can't be combined with image_set. Remove one of them."
        elif request.n > self.max_n:
            return f"{name} makes up to {self.max_n} images at a time."
        if request.palette and not self.palette:
            return f"{name} can't use a colour palette. Remove palette."
        if request.thinking and not self.thinking:
            return f"{name} has no thinking mode. Remove thinking."
        if request.seed is not None and not self.seed:
            return f"{name} can't take a seed. Remove seed."
        if request.safety_checker is not None and not self.safety_checker:
            return f"{name} has no safety checker switch."
        if request.is_edit:
            return self._input_problem(request)
        return None

    def _input_problem(self, request: GenerationRequest) -> str | None:
        name = self.label
        if not self.edit:
            return f"{name} can't edit images."
        if len(request.input_images) > self.max_input_images:
            return f"{name} takes up to {self.max_input_images} images to edit."
        for image in request.input_images:
            if image.content_type not in self.input_types:
                kinds = ", ".join(t.removeprefix("image/").upper() for t in self.input_types)
                return f"{image.filename} is {image.content_type}; {name} takes {kinds}."
            small = min(image.width, image.height)
            if small < self.min_input_side:
                return (
                    f"That image is {image.width}×{image.height}; {name} needs at least "
                    f"{self.min_input_side}×{self.min_input_side} on each side."
                )
            if max(image.width, image.height) > self.max_input_side:
                return (
                    f"That image is {image.width}×{image.height}; {name} takes at most "
                    f"{self.max_input_side} pixels on a side."
                )
            if image.size_bytes > self.max_input_bytes:
                mib = self.max_input_bytes / (1024 * 1024)
                return f"{image.filename} is too large; {name} takes images up to {mib:g} MB."
        return None
