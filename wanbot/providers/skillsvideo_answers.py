"""What skills.video says: its answer models, its two status vocabularies and its error codes,
read into the bot's states and error types (see skillsvideo.py for the choices made)."""

from __future__ import annotations

import re
from typing import Any

from wanbot.providers import errors
from wanbot.providers.hosted import HostAnswer
from wanbot.providers.models import JobState

_STATES: dict[str, JobState] = {
    "starting": JobState.QUEUED,
    "in_queue": JobState.QUEUED,
    "processing": JobState.RUNNING,
    "in_progress": JobState.RUNNING,
    "succeeded": JobState.SUCCEEDED,
    "completed": JobState.SUCCEEDED,
    "failed": JobState.FAILED,
    "canceled": JobState.CANCELLED,
    "cancelled": JobState.CANCELLED,
}

# Documented codes; a code may carry a prefix (IMAGE_GENERATION_RATE_LIMITED), so match suffixes.
_CODE_ERRORS: tuple[tuple[str, type[errors.ProviderError]], ...] = (
    ("INVALID_INPUT", errors.BadRequest),
    ("UNSUPPORTED_MODEL", errors.BadRequest),
    ("INSUFFICIENT_CREDITS", errors.OutOfCredits),
    ("CONTENT_REJECTED", errors.ContentRejected),
    ("RATE_LIMITED", errors.RateLimited),
    ("PROVIDER_UNAVAILABLE", errors.Unavailable),
    ("FAILED", errors.GenerationFailed),
    ("TIMEOUT", errors.TimedOut),
)
CODE_LIKE = re.compile(r"^[A-Z][A-Z0-9_]*$")
# Errors whose host message helps the member; the rest read better in our own words.
SHOW_HOST_MESSAGE = (errors.BadRequest, errors.ContentRejected, errors.GenerationFailed)


class Usage(HostAnswer):
    total: float | None = None
    subscription: float | None = None
    permanent: float | None = None


class OutputImage(HostAnswer):
    url: str
    file_name: str | None = None
    content_type: str | None = None
    width: int | None = None
    height: int | None = None


class OutputData(HostAnswer):
    type: str | None = None
    n: int | None = None
    actual_prompt: str | None = None
    images: list[OutputImage] | None = None
    image: OutputImage | None = None


class Generation(HostAnswer):
    """A job as the host describes it: the submit answer, a poll answer or one stream event."""

    id: str | None = None
    status: str
    data: OutputData | None = None
    usage: Usage | None = None
    code: str | None = None
    message: str | None = None
    error: str | dict[str, Any] | None = None


class Credits(HostAnswer):
    """`GET /credits`: the account's balance, split by where the credits came from."""

    total: float | None = None
    subscription: float | None = None
    permanent: float | None = None


class ErrorBody(HostAnswer):
    error: str | dict[str, Any] | None = None
    code: str | None = None
    message: str | None = None


def job_state(raw: str) -> JobState:
    return _STATES.get(raw.strip().lower(), JobState.RUNNING)


def error_type_for_code(code: str | None) -> type[errors.ProviderError] | None:
    if not code:
        return None
    upper = code.strip().upper()
    for key, error_type in _CODE_ERRORS:
        if upper == key or upper.endswith("_" + key):
            return error_type
    return None


def error_type_for_status(
    status: int, *, has_code: bool, job_lookup: bool
) -> type[errors.ProviderError]:
    if status in (401, 403):
        return errors.AuthError
    if status == 402:
        return errors.OutOfCredits
    if status == 404:
        # An unknown job will never finish; an unknown model is a bad request.
        return errors.GenerationFailed if job_lookup else errors.BadRequest
    if status == 422:
        return errors.ContentRejected if has_code else errors.BadRequest
    if status == 429:
        return errors.RateLimited
    if status == 502:
        return errors.GenerationFailed
    if status == 504:
        return errors.TimedOut
    if status >= 500:
        return errors.Unavailable
    return errors.BadRequest
