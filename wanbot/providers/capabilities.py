"""What each provider can do, and the check that refuses a request before any call is made."""

from __future__ import annotations

from dataclasses import dataclass

from wanbot.i18n import N_
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
        """Why this provider can't honour `request`, in English (logs, UnsupportedRequest)."""
        issue = self.issue(request)
        return None if issue is None else str(issue)

    def issue(self, request: GenerationRequest) -> Unsupported | None:
        """Why this provider can't honour `request`, as a key and its values (the chat adapter
        words it in the member's language), or None."""
        name = self.label
        if len(request.prompt) > self.prompt_max:
            return Unsupported(
                "prompt_max", name=name, max=self.prompt_max, length=len(request.prompt)
            )
        if request.negative_prompt:
            if not self.negative_prompt:
                return Unsupported("negative_prompt", name=name)
            if len(request.negative_prompt) > self.negative_prompt_max:
                return Unsupported("negative_prompt_max", name=name, max=self.negative_prompt_max)
        if request.aspect_ratio not in self.aspect_ratios:
            return Unsupported(
                "aspect_ratio",
                name=name,
                ratio=request.aspect_ratio,
                choices=tuple(self.aspect_ratios),
            )
        tier = request.size_tier
        if tier is None:
            if not self.explicit_size:
                return Unsupported("explicit_size", name=name)
        else:
            allowed = self.edit_sizes if request.is_edit else self.text_sizes
            if tier not in allowed:
                if not allowed:
                    return Unsupported("size_chosen", name=name)
                key = "size_edit" if request.is_edit else "size_new"
                return Unsupported(key, name=name, tier=tier, choices=tuple(allowed))
        if request.image_set:
            if not self.image_set:
                return Unsupported("image_set", name=name)
            if request.n > self.image_set_max_n:
                return Unsupported("image_set_max", name=name, max=self.image_set_max_n)
            if request.palette:
                return Unsupported("palette_with_image_set", name=name)
        elif request.n > self.max_n:
            return Unsupported("max_n", name=name, max=self.max_n)
        if request.palette and not self.palette:
            return Unsupported("palette", name=name)
        if request.thinking and not self.thinking:
            return Unsupported("thinking", name=name)
        if request.seed is not None and not self.seed:
            return Unsupported("seed", name=name)
        if request.safety_checker is not None and not self.safety_checker:
            return Unsupported("safety_checker", name=name)
        if request.is_edit:
            return self._input_issue(request)
        return None

    def _input_issue(self, request: GenerationRequest) -> Unsupported | None:
        name = self.label
        if not self.edit:
            return Unsupported("edit", name=name)
        if len(request.input_images) > self.max_input_images:
            return Unsupported("max_inputs", name=name, max=self.max_input_images)
        for image in request.input_images:
            if image.content_type not in self.input_types:
                kinds = tuple(t.removeprefix("image/").upper() for t in self.input_types)
                return Unsupported(
                    "input_type",
                    name=name,
                    file=image.filename,
                    type=image.content_type,
                    choices=kinds,
                )
            shown = {"name": name, "width": image.width, "height": image.height}
            if min(image.width, image.height) < self.min_input_side:
                return Unsupported("input_small", **shown, min=self.min_input_side)
            if max(image.width, image.height) > self.max_input_side:
                return Unsupported("input_large", **shown, max=self.max_input_side)
            if image.size_bytes > self.max_input_bytes:
                mb = self.max_input_bytes / (1024 * 1024)
                return Unsupported("input_bytes", name=name, file=image.filename, mb=mb)
        return None


# What each issue says, in English (the msgids the chat adapter translates). Values: `name` the
# provider, `choices` a tuple (listed in the reader's language), `file` the member's file name.
ISSUE_TEXT: dict[str, str] = {
    "prompt_max": N_("%(name)s takes prompts of up to %(max)s characters; yours has %(length)s."),
    "negative_prompt": N_("%(name)s can't use a negative prompt. Remove negative_prompt."),
    "negative_prompt_max": N_("%(name)s takes negative prompts of up to %(max)s characters."),
    "aspect_ratio": N_("%(name)s can't make %(ratio)s images. Try one of %(choices)s."),
    "explicit_size": N_("%(name)s can't take an explicit W*H size. Use a size tier instead."),
    "size_chosen": N_("%(name)s picks the size itself. Remove size."),
    "size_new": N_("%(name)s can't make %(tier)s for new images. Try %(choices)s."),
    "size_edit": N_("%(name)s can't make %(tier)s for editing. Try %(choices)s."),
    "image_set": N_("%(name)s can't make image sets. Remove image_set."),
    "image_set_max": N_("%(name)s makes image sets of up to %(max)s."),
    "palette_with_image_set": N_(
        "A colour palette can't be combined with image_set. Remove one of them."
    ),
    "max_n": N_("%(name)s makes up to %(max)s images at a time."),
    "palette": N_("%(name)s can't use a colour palette. Remove palette."),
    "thinking": N_("%(name)s has no thinking mode. Remove thinking."),
    "seed": N_("%(name)s can't take a seed. Remove seed."),
    "safety_checker": N_("%(name)s has no safety checker switch."),
    "edit": N_("%(name)s can't edit images."),
    "max_inputs": N_("%(name)s takes up to %(max)s images to edit."),
    "input_type": N_("%(file)s is %(type)s; %(name)s takes %(choices)s."),
    "input_small": N_(
        "That image is %(width)s×%(height)s; %(name)s needs at least %(min)s×%(min)s on each side."
    ),
    "input_large": N_(
        "That image is %(width)s×%(height)s; %(name)s takes at most %(max)s pixels on a side."
    ),
    "input_bytes": N_("%(file)s is too large; %(name)s takes images up to %(mb)s MB."),
}


@dataclass(frozen=True, init=False)
class Unsupported:
    """Something a provider can't do for a request: `key` (ISSUE_TEXT) and the values it names."""

    key: str
    values: dict[str, object]

    def __init__(self, key: str, **values: object) -> None:
        if key not in ISSUE_TEXT:
            raise ValueError(f"unknown capability issue {key!r}")
        object.__setattr__(self, "key", key)
        object.__setattr__(self, "values", values)

    def __str__(self) -> str:
        shown = dict(self.values)
        for name, value in shown.items():
            if isinstance(value, tuple):
                joiner = " or " if self.key.startswith("size_") else ", "
                shown[name] = joiner.join(str(v) for v in value)
            elif isinstance(value, float):
                shown[name] = f"{value:g}"
        return ISSUE_TEXT[self.key] % shown
