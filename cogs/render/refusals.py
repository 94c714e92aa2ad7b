"""Refusals and errors in the member's words. "Nothing was charged." is added here, once."""

from __future__ import annotations

from typing import Any

from cogs.render import markup, prompts, wallets
from cogs.render.i18n import Locale, _, ngettext
from wanbot.errors import Refusal, RefusalReason
from wanbot.jobs.outcomes import host_problem_key
from wanbot.providers.errors import ProviderError

NOTHING_CHARGED = "Nothing was charged."
NOTHING_CHANGED = "Nothing was changed."
# Refusals of administration commands: nothing was changed, rather than charged.
_ADMIN = frozenset(
    {RefusalReason.ADMIN_INPUT, RefusalReason.BAD_BLOCKLIST_ENTRY, RefusalReason.WALLET_ADMIN}
)

_BLOCK_WHY = {
    "minors": "it describes sexual content involving minors, which is never allowed",
    "sexual": 'it asks for explicit sexual content ("%(matched)s")',
    "gore": 'it asks for extreme gore ("%(matched)s")',
    "server": 'it matches this server\'s blocklist ("%(matched)s")',
}
_FIELDS = {"prompt": "prompt", "negative_prompt": "negative prompt"}

_SIMPLE = {
    RefusalReason.NOT_ALLOWED_GUILD: "This bot isn't available on this server.",
    RefusalReason.BANNED: "A moderator has turned off image generation for you on this server.",
    RefusalReason.NO_IMAGE: "There is no image to edit.",
    RefusalReason.TOO_MANY_IMAGES: (
        "You can edit up to %(limit)s images at once; that was %(count)s."
    ),
    RefusalReason.INPUT_DOWNLOAD_FAILED: "I couldn't download %(name)s.",
    RefusalReason.INPUTS_GONE: (
        "The images that edit started from are no longer kept. Use Vary or /edit instead."
    ),
    RefusalReason.JOB_GONE: "That job no longer exists.",
    RefusalReason.RESULT_IMAGES_GONE: "I can't find the images of that result any more.",
    RefusalReason.QUEUE_FULL: "You already have %(limit)s images waiting. Let one finish first.",
}

_BAD_OPTION = {
    "empty": "The %(field)s is empty. Describe the image you want.",
    "too_long": (
        "The %(field)s has %(length)s characters; the most any image host takes is %(limit)s."
    ),
    "palette_count": (
        "A palette needs 3 to 10 colours; you gave %(count)s. "
        "Example: palette:#FF0000 #00FF00 #0000FF"
    ),
    "palette_item": (
        "%(item)r is not a colour. Write each as #RRGGBB, optionally with a share "
        "like #FF8800:25%%."
    ),
    "palette_share_range": "%(item)s has a share outside 0-100%%.",
    "palette_shares_full": "The palette's shares already reach 100%% before every colour.",
    "palette_total": "The palette's shares total %(total)g%%; they must total 100%%.",
    "aspect_ratio": "%(value)r is not an aspect ratio. Use one of %(choices)s.",
    "size": "%(value)r is not a size. Use %(choices)s.",
    "n_range": "n must be between 1 and 4 (up to 12 with image_set).",
    "n_needs_image_set": "More than 4 images needs image_set:true (a coherent set of images).",
    "seed_range": "seed must be between 0 and %(max)s.",
    "palette_with_image_set": "A colour palette can't be combined with image_set. Remove one.",
    "combination": "Those options don't work together: %(text)s.",
    "default_n_range": "A default n must be 1 to %(max)s.",
    "default_negative_too_long": "A default negative prompt can be up to %(limit)s characters.",
    "edit_count": "How many images must be a number from 1 to 4.",
}

_ADMIN_INPUT = {
    "not_admin": "Only members with the Manage Server permission can use /admin.",
    "bot_credits": "Bots don't use credits.",
    "which_channel": "Say which channel to %(action)s: add channel:#name.",
    "what_term": "Say what to %(action)s: add term:....",
    "blocklist_full": "The blocklist holds up to %(limit)s entries.",
}

_NOT_OWNER = {
    "cancel": "Only the member who asked for these images can cancel them.",
    "delete": "Only the member who made these images or a moderator can delete them.",
}


def _choices(values: Any) -> str:
    items = [str(v) for v in values]
    return ", ".join(items[:-1]) + " or " + items[-1] if len(items) > 2 else " or ".join(items)


def block_reason(category: str, matched: str, locale: Locale = None) -> str:
    """Why a text was blocked, without the sentence around it."""
    template = _BLOCK_WHY.get(category, _BLOCK_WHY["server"])
    return _(template, locale) % {"matched": markup.shorten(matched, 40)}


def reason_text(refusal: Refusal, locale: Locale = None) -> str:
    """What was refused and why, without the closing "nothing was charged"."""
    d = refusal.details
    reason = refusal.reason
    if reason is RefusalReason.MESSAGE:
        text = str(d.get("text", ""))
        return text.replace(NOTHING_CHARGED, "").replace(NOTHING_CHANGED, "").strip()
    if reason is RefusalReason.NO_IMAGE and d.get("where") == "message":
        return _("That message has no images to edit.", locale)
    if reason in _SIMPLE:
        return _(_SIMPLE[reason], locale) % d
    if reason is RefusalReason.PROMPT_SUFFIX:
        return prompts.suffix_refusal(d, locale)
    if reason is RefusalReason.WALLET_ADMIN:
        return wallets.admin_refusal(d, locale)
    if reason is RefusalReason.BAD_OPTION:
        values = dict(d)
        if "field" in values:
            values["field"] = _(_FIELDS.get(str(values["field"]), str(values["field"])), locale)
        if reason is RefusalReason.BAD_OPTION and "choices" in values:
            values["choices"] = (
                _choices(values["choices"])
                if values.get("problem") == "size"
                else ", ".join(values["choices"])
            )
        return _(_BAD_OPTION[str(d["problem"])], locale) % values
    if reason is RefusalReason.ADMIN_INPUT:
        return _(_ADMIN_INPUT[str(d["problem"])], locale) % d
    if reason is RefusalReason.NOT_OWNER:
        return _(_NOT_OWNER[str(d["action"])], locale)
    if reason is RefusalReason.CHANNEL_DENIED:
        text = _("Images can't be made in %(channel)s.", locale) % {
            "channel": markup.channel(d["channel_id"])
        }
        usable = d.get("usable") or []
        if usable:
            shown = " ".join(markup.channel(c) for c in usable[:3])
            text += " " + _("Try %(channels)s.", locale) % {"channels": shown}
        return text
    if reason is RefusalReason.PROMPT_BLOCKED:
        return _("That %(field)s can't be used in %(channel)s: %(why)s.", locale) % {
            "field": _(_FIELDS.get(str(d["field"]), str(d["field"])), locale),
            "channel": markup.channel(d["channel_id"]),
            "why": block_reason(str(d["category"]), str(d["matched"]), locale),
        }
    if reason is RefusalReason.PROVIDER_NOT_ENABLED:
        return _("%(name)r is not enabled on this bot. Enabled: %(enabled)s.", locale) % {
            "name": markup.shorten(str(d["name"]), 40),
            "enabled": ", ".join(d["enabled"]),
        }
    if reason is RefusalReason.UNSUPPORTED_OPTION:
        problem = str(d["problem"])
        text = problem[:1].upper() + problem[1:].rstrip(".") + "."
        other = d.get("other")
        if other and d.get("asked_for"):
            text += " " + _("Try /imagine provider:%(other)s, or change that option.", locale) % d
        elif other:
            text += " " + _("Try provider:%(other)s.", locale) % d
        return text
    if reason is RefusalReason.BAD_INPUT_IMAGE:
        return _("%(name)s is over %(mb)s MB.", locale) % d
    if reason is RefusalReason.COOLDOWN:
        return _("You can start another job %(when)s.", locale) % {
            "when": markup.relative_time(float(d["ready_at"]))
        }
    if reason is RefusalReason.INSUFFICIENT_CREDITS:
        text = (
            ngettext(
                "You have %(balance)s credit left and this needs %(needed)s "
                "(%(per_image)s per image).",
                "You have %(balance)s credits left and this needs %(needed)s "
                "(%(per_image)s per image).",
                int(d["balance"]),
                locale,
            )
            % d
        )
        if "wallet" in d:
            text += " " + wallets.wallet_short(d, locale)
        if "refills_at" in d:
            text += " " + refill_hint(d["refills_at"], locale)
        return text
    if reason is RefusalReason.SPEND_CAP:
        if d.get("scope") == "guild":
            return _("The bot has reached this server's daily spending limit. Try again tomorrow.")
        return _("The bot has reached the bot's daily spending limit. Try again tomorrow.")
    return _("That can't be done right now.", locale)


def refill_hint(refills_at: float | None, locale: Locale = None) -> str:
    if refills_at is None:
        return _("Ask a server admin for more.", locale)
    return _("Your allowance refills %(when)s.", locale) % {
        "when": markup.relative_time(refills_at)
    }


def refusal(refusal: Refusal, locale: Locale = None) -> str:
    """The whole reply to a refusal, ending once with what was not charged (or changed)."""
    closing = NOTHING_CHANGED if refusal.reason in _ADMIN else NOTHING_CHARGED
    if refusal.reason is RefusalReason.MESSAGE and NOTHING_CHANGED in str(
        refusal.details.get("text", "")
    ):
        closing = NOTHING_CHANGED
    return f"{reason_text(refusal, locale)} {_(closing, locale)}"


_HOST_PROBLEMS = {
    "content_rejected": "content rejected",
    "bad_request": "the image host refused these options",
    "auth": "the image host did not accept the bot's API key",
    "out_of_credits": "the bot's account at the image host is out of credits",
    "rate_limited": "the image host is busy",
    "unavailable": "the bot could not reach the image host",
    "generation_failed": "the image host could not make this image",
    "timed_out": "the image host took too long",
    "unsupported": "this host can't do that",
    "host_error": "the image host had a problem",
}


def host_problem(key: str | None, locale: Locale = None) -> str:
    """A host failure in plain words; never the host's own status or error text."""
    return _(_HOST_PROBLEMS.get(key or "host_error", _HOST_PROBLEMS["host_error"]), locale)


def host_error(error: ProviderError, locale: Locale = None) -> str:
    text = host_problem(host_problem_key(error), locale)
    return f"{text[:1].upper()}{text[1:]}. {_(NOTHING_CHARGED, locale)}"


def unexpected(ref: str, locale: Locale = None) -> str:
    return _("Something went wrong on the bot's side (ref %(ref)s).", locale) % {"ref": ref}
