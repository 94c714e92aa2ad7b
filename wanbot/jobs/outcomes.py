"""Host failures sorted into the few kinds a member is told about (never the host's own text)."""

from __future__ import annotations

from wanbot.providers import errors

_KINDS: tuple[tuple[type[errors.ProviderError], str], ...] = (
    (errors.ContentRejected, "content_rejected"),
    (errors.UnsupportedRequest, "unsupported"),
    (errors.BadRequest, "bad_request"),
    (errors.AuthError, "auth"),
    (errors.OutOfCredits, "out_of_credits"),
    (errors.RateLimited, "rate_limited"),
    (errors.Unavailable, "unavailable"),
    (errors.GenerationFailed, "generation_failed"),
    (errors.TimedOut, "timed_out"),
)


def host_problem_key(error: errors.ProviderError) -> str:
    for kind, key in _KINDS:
        if isinstance(error, kind):
            return key
    return "host_error"
