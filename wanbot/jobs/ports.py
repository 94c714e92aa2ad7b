"""What the job pipeline needs from the chat platform, so the domain imports no Discord."""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from wanbot.store.base import Job


@dataclass(frozen=True)
class Progress:
    """What a placeholder shows while a job waits or runs."""

    phase: str  # queued, submitting, running
    provider_label: str
    queue_position: int | None = None
    elapsed_s: float = 0.0
    eta_s: float | None = None  # seconds from now, when known
    eta_basis: int = 0  # how many past jobs the estimate comes from
    fraction: float | None = None  # 0..1
    cancellable: bool = True


@dataclass(frozen=True)
class DeliveredFile:
    path: Path
    filename: str
    width: int
    height: int
    size_bytes: int
    note: str | None = None  # said in the caption when the file was re-encoded or resized
    # what it was before, when re-encoded: the caption says so in the member's language
    original_format: str | None = None
    original_bytes: int | None = None


@dataclass(frozen=True)
class Delivery:
    files: Sequence[DeliveredFile]
    charged: int
    balance_after: int  # of whoever paid: the member, or the team wallet
    provider_label: str
    wallet_name: str | None = None  # the team wallet that paid, if one did


class FailureReason(enum.StrEnum):
    """Why a job ended without images."""

    CANCELLED = "cancelled"  # the member cancelled it
    HOST_CANCELLED = "host_cancelled"  # the image host cancelled it
    HOST_FAILED = "host_failed"  # the host said no; `host_problem` says which way
    DEADLINE = "deadline"  # past the job's deadline
    DOWNLOAD_FAILED = "download_failed"  # the results could not be fetched
    PROVIDER_DISABLED = "provider_disabled"  # its host is no longer configured
    RESTARTED_WHILE_SUBMITTING = "restarted_while_submitting"
    INTERNAL = "internal"  # a bug on the bot's side


@dataclass(frozen=True)
class JobOutcome:
    """How a job ended without images: the reason, the host it was on, what was refunded."""

    reason: FailureReason
    provider_label: str
    refunded: int
    host_problem: str | None = None  # with HOST_FAILED: content_rejected, bad_request, ...

    @property
    def log_text(self) -> str:
        """What the jobs table keeps as the error, for operators."""
        return OPERATOR_TEXT[self.reason] + (f" ({self.host_problem})" if self.host_problem else "")


OPERATOR_TEXT = {
    FailureReason.CANCELLED: "cancelled",
    FailureReason.HOST_CANCELLED: "the image host cancelled it",
    FailureReason.HOST_FAILED: "the image host failed it",
    FailureReason.DEADLINE: "it took longer than this bot waits",
    FailureReason.DOWNLOAD_FAILED: "the images could not be fetched from the image host",
    FailureReason.PROVIDER_DISABLED: "its provider is no longer enabled on this bot",
    FailureReason.RESTARTED_WHILE_SUBMITTING: "restarted while sending it to the image host",
    FailureReason.INTERNAL: "failed unexpectedly",
}


class Notifier(Protocol):
    async def show_progress(self, job: Job, progress: Progress) -> None:
        """Edit the placeholder; may silently skip when the platform is busy."""
        ...

    async def deliver(self, job: Job, delivery: Delivery) -> list[int]:
        """Post the results; return the ids of the messages that carry them."""
        ...

    async def show_failure(self, job: Job, outcome: JobOutcome) -> None:
        """Replace the placeholder with a notice of how the job ended and what came back."""
        ...
