"""One error tree for the domain: refusals carry a reason and numbers, never sentences.

    WanbotError
    ├── Refusal(reason, details)         an action refused before anything was charged
    │   ├── InsufficientCredits, SpendCapReached, QueueFull   (raised by the store)
    │   ├── Refused                      the server's policy (wanbot.moderation)
    │   └── InputRefused                 an input image not fetched (wanbot.fetch)
    ├── HostFailure                      = wanbot.providers.errors.ProviderError (an image host)
    └── JobCancelled                     a job stopped because the member cancelled it

The Discord adapter (cogs/render) turns a Refusal into the member's language and says once that
nothing was charged.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from typing import Any


class WanbotError(Exception):
    """Every error the bot raises on purpose."""


class RefusalReason(enum.StrEnum):
    # who and where
    NOT_ALLOWED_GUILD = "not_allowed_guild"
    BANNED = "banned"
    CHANNEL_DENIED = "channel_denied"
    PROMPT_BLOCKED = "prompt_blocked"
    # what was asked
    BAD_OPTION = "bad_option"
    PROVIDER_NOT_ENABLED = "provider_not_enabled"
    UNSUPPORTED_OPTION = "unsupported_option"
    NO_IMAGE = "no_image"
    TOO_MANY_IMAGES = "too_many_images"
    BAD_INPUT_IMAGE = "bad_input_image"
    INPUT_DOWNLOAD_FAILED = "input_download_failed"
    INPUTS_GONE = "inputs_gone"
    JOB_GONE = "job_gone"
    RESULT_IMAGES_GONE = "result_images_gone"
    NOT_OWNER = "not_owner"
    # money and pace
    COOLDOWN = "cooldown"
    INSUFFICIENT_CREDITS = "insufficient_credits"
    SPEND_CAP = "spend_cap"
    QUEUE_FULL = "queue_full"
    # the member's prompt suffix (/set suffix): empty, too long, or the prompt with it too long
    PROMPT_SUFFIX = "prompt_suffix"
    # administration (nothing was changed, rather than charged)
    BAD_BLOCKLIST_ENTRY = "bad_blocklist_entry"
    ADMIN_INPUT = "admin_input"
    WALLET_ADMIN = "wallet_admin"  # /admin wallet: details["problem"] says what


class Refusal(WanbotError):
    """An action refused with nothing charged: `reason` says why, `details` carries the numbers."""

    def __init__(self, reason: RefusalReason, details: Mapping[str, Any] | None = None) -> None:
        self.reason = reason
        self.details: dict[str, Any] = dict(details or {})
        self.charged = False
        super().__init__(reason.value)

    def __str__(self) -> str:
        shown = ", ".join(f"{k}={v!r}" for k, v in sorted(self.details.items()))
        return f"{self.reason.value}({shown})" if shown else self.reason.value


class InsufficientCredits(Refusal):
    def __init__(self, balance: int, needed: int, per_image: int) -> None:
        super().__init__(
            RefusalReason.INSUFFICIENT_CREDITS,
            {"balance": balance, "needed": needed, "per_image": per_image},
        )
        self.balance = balance
        self.needed = needed
        self.per_image = per_image


class SpendCapReached(Refusal):
    def __init__(self, scope: str) -> None:
        super().__init__(RefusalReason.SPEND_CAP, {"scope": scope})
        self.scope = scope


class QueueFull(Refusal):
    def __init__(self, limit: int) -> None:
        super().__init__(RefusalReason.QUEUE_FULL, {"limit": limit})
        self.limit = limit


class JobCancelled(WanbotError):
    """The job was cancelled (by the member, or meanwhile in the store) before it could run."""
