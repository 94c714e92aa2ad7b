"""Host failures sorted into the few kinds a member is told about (never the host's own text)."""

from __future__ import annotations

from wanbot.providers.errors import (
    AuthError,
    BadRequest,
    ContentRejected,
    GenerationFailed,
    OutOfCredits,
    ProviderError,
    RateLimited,
    TimedOut,
    Unavailable,
    UnsupportedRequest,
)

_KINDS: tuple[tuple[type[ProviderError], str], ...] = (
    (ContentRejected, "content_rejected"),
    (UnsupportedRequest, "unsupported"),
    (BadRequest, "bad_request"),
    (AuthError, "auth"),
    (OutOfCredits, "out_of_credits"),
    (RateLimited, "rate_limited"),
    (Unavailable, "unavailable"),
    (GenerationFailed, "generation_failed"),
    (TimedOut, "timed_out"),
)


def host_problem_key(error: ProviderError) -> str:
    for kind, key in _KINDS:
        if isinstance(error, kind):
            return key
    return "host_error"
