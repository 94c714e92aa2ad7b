"""A member's prompt suffix (/set suffix) and Remix, in the member's words."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cogs.render import markup
from cogs.render.i18n import Locale, _, numbers
from wanbot.i18n import N_
from wanbot.preferences import Preferences
from wanbot.providers.models import GenerationRequest

SUFFIX_SHOWN = 120  # characters of a suffix a caption repeats

_SUFFIX_PROBLEMS = {
    "empty": N_(
        "That suffix is empty. Write the style to add to your prompts, or none to clear it."
    ),
    "too_long": N_("A prompt suffix can have up to %(limit)s characters; that one has %(length)s."),
    "too_long_total": N_(
        "With your suffix the prompt has %(length)s characters; the most any image host takes "
        "is %(limit)s. Shorten the prompt, or change the suffix with /set suffix:."
    ),
    "too_long_for_host": N_(
        "With your suffix the prompt has %(length)s characters; %(provider)s takes up to "
        "%(limit)s. Shorten the prompt, or change the suffix with /set suffix:."
    ),
}


def suffix_refusal(details: Mapping[str, Any], locale: Locale = None) -> str:
    """Why a prompt suffix can't be used (without the closing "nothing was charged")."""
    return _(_SUFFIX_PROBLEMS[str(details["problem"])], locale) % numbers(details, locale)


def style_line(request: GenerationRequest, locale: Locale = None) -> str | None:
    """The caption's note of the member's suffix that was added to the prompt."""
    if not request.suffix:
        return None
    return _("style: %(suffix)s", locale) % {"suffix": markup.safe(request.suffix, SUFFIX_SHOWN)}


def suffix_setting(prefs: Preferences, locale: Locale = None) -> str | None:
    """The /set line for a saved suffix, when there is one."""
    if not prefs.suffix:
        return None
    return _(
        'Added to every prompt of yours: "%(suffix)s" (clear it with /set suffix:none)', locale
    ) % {"suffix": markup.shorten(prefs.suffix, SUFFIX_SHOWN)}


def remix_of(link: str, locale: Locale = None) -> str:
    return _("remix of %(link)s", locale) % {"link": link}


def remix_modal_title(locale: Locale = None) -> str:
    return _("Remix", locale)


def remix_prompt_label(locale: Locale = None) -> str:
    return _("Prompt", locale)


def remix_negative_label(locale: Locale = None) -> str:
    return _("Negative prompt (leave empty for none)", locale)


def remix_choice(locale: Locale = None) -> str:
    """The Vary menu's choice that opens the Remix box instead of varying an image."""
    return _("Remix: change the prompt", locale)
