"""Refusals and errors in the member's words. "Nothing was charged." is added here, once."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cogs.render import markup, prompts, wallets
from cogs.render.i18n import N_, Locale, _, listing, ngettext, number, numbers, sentences
from wanbot.errors import Refusal, RefusalReason
from wanbot.jobs.outcomes import host_problem_key
from wanbot.providers.capabilities import ISSUE_TEXT
from wanbot.providers.errors import ProviderError

NOTHING_CHARGED = N_("Nothing was charged.")
NOTHING_CHANGED = N_("Nothing was changed.")
# Refusals of administration commands: nothing was changed, rather than charged.
_ADMIN = frozenset(
    {RefusalReason.ADMIN_INPUT, RefusalReason.BAD_BLOCKLIST_ENTRY, RefusalReason.WALLET_ADMIN}
)

_BLOCK_WHY = {
    "minors": N_("it describes sexual content involving minors, which is never allowed"),
    "sexual": N_('it asks for explicit sexual content ("%(matched)s")'),
    "gore": N_('it asks for extreme gore ("%(matched)s")'),
    "server": N_('it matches this server\'s blocklist ("%(matched)s")'),
}
_FIELDS = {"prompt": N_("prompt"), "negative_prompt": N_("negative prompt")}

_SIMPLE = {
    RefusalReason.NOT_ALLOWED_GUILD: N_("This bot isn't available on this server."),
    RefusalReason.BANNED: N_("A moderator has turned off image generation for you on this server."),
    RefusalReason.NO_IMAGE: N_("There is no image to edit."),
    RefusalReason.TOO_MANY_IMAGES: N_(
        "You can edit up to %(limit)s images at once; that was %(count)s."
    ),
    RefusalReason.INPUTS_GONE: N_(
        "The images that edit started from are no longer kept. Use Vary or /edit instead."
    ),
    RefusalReason.JOB_GONE: N_("That job no longer exists."),
    RefusalReason.RESULT_IMAGES_GONE: N_("I can't find the images of that result any more."),
    RefusalReason.BAD_INPUT_IMAGE: N_("%(name)s is over %(mb)s MB."),
}

_BAD_OPTION = {
    "empty": N_("The %(field)s is empty. Describe the image you want."),
    "too_long": N_(
        "The %(field)s has %(length)s characters; the most any image host takes is %(limit)s."
    ),
    "palette_count": N_(
        "A palette needs 3 to 10 colours; you gave %(count)s. "
        "Example: palette:#FF0000 #00FF00 #0000FF"
    ),
    "palette_item": N_(
        "%(item)r is not a colour. Write each as #RRGGBB, optionally with a share "
        "like #FF8800:25%%."
    ),
    "palette_share_range": N_("%(item)s has a share outside 0-100%%."),
    "palette_shares_full": N_("The palette's shares already reach 100%% before every colour."),
    "palette_total": N_("The palette's shares total %(total)s%%; they must total 100%%."),
    "aspect_ratio": N_("%(value)r is not an aspect ratio. Use one of %(choices)s."),
    "size": N_("%(value)r is not a size. Use %(choices)s."),
    "n_range": N_("n must be between 1 and 4 (up to 12 with image_set)."),
    "n_needs_image_set": N_("More than 4 images needs image_set:true (a coherent set of images)."),
    "seed_range": N_("seed must be between 0 and %(max)s."),
    "palette_with_image_set": N_("A colour palette can't be combined with image_set. Remove one."),
    "combination": N_("Those options don't work together: %(text)s."),
    "default_n_range": N_("A default n must be 1 to %(max)s."),
    "default_negative_too_long": N_("A default negative prompt can be up to %(limit)s characters."),
    "edit_count": N_("How many images must be a number from 1 to 4."),
}

_BAD_INPUT = {
    "empty": N_("%(name)s is empty."),
    "too_large": N_("%(name)s is %(size)s MB; images to edit can be up to %(mb)s MB."),
    "over_limit": N_("%(name)s is over %(mb)s MB."),
    "not_image": N_("%(name)s is not an image (%(content_type)s). Attach a PNG, JPEG or WEBP."),
    "unreadable": N_("%(name)s is not an image Discord could read. Attach a PNG, JPEG or WEBP."),
    "format": N_("%(name)s is a %(format)s image; attach a PNG, JPEG, WEBP or BMP."),
    "too_many_pixels": N_("%(name)s is %(width)s×%(height)s, too many pixels to edit."),
    "damaged": N_("%(name)s is not an image I can read (damaged, or not a picture)."),
}

_INPUT_NOT_FETCHED = {
    "fetch_failed": N_("I couldn't download %(name)s."),
    "not_on_discord": N_("%(name)s is not an image on Discord (only Discord attachments work)."),
}

_BAD_ENTRY = {
    "pattern_length": N_("A pattern must be 1 to %(limit)s characters."),
    "invalid_pattern": N_(
        "That is not a valid regular expression here (%(detail)s). Patterns run on RE2: "
        "no backreferences or lookarounds."
    ),
    "matches_everything": N_("That pattern matches every prompt, even an empty one."),
    "word_length": N_("A blocked word or phrase must be 1 to %(limit)s characters."),
}

# By problem, or (problem, action) where the action decides what was missing.
_ADMIN_INPUT: dict[str | tuple[str, str], str] = {
    "not_admin": N_("Only members with the Manage Server permission can use /admin."),
    "bot_credits": N_("Bots don't use credits."),
    "blocklist_full": N_("The blocklist holds up to %(limit)s entries."),
    ("which_channel", "allow"): N_("Say which channel to allow: add channel:#name."),
    ("which_channel", "deny"): N_("Say which channel to deny: add channel:#name."),
    ("which_channel", "clear"): N_("Say which channel to clear: add channel:#name."),
    ("what_term", "add"): N_("Say what to add: add term:...."),
    ("what_term", "remove"): N_("Say what to remove: add term:...."),
}

# A size written W×H keeps plain digits, as image tools and the size option write it.
_SIDES = ("width", "height", "min")

_NOT_OWNER = {
    "cancel": N_("Only the member who asked for these images can cancel them."),
    "delete": N_("Only the member who made these images or a moderator can delete them."),
}


def block_reason(category: str, matched: str, locale: Locale = None) -> str:
    """Why a text was blocked, without the sentence around it."""
    template = _BLOCK_WHY.get(category, _BLOCK_WHY["server"])
    return _(template, locale) % {"matched": markup.shorten(matched, 40)}


def field_name(field: str, locale: Locale = None) -> str:
    """A text option as the member knows it: "prompt", "negative prompt"."""
    return _(_FIELDS[field], locale) if field in _FIELDS else field


def issue_text(key: str, values: Mapping[str, Any], locale: Locale = None) -> str:
    """What a provider can't do (wanbot.providers.capabilities), in the member's words."""
    shown = numbers(values, locale, plain=_SIDES)
    for name, value in values.items():
        if isinstance(value, tuple | list):
            shown[name] = listing(value, locale, either=key.startswith("size_"))
    if "file" in values:
        shown["file"] = markup.safe(str(values["file"]), 60)
    return _(ISSUE_TEXT[key], locale) % shown


def _bad_option(d: Mapping[str, Any], locale: Locale) -> str:
    problem = str(d["problem"])
    # the highest seed is one a member may type back, as plain digits
    values = numbers(d, locale, plain=("max",) if problem == "seed_range" else ())
    if "field" in values:
        values["field"] = field_name(str(values["field"]), locale)
    if "choices" in values:
        values["choices"] = listing(values["choices"], locale, either=problem == "size")
    if "total" in values:
        values["total"] = number(round(float(d["total"]), 2), locale)
    return _(_BAD_OPTION[problem], locale) % values


def _admin_input(d: Mapping[str, Any], locale: Locale) -> str:
    problem = str(d["problem"])
    key = (problem, str(d["action"])) if "action" in d else problem
    return _(_ADMIN_INPUT[key], locale) % numbers(d, locale)


def _unsupported(d: Mapping[str, Any], locale: Locale) -> str:
    if d.get("issue") in ISSUE_TEXT:
        text = issue_text(str(d["issue"]), d.get("issue_values") or {}, locale)
    else:  # a sentence made without a key (English only)
        problem = str(d["problem"])
        text = problem[:1].upper() + problem[1:].rstrip(".") + "."
    other = d.get("other")
    if other and d.get("asked_for"):
        text = sentences(
            text, _("Try /imagine provider:%(other)s, or change that option.", locale) % d
        )
    elif other:
        text = sentences(text, _("Try provider:%(other)s.", locale) % d)
    return text


def _insufficient(d: Mapping[str, Any], locale: Locale) -> str:
    text = ngettext(
        "You have %(balance)s credit left and this needs %(needed)s (%(per_image)s per image).",
        "You have %(balance)s credits left and this needs %(needed)s (%(per_image)s per image).",
        int(d["balance"]),
        locale,
    ) % {k: number(int(d[k]), locale) for k in ("balance", "needed", "per_image")}
    if "wallet" in d:
        text = sentences(text, wallets.wallet_short(d, locale))
    if "refills_at" in d:
        text = sentences(text, refill_hint(d["refills_at"], locale))
    return text


def reason_text(refusal: Refusal, locale: Locale = None) -> str:
    """What was refused and why, without the closing "nothing was charged"."""
    d = refusal.details
    reason = refusal.reason
    if reason in (RefusalReason.BAD_INPUT_IMAGE, RefusalReason.INPUT_DOWNLOAD_FAILED):
        return _input_refusal(refusal, locale)
    if reason is RefusalReason.BAD_BLOCKLIST_ENTRY:
        values = {**numbers(d, locale), "detail": markup.shorten(str(d.get("detail", "")), 120)}
        return _(_BAD_ENTRY[str(d["problem"])], locale) % values
    if reason is RefusalReason.NO_IMAGE and d.get("where") == "message":
        return _("That message has no images to edit.", locale)
    if reason in _SIMPLE:
        return _(_SIMPLE[reason], locale) % numbers(d, locale)
    if reason is RefusalReason.QUEUE_FULL:
        return ngettext(
            "You already have %(limit)s image waiting. Let it finish first.",
            "You already have %(limit)s images waiting. Let one finish first.",
            int(d["limit"]),
            locale,
        ) % {"limit": number(int(d["limit"]), locale)}
    if reason is RefusalReason.PROMPT_SUFFIX:
        return prompts.suffix_refusal(d, locale)
    if reason is RefusalReason.WALLET_ADMIN:
        return wallets.admin_refusal(d, locale)
    if reason is RefusalReason.BAD_OPTION:
        return _bad_option(d, locale)
    if reason is RefusalReason.ADMIN_INPUT:
        return _admin_input(d, locale)
    if reason is RefusalReason.NOT_OWNER:
        return _(_NOT_OWNER[str(d["action"])], locale)
    if reason is RefusalReason.CHANNEL_DENIED:
        text = _("Images can't be made in %(channel)s.", locale) % {
            "channel": markup.channel(d["channel_id"])
        }
        usable = d.get("usable") or []
        if usable:
            shown = " ".join(markup.channel(c) for c in usable[:3])
            text = sentences(text, _("Try %(channels)s.", locale) % {"channels": shown})
        return text
    if reason is RefusalReason.PROMPT_BLOCKED:
        return _("That %(field)s can't be used in %(channel)s: %(why)s.", locale) % {
            "field": field_name(str(d["field"]), locale),
            "channel": markup.channel(d["channel_id"]),
            "why": block_reason(str(d["category"]), str(d["matched"]), locale),
        }
    if reason is RefusalReason.PROVIDER_NOT_ENABLED:
        return _("%(name)r is not enabled on this bot. Enabled: %(enabled)s.", locale) % {
            "name": markup.shorten(str(d["name"]), 40),
            "enabled": listing(d["enabled"], locale),
        }
    if reason is RefusalReason.UNSUPPORTED_OPTION:
        return _unsupported(d, locale)
    if reason is RefusalReason.COOLDOWN:
        return _("You can start another job %(when)s.", locale) % {
            "when": markup.relative_time(float(d["ready_at"]))
        }
    if reason is RefusalReason.INSUFFICIENT_CREDITS:
        return _insufficient(d, locale)
    if reason is RefusalReason.SPEND_CAP:
        if d.get("scope") == "guild":
            return _(
                "The bot has reached this server's daily spending limit. Try again tomorrow.",
                locale,
            )
        return _("The bot has reached its daily spending limit. Try again tomorrow.", locale)
    return _("That can't be done right now.", locale)


def _input_refusal(refusal: Refusal, locale: Locale) -> str:
    """An input image refused; its name (a member's filename) is shown inert."""
    d = refusal.details
    values = {**numbers(d, locale, plain=_SIDES), "name": markup.safe(str(d.get("name", "")), 60)}
    if "size_mb" in d:
        values["size"] = number(round(float(d["size_mb"]), 1), locale)
    problem = str(d.get("problem", ""))
    if refusal.reason is RefusalReason.INPUT_DOWNLOAD_FAILED:
        return (
            _(_INPUT_NOT_FETCHED.get(problem, _INPUT_NOT_FETCHED["fetch_failed"]), locale) % values
        )
    if problem == "over_limit" and not d.get("mb"):
        return _("%(name)s is too large.", locale) % values
    if problem == "format" and not d.get("format"):
        problem = "damaged"
    return _(_BAD_INPUT.get(problem, _BAD_INPUT["damaged"]), locale) % values


def refill_hint(refills_at: float | None, locale: Locale = None) -> str:
    if refills_at is None:
        return _("Ask a server admin for more.", locale)
    return _("Your allowance refills %(when)s.", locale) % {
        "when": markup.relative_time(refills_at)
    }


def refusal(refusal: Refusal, locale: Locale = None) -> str:
    """The whole reply to a refusal, ending once with what was not charged (or changed)."""
    closing = NOTHING_CHANGED if refusal.reason in _ADMIN else NOTHING_CHARGED
    return sentences(reason_text(refusal, locale), _(closing, locale))


_HOST_PROBLEMS = {
    "content_rejected": N_("content rejected"),
    "bad_request": N_("the image host refused these options"),
    "auth": N_("the image host did not accept the bot's API key"),
    "out_of_credits": N_("the bot's account at the image host is out of credits"),
    "rate_limited": N_("the image host is busy"),
    "unavailable": N_("the bot could not reach the image host"),
    "generation_failed": N_("the image host could not make this image"),
    "timed_out": N_("the image host took too long"),
    "unsupported": N_("this host can't do that"),
    "host_error": N_("the image host had a problem"),
}


def host_problem(key: str | None, locale: Locale = None) -> str:
    """A host failure in plain words; never the host's own status or error text."""
    return _(_HOST_PROBLEMS.get(key or "host_error", _HOST_PROBLEMS["host_error"]), locale)


def host_error(error: ProviderError, locale: Locale = None) -> str:
    text = _("%(problem)s.", locale) % {"problem": host_problem(host_problem_key(error), locale)}
    return sentences(f"{text[:1].upper()}{text[1:]}", _(NOTHING_CHARGED, locale))


def unexpected(ref: str, locale: Locale = None) -> str:
    return _("Something went wrong on the bot's side (ref %(ref)s).", locale) % {"ref": ref}


def not_usable_here(locale: Locale = None) -> str:
    """A command's own check failed (a permission Discord checked, a server-only command)."""
    return _("You can't use this here.", locale)
