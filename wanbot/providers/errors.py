"""One small error hierarchy for every image host.

Each error carries a plain-words `user_message` the bot can show as it is. Provider-specific codes
are kept in `code` for logs; they never decide anything outside the provider module.
"""

from __future__ import annotations

from typing import Any

from wanbot.errors import WanbotError


class ProviderError(WanbotError):
    """Something went wrong talking to an image host."""

    #: Whether another provider might succeed where this one failed (used for fallback).
    provider_unavailable = False
    default_message = "the image host had a problem"

    def __init__(
        self,
        message: str | None = None,
        *,
        provider: str = "",
        code: str | None = None,
        status: int | None = None,
    ) -> None:
        self.user_message = message or self.default_message
        self.provider = provider
        self.code = code
        self.status = status
        super().__init__(self.user_message)

    def __str__(self) -> str:
        parts = [self.user_message]
        if self.code:
            parts.append(f"code={self.code}")
        if self.status is not None:
            parts.append(f"http={self.status}")
        return " ".join(parts)


class BadRequest(ProviderError):
    default_message = "the image host refused these options"


class AuthError(ProviderError):
    provider_unavailable = True
    default_message = "the image host did not accept the bot's API key"


class OutOfCredits(ProviderError):
    provider_unavailable = True
    default_message = "the bot's account at the image host is out of credits"


class ContentRejected(ProviderError):
    default_message = "content rejected"


class RateLimited(ProviderError):
    provider_unavailable = True
    default_message = "the image host is busy (rate limited)"

    def __init__(
        self, message: str | None = None, *, retry_after: float | None = None, **where: Any
    ) -> None:
        super().__init__(message, **where)
        self.retry_after = retry_after


class Unavailable(ProviderError):
    provider_unavailable = True
    default_message = "the image host is unavailable"


class GenerationFailed(ProviderError):
    default_message = "the image host could not make this image"


class TimedOut(ProviderError):
    default_message = "the image host took too long"


class UnsupportedRequest(ProviderError):
    """A request the provider cannot honour, found before any call. The message says why."""

    default_message = "this provider can't do that"
