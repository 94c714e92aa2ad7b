"""Every refusal the domain can raise, in the member's words: one sentence of why, closed once by
"Nothing was charged." (or, for administration, "Nothing was changed."), no placeholder left
unfilled, nothing a member typed echoed live."""

from __future__ import annotations

from typing import Any

import pytest

from cogs.render.refusals import host_error, refusal, unexpected
from wanbot.errors import InsufficientCredits, QueueFull, Refusal, RefusalReason, SpendCapReached
from wanbot.providers.errors import ContentRejected, GenerationFailed

R = RefusalReason
SAMPLES: dict[RefusalReason, list[dict[str, Any]]] = {
    R.NOT_ALLOWED_GUILD: [{}],
    R.BANNED: [{}],
    R.CHANNEL_DENIED: [{"channel_id": 5, "usable": []}, {"channel_id": 5, "usable": [6, 7]}],
    R.PROMPT_BLOCKED: [
        {"field": f, "channel_id": 5, "category": c, "matched": "m"}
        for f in ("prompt", "negative_prompt")
        for c in ("minors", "sexual", "gore", "server")
    ],
    R.BAD_OPTION: [
        {"problem": "empty", "field": "prompt"},
        {"problem": "too_long", "field": "negative_prompt", "length": 6000, "limit": 5000},
        {"problem": "palette_count", "count": 2},
        {"problem": "palette_item", "item": "red"},
        {"problem": "palette_share_range", "item": "#FF0000:101%"},
        {"problem": "palette_shares_full"},
        {"problem": "palette_total", "total": 90.5},
        {"problem": "aspect_ratio", "value": "21:9", "choices": ["1:1", "16:9"]},
        {"problem": "size", "value": "8K", "choices": ["1K", "2K", "4K"]},
        {"problem": "n_range"},
        {"problem": "n_needs_image_set"},
        {"problem": "seed_range", "max": 2147483647},
        {"problem": "palette_with_image_set"},
        {"problem": "combination", "text": "n above 4 needs image_set"},
        {"problem": "default_n_range", "max": 4},
        {"problem": "default_negative_too_long", "limit": 500},
        {"problem": "edit_count"},
    ],
    R.PROVIDER_NOT_ENABLED: [{"name": "openai", "enabled": ["Mock", "PixelDojo"]}],
    R.UNSUPPORTED_OPTION: [
        {"provider": "x", "problem": "X can't use a palette.", "other": o, "asked_for": a}
        for o in (None, "dashscope")
        for a in (True, False)
    ],
    R.NO_IMAGE: [{}, {"where": "message"}],
    R.TOO_MANY_IMAGES: [{"limit": 4, "count": 6}],
    R.BAD_INPUT_IMAGE: [
        {"name": "a.png", "problem": "empty"},
        {"name": "a.png", "problem": "too_large", "size_mb": 25.3, "mb": 20},
        {"name": "a.png", "problem": "over_limit", "mb": 20},
        {"name": "a.png", "problem": "over_limit", "mb": 0},
        {"name": "a.txt", "problem": "not_image", "content_type": "text/plain"},
        {"name": "a.png", "problem": "unreadable"},
        {"name": "a.gif", "problem": "format", "format": "GIF"},
        {"name": "a.png", "problem": "format", "format": None},
        {"name": "a.png", "problem": "too_many_pixels", "width": 9000, "height": 9000},
        {"name": "a.png", "problem": "damaged"},
    ],
    R.INPUT_DOWNLOAD_FAILED: [
        {"name": "a.png", "problem": "fetch_failed"},
        {"name": "a.png", "problem": "not_on_discord"},
    ],
    R.INPUTS_GONE: [{}],
    R.JOB_GONE: [{}],
    R.RESULT_IMAGES_GONE: [{}],
    R.NOT_OWNER: [{"action": "cancel"}, {"action": "delete"}],
    R.COOLDOWN: [{"ready_at": 1_750_000_000}],
    R.INSUFFICIENT_CREDITS: [
        {"balance": 1, "needed": 4, "per_image": 2},
        {"balance": 3, "needed": 4, "per_image": 2, "refills_at": 1_750_000_000.0},
        {"balance": 0, "needed": 4, "per_image": 2, "refills_at": None},
    ],
    R.SPEND_CAP: [{"scope": "guild"}, {"scope": "total"}],
    R.QUEUE_FULL: [{"limit": 5}],
    R.BAD_BLOCKLIST_ENTRY: [
        {"problem": "pattern_length", "limit": 200},
        {"problem": "invalid_pattern", "detail": "missing )"},
        {"problem": "matches_everything"},
        {"problem": "word_length", "limit": 100},
    ],
    R.ADMIN_INPUT: [
        {"problem": "not_admin"},
        {"problem": "bot_credits"},
        {"problem": "which_channel", "action": "allow"},
        {"problem": "what_term", "action": "add"},
        {"problem": "blocklist_full", "limit": 200},
    ],
    R.PROMPT_SUFFIX: [
        {"problem": "empty"},
        {"problem": "too_long", "limit": 300, "length": 412},
        {"problem": "too_long_total", "limit": 5000, "length": 5210},
        {"problem": "too_long_for_host", "provider": "DashScope", "limit": 800, "length": 912},
    ],
    R.WALLET_ADMIN: [
        {"problem": "name_taken", "name": "Design team"},
        {"problem": "too_many", "limit": 25},
        {"problem": "no_wallet", "name": "Design team"},
        {"problem": "bad_name", "limit": 40},
    ],
}
ADMINISTRATION = {R.BAD_BLOCKLIST_ENTRY, R.ADMIN_INPUT, R.WALLET_ADMIN}
CASES = [(reason, details) for reason, samples in SAMPLES.items() for details in samples]


def test_every_reason_has_samples() -> None:
    assert set(SAMPLES) == set(RefusalReason)


@pytest.mark.parametrize(("reason", "details"), CASES)
def test_each_refusal_is_one_plain_sentence_closed_once(
    reason: RefusalReason, details: dict[str, Any]
) -> None:
    text = refusal(Refusal(reason, details))
    closing = "Nothing was changed." if reason in ADMINISTRATION else "Nothing was charged."
    assert text.endswith(" " + closing), text
    assert text.count("Nothing was") == 1, text
    assert "charged.." not in text and "changed.." not in text and ". ." not in text, text
    assert "%(" not in text and "{" not in text, text
    assert "can't be done right now" not in text, f"{reason} has no words of its own"
    assert len(text) <= 2000


def test_the_stores_refusals_render_with_their_numbers() -> None:
    assert refusal(InsufficientCredits(1, 4, 2)).startswith(
        "You have 1 credit left and this needs 4 (2 per image)."
    )
    assert "5 images waiting" in refusal(QueueFull(5))
    assert "this server's daily spending limit" in refusal(SpendCapReached("guild"))


def test_what_a_member_typed_is_echoed_inert() -> None:
    name = "@everyone \u202egnp.exe **x**"
    text = refusal(Refusal(R.BAD_INPUT_IMAGE, {"name": name, "problem": "empty"}))
    assert "\u202e" not in text and "@everyone" not in text and "**" not in text
    blocked = refusal(
        Refusal(
            R.PROMPT_BLOCKED,
            {"field": "prompt", "channel_id": 5, "category": "server", "matched": "a\u202eb"},
        )
    )
    assert "\u202e" not in blocked
    unknown = refusal(Refusal(R.PROVIDER_NOT_ENABLED, {"name": "x\u2066y", "enabled": ["Mock"]}))
    assert "\u2066" not in unknown


def test_host_failures_never_repeat_the_hosts_words() -> None:
    said = host_error(ContentRejected("NSFW detected at 10.0.0.5 by model v2", provider="x"))
    assert said == "Content rejected. Nothing was charged."
    assert "10.0.0.5" not in host_error(GenerationFailed("trace id 10.0.0.5", provider="x"))


def test_the_unexpected_gives_a_reference_and_nothing_else() -> None:
    assert unexpected("ab12cd34") == "Something went wrong on the bot's side (ref ab12cd34)."
