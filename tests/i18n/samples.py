"""Every kind of message a job and a refusal show, rendered with realistic values: each render
function of cogs/render/jobs.py and refusals.py in each of its shapes, every refusal reason and
problem, every way a job ends, every capability a host lacks (samples_account.py: /set, /credits,
/admin and the audit lines). `test_every_message` reads them in zh-CN and in English.

A sample is (label, render, echoed): `label` starts with the render function ("jobs.caption"),
`render(locale)` gives the text, `echoed` is the member's own text the message repeats.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import Any

from cogs.render import jobs, refusals
from cogs.render.i18n import Locale
from wanbot.errors import Refusal, RefusalReason
from wanbot.jobs.ports import DeliveredFile, Delivery, FailureReason, JobOutcome, Progress
from wanbot.jobs.run import CancelResult
from wanbot.moderation import Refused
from wanbot.providers.capabilities import Capabilities
from wanbot.providers.errors import ContentRejected, RateLimited
from wanbot.providers.models import GenerationRequest, InputImage, PaletteColor
from wanbot.store.base import Job

Sample = tuple[str, Callable[[Locale], str], tuple[str, ...]]

PROMPT = "a red fox in the snow, watercolour"
NEGATIVE = "blurry text"
FILENAME = "my fox photo.png"
REASON = "thanks for the tutorial"
GUILD, CHANNEL, USER, ADMIN, ROLE = 11, 22, 33, 44, 55
NOW = 1_763_740_000.0
PALETTE = (
    PaletteColor(hex="#FF0000", share=50),
    PaletteColor(hex="#00FF00", share=25),
    PaletteColor(hex="#0000FF", share=25),
)


def photo(width: int = 1024, height: int = 768, content_type: str = "image/png") -> InputImage:
    return InputImage(
        path="/data/inputs/x.png",
        content_type=content_type,
        width=width,
        height=height,
        size_bytes=2_000_000,
        filename=FILENAME,
    )


def request(**changes: Any) -> GenerationRequest:
    return GenerationRequest(prompt=PROMPT, **{"seed": 1234567, **changes})


def job(**changes: Any) -> Job:
    base = Job(
        id="0" * 32,
        kind="imagine",
        guild_id=GUILD,
        channel_id=CHANNEL,
        user_id=USER,
        application_id=1,
        interaction_token="t",
        token_expires_at=NOW + 900,
        request=request(aspect_ratio="16:9", n=2),
        provider="pixeldojo",
        image_cost=2,
        deadline_at=NOW + 600,
        message_ids=(777,),
    )
    return replace(base, **changes)


def delivery(files: int = 2, charged: int = 4, **file_changes: Any) -> Delivery:
    made = [
        DeliveredFile(
            path=Path(f"/tmp/wan-{i}.png"),
            filename=f"wan-{i}.png",
            width=2048,
            height=1152,
            size_bytes=3_500_000,
            **(file_changes if i == 0 else {}),
        )
        for i in range(files)
    ]
    return Delivery(files=made, charged=charged, balance_after=1046, provider_label="PixelDojo")


def _placeholders() -> list[Sample]:
    queued = Progress(phase="queued", provider_label="PixelDojo", queue_position=3)
    starting = Progress(phase="queued", provider_label="skills.video")
    estimated = Progress(
        phase="running", provider_label="PixelDojo", elapsed_s=12, eta_s=18, eta_basis=5
    )
    one_basis = replace(estimated, eta_basis=1)
    usual = Progress(phase="running", provider_label="DashScope", elapsed_s=40, eta_s=20)
    fraction = Progress(phase="submitting", provider_label="Mock", elapsed_s=3, fraction=0.4)
    set_request = request(n=6, image_set=True, aspect_ratio="4:3")
    return [
        (
            f"jobs.placeholder {name}",
            partial(jobs.placeholder, r, progress, NOW),
            (PROMPT,),
        )
        for name, progress, r in [
            ("queued 3rd", queued, request()),
            ("queued starting, image set", starting, set_request),
            ("estimate from 5 jobs", estimated, request()),
            ("estimate from 1 job", one_basis, request()),
            ("usual total", usual, request()),
            ("fraction", fraction, request()),
        ]
    ]


def _captions() -> list[Sample]:
    noted = delivery(note="x", original_format="PNG", original_bytes=14_000_000)
    edit = job(kind="edit", request=request(input_images=(photo(),)), parent_job_id="1" * 32)
    parent = job(message_ids=(888,))
    partial = job(request=request(n=8, image_set=True))

    def caption(j: Job, d: Delivery, **kw: Any) -> Callable[[Locale], str]:
        defaults = {"part": 1, "parts": 1, "first": 1, "last": 2, "total": 2, "mention": False}
        return lambda loc: jobs.caption(j, d, **{**defaults, **kw, "locale": loc})

    return [
        ("jobs.caption one message", caption(job(), delivery()), (PROMPT,)),
        ("jobs.caption mention", caption(job(), delivery(), mention=True), (PROMPT,)),
        (
            "jobs.caption one credit, no seed",
            caption(job(request=GenerationRequest(prompt=PROMPT)), delivery(1, 1)),
            (PROMPT,),
        ),
        (
            "jobs.caption images 1-10 of 12, partial set",
            caption(partial, delivery(10, 20), parts=2, last=10, total=12),
            (PROMPT,),
        ),
        (
            "jobs.caption image 12 of 12",
            caption(partial, delivery(12, 24), part=2, parts=2, first=12, last=12, total=12),
            (PROMPT,),
        ),
        ("jobs.caption re-encoded file", caption(job(), noted), (PROMPT,)),
        (
            "jobs.caption edit with origin",
            lambda loc: caption(edit, delivery(), source=jobs.origin(edit, parent, loc))(loc),
            (PROMPT, FILENAME),
        ),
        (
            "jobs.origin edit from a result",
            lambda loc: jobs.origin(edit, parent, loc) or "",
            (FILENAME,),
        ),
        ("jobs.origin reroll", lambda loc: jobs.origin(job(), parent, loc) or "", ()),
        ("jobs.file_note", lambda loc: jobs.file_note(noted.files[0], loc) or "", ()),
        ("jobs.megabytes", lambda loc: jobs.megabytes(14_000_000, loc), ()),
        ("jobs.ordinal", lambda loc: jobs.ordinal(3, loc), ()),
        ("jobs.clock", lambda loc: jobs.clock(75), ()),
        (
            "jobs.options_line image set",
            lambda loc: jobs.options_line(request(n=6, image_set=True), loc),
            (),
        ),
    ]


def _endings() -> list[Sample]:
    found: list[Sample] = []
    for reason in FailureReason:
        problems = refusals._HOST_PROBLEMS if reason is FailureReason.HOST_FAILED else [None]
        for problem in problems:
            for refunded in (0, 1, 4):
                outcome = JobOutcome(reason, "PixelDojo", refunded, problem)
                found.append(
                    (
                        f"jobs.failure {reason} {problem} refunded {refunded}",
                        partial(jobs.failure, outcome),
                        (),
                    )
                )
    outcome = JobOutcome(FailureReason.DEADLINE, "skills.video", 4)
    found.append(("jobs.ended", lambda loc: jobs.ended(request(), outcome, loc), (PROMPT,)))
    found.append(("jobs.refund", lambda loc: jobs.refund(2, loc), ()))
    for result in CancelResult:
        found.append((f"jobs.cancel_reply {result}", partial(jobs.cancel_reply, result), ()))
    return found


# -- refusals ---------------------------------------------------------------------------------

# Realistic details for every reason; BAD_OPTION, ADMIN_INPUT, NOT_OWNER, PROMPT_BLOCKED and
# UNSUPPORTED_OPTION have a sample per problem below as well.
REASON_DETAILS: dict[RefusalReason, dict[str, Any]] = {
    RefusalReason.NOT_ALLOWED_GUILD: {},
    RefusalReason.BANNED: {},
    RefusalReason.CHANNEL_DENIED: {"channel_id": CHANNEL, "usable": [1, 2, 3]},
    RefusalReason.PROMPT_BLOCKED: {
        "field": "prompt",
        "channel_id": CHANNEL,
        "category": "server",
        "matched": "fox",
    },
    RefusalReason.BAD_OPTION: {"problem": "empty", "field": "prompt"},
    RefusalReason.PROVIDER_NOT_ENABLED: {"name": "midjourney", "enabled": ["PixelDojo", "Mock"]},
    RefusalReason.UNSUPPORTED_OPTION: {
        "provider": "dashscope",
        "problem": "DashScope can't use a colour palette. Remove palette.",
        "issue": "palette",
        "issue_values": {"name": "DashScope"},
        "other": "pixeldojo",
        "asked_for": True,
    },
    RefusalReason.NO_IMAGE: {},
    RefusalReason.TOO_MANY_IMAGES: {"limit": 4, "count": 6},
    RefusalReason.BAD_INPUT_IMAGE: {"name": FILENAME, "mb": 25, "problem": "over_limit"},
    RefusalReason.INPUT_DOWNLOAD_FAILED: {"name": FILENAME},
    RefusalReason.INPUTS_GONE: {},
    RefusalReason.JOB_GONE: {},
    RefusalReason.RESULT_IMAGES_GONE: {},
    RefusalReason.NOT_OWNER: {"action": "cancel"},
    RefusalReason.COOLDOWN: {"ready_at": NOW + 30},
    RefusalReason.INSUFFICIENT_CREDITS: {
        "balance": 1,
        "needed": 8,
        "per_image": 2,
        "refills_at": NOW + 3600,
    },
    RefusalReason.SPEND_CAP: {"scope": "guild"},
    RefusalReason.QUEUE_FULL: {"limit": 5},
    RefusalReason.BAD_BLOCKLIST_ENTRY: {"problem": "pattern_length", "limit": 200},
    RefusalReason.ADMIN_INPUT: {"problem": "not_admin"},
    RefusalReason.PROMPT_SUFFIX: {"problem": "too_long", "limit": 300, "length": 412},
    RefusalReason.WALLET_ADMIN: {"problem": "too_many", "limit": 25},
}

BAD_OPTION_DETAILS: dict[str, dict[str, Any]] = {
    "empty": {"field": "negative_prompt"},
    "too_long": {"field": "prompt", "length": 6001, "limit": 6000},
    "palette_count": {"count": 2},
    "palette_item": {"item": "reddish"},
    "palette_share_range": {"item": "#FF0000:150%"},
    "palette_shares_full": {},
    "palette_total": {"total": 90.0},
    "aspect_ratio": {"value": "2:1", "choices": ["1:1", "16:9", "9:16", "4:3"]},
    "size": {"value": "8K", "choices": ["1K", "2K", "4K"]},
    "n_range": {},
    "n_needs_image_set": {},
    "seed_range": {"max": 2147483647},
    "palette_with_image_set": {},
    "combination": {"text": "palette shares must total 100%"},
    "default_n_range": {"max": 4},
    "default_negative_too_long": {"limit": 500},
    "edit_count": {},
}
ADMIN_INPUT_DETAILS: list[dict[str, Any]] = [
    {"problem": "not_admin"},
    {"problem": "bot_credits"},
    {"problem": "which_channel", "action": "allow"},
    {"problem": "which_channel", "action": "deny"},
    {"problem": "which_channel", "action": "clear"},
    {"problem": "what_term", "action": "add"},
    {"problem": "what_term", "action": "remove"},
    {"problem": "blocklist_full", "limit": 200},
]

# (capabilities, request) that make each capability issue, on the real check
ISSUE_CASES: dict[str, tuple[Capabilities, GenerationRequest]] = {
    "prompt_max": (Capabilities("DashScope", prompt_max=10), request()),
    "negative_prompt": (Capabilities("PixelDojo"), request(negative_prompt=NEGATIVE)),
    "negative_prompt_max": (
        Capabilities("DashScope", negative_prompt=True, negative_prompt_max=5),
        request(negative_prompt=NEGATIVE),
    ),
    "aspect_ratio": (
        Capabilities("skills.video", aspect_ratios=("1:1", "16:9")),
        request(aspect_ratio="5:4"),
    ),
    "explicit_size": (Capabilities("skills.video", explicit_size=False), request(size="1024*1024")),
    "size_chosen": (Capabilities("skills.video", text_sizes=()), request(size="4K")),
    "size_new": (Capabilities("DashScope", text_sizes=("1K", "2K")), request(size="4K")),
    "size_edit": (Capabilities("PixelDojo"), request(size="4K", input_images=(photo(),))),
    "image_set": (Capabilities("DashScope", image_set=False), request(n=6, image_set=True)),
    "image_set_max": (Capabilities("PixelDojo", image_set_max_n=6), request(n=8, image_set=True)),
    "palette_with_image_set": (
        Capabilities("PixelDojo"),
        request(n=6, image_set=True, palette=PALETTE),
    ),
    "max_n": (Capabilities("DashScope", max_n=2), request(n=4)),
    "palette": (Capabilities("DashScope", palette=False), request(palette=PALETTE)),
    "thinking": (Capabilities("skills.video", thinking=False), request(thinking=True)),
    "seed": (Capabilities("skills.video", seed=False), request()),
    "safety_checker": (Capabilities("PixelDojo"), request(safety_checker=True)),
    "edit": (Capabilities("Mock", edit=False), request(input_images=(photo(),))),
    "max_inputs": (
        Capabilities("DashScope", max_input_images=1),
        request(input_images=(photo(), photo())),
    ),
    "input_type": (
        Capabilities("PixelDojo", input_types=("image/png", "image/jpeg")),
        request(input_images=(photo(content_type="image/gif"),)),
    ),
    "input_small": (Capabilities("PixelDojo"), request(input_images=(photo(100, 80),))),
    "input_large": (Capabilities("PixelDojo"), request(input_images=(photo(9000, 6000),))),
    "input_bytes": (
        Capabilities("DashScope", max_input_bytes=1024 * 1024),
        request(input_images=(photo(),)),
    ),
}


INPUT_DETAILS: dict[str, dict[str, Any]] = {
    "empty": {"name": FILENAME},
    "too_large": {"name": FILENAME, "size_mb": 31.5, "mb": 20},
    "over_limit": {"name": FILENAME, "mb": 20},
    "not_image": {"name": FILENAME, "content_type": "text/html"},
    "unreadable": {"name": FILENAME},
    "format": {"name": FILENAME, "format": "GIF"},
    "too_many_pixels": {"name": FILENAME, "width": 30000, "height": 30000},
    "damaged": {"name": FILENAME},
}
BLOCKLIST_ENTRY_DETAILS: dict[str, dict[str, Any]] = {
    "pattern_length": {"limit": 200},
    "invalid_pattern": {"detail": "missing ): (a"},
    "matches_everything": {},
    "word_length": {"limit": 100},
}


def _refusal(label: str, refusal: Refusal, *echoed: str) -> Sample:
    # the member's own file name may be in any refusal about an input
    shown = (*echoed, FILENAME)
    return (f"refusals.refusal {label}", lambda loc: refusals.refusal(refusal, loc), shown)


def _refusals() -> list[Sample]:
    found = []
    for reason, details in REASON_DETAILS.items():
        found.append(_refusal(str(reason), Refusal(reason, details)))
    insufficient = dict(REASON_DETAILS[RefusalReason.INSUFFICIENT_CREDITS], balance=0)
    del insufficient["refills_at"]
    found.append(
        _refusal("no credits, no refill", Refusal(RefusalReason.INSUFFICIENT_CREDITS, insufficient))
    )
    found.append(_refusal("bot-wide cap", Refusal(RefusalReason.SPEND_CAP, {"scope": "total"})))
    found.append(_refusal("queue of 1", Refusal(RefusalReason.QUEUE_FULL, {"limit": 1})))
    found.append(
        _refusal("no image in message", Refusal(RefusalReason.NO_IMAGE, {"where": "message"}))
    )
    found.append(
        _refusal("channel, no other", Refusal(RefusalReason.CHANNEL_DENIED, {"channel_id": 1}))
    )
    for problem, details in BAD_OPTION_DETAILS.items():
        refusal = Refusal(RefusalReason.BAD_OPTION, {"problem": problem, **details})
        shown = [str(v) for k, v in details.items() if k in ("item", "value", "text")]
        found.append(_refusal(f"bad option {problem}", refusal, *shown))
    for problem, details in INPUT_DETAILS.items():
        refusal = Refusal(RefusalReason.BAD_INPUT_IMAGE, {"problem": problem, **details})
        found.append(_refusal(f"bad input {problem}", refusal, *map(str, details.values())))
    for problem in ("fetch_failed", "not_on_discord"):
        refusal = Refusal(
            RefusalReason.INPUT_DOWNLOAD_FAILED, {"problem": problem, "name": FILENAME}
        )
        found.append(_refusal(f"input not fetched {problem}", refusal))
    for problem, details in BLOCKLIST_ENTRY_DETAILS.items():
        refusal = Refusal(RefusalReason.BAD_BLOCKLIST_ENTRY, {"problem": problem, **details})
        found.append(_refusal(f"blocklist entry {problem}", refusal, *map(str, details.values())))
    for details in ADMIN_INPUT_DETAILS:
        refusal = Refusal(RefusalReason.ADMIN_INPUT, details)
        found.append(_refusal(f"admin input {details}", refusal))
    for action in ("cancel", "delete"):
        found.append(
            _refusal(f"not owner {action}", Refusal(RefusalReason.NOT_OWNER, {"action": action}))
        )
    for category in ("minors", "sexual", "gore", "server"):
        details = dict(REASON_DETAILS[RefusalReason.PROMPT_BLOCKED], category=category)
        details["field"] = "negative_prompt"
        found.append(
            _refusal(
                f"blocked {category}",
                Refused(RefusalReason.PROMPT_BLOCKED, details, audited=True),
                "fox",
            )
        )
    for key, (capabilities, wanted) in ISSUE_CASES.items():
        issue = capabilities.issue(wanted)
        assert issue is not None and issue.key == key, (key, issue)
        for other, asked in ((None, False), ("pixeldojo", False), ("pixeldojo", True)):
            details = {
                "provider": "x",
                "problem": str(issue),
                "issue": issue.key,
                "issue_values": issue.values,
                "other": other,
                "asked_for": asked,
            }
            found.append(
                _refusal(
                    f"unsupported {key} {other} {asked}",
                    Refusal(RefusalReason.UNSUPPORTED_OPTION, details),
                    FILENAME,
                )
            )
    found.append(
        (
            "refusals.reason_text",
            lambda loc: refusals.reason_text(Refusal(RefusalReason.BANNED), loc),
            (),
        )
    )
    found.append(
        (
            "refusals.block_reason",
            lambda loc: refusals.block_reason("gore", "blood", loc),
            ("blood",),
        )
    )
    found.append(
        ("refusals.field_name", lambda loc: refusals.field_name("negative_prompt", loc), ())
    )
    found.append(("refusals.refill_hint none", lambda loc: refusals.refill_hint(None, loc), ()))
    found.append(("refusals.refill_hint", lambda loc: refusals.refill_hint(NOW, loc), ()))
    for key in refusals._HOST_PROBLEMS:
        found.append((f"refusals.host_problem {key}", partial(refusals.host_problem, key), ()))
    for error in (ContentRejected(provider="pixeldojo"), RateLimited(provider="dashscope")):
        found.append(
            (
                f"refusals.host_error {type(error).__name__}",
                partial(refusals.host_error, error),
                (),
            )
        )
    found.append(("refusals.unexpected", lambda loc: refusals.unexpected("3f9a1c2b", loc), ()))
    found.append(("refusals.not_usable_here", refusals.not_usable_here, ()))
    found.append(
        (
            "refusals.issue_text",
            lambda loc: refusals.issue_text("max_n", {"name": "DashScope", "max": 2}, loc),
            (),
        )
    )
    return found


def job_samples() -> list[Sample]:
    """Placeholders, captions, endings and refusals."""
    return [*_placeholders(), *_captions(), *_endings(), *_refusals()]
