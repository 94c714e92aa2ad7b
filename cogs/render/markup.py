"""Discord markup for ids and times, and user text made inert: built only here."""

from __future__ import annotations

import discord

from wanbot.text import neutralise_bidi

PROMPT_SHOWN = 300  # characters of the prompt a message repeats; the whole prompt stays stored


def channel(channel_id: int) -> str:
    return f"<#{channel_id}>"


def user(user_id: int) -> str:
    return f"<@{user_id}>"


def role(role_id: int) -> str:
    return f"<@&{role_id}>"


def relative_time(when: float) -> str:
    return f"<t:{int(when)}:R>"


def message_link(guild_id: int, channel_id: int, message_id: int) -> str:
    return f"https://discord.com/channels/{guild_id}/{channel_id}/{message_id}"


def safe(text: str, limit: int = PROMPT_SHOWN) -> str:
    """User text made inert: no markdown tricks, no mentions, no direction controls (which could
    reorder what follows it, such as a caption's "for @member"), bounded length."""
    text = " ".join(neutralise_bidi(text).split())
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return discord.utils.escape_mentions(discord.utils.escape_markdown(text))


def shorten(text: str, limit: int) -> str:
    """Text echoed as it is, but bounded and without direction controls."""
    text = neutralise_bidi(text)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def in_code(text: str, limit: int = 200) -> str:
    """User text to show inside `inline code` (a blocklist pattern): it can't close the span."""
    return shorten(text, limit).replace("`", "ˋ")
