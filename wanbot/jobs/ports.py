"""What the job pipeline needs from the chat platform, so the domain imports no Discord."""

from __future__ import annotations

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


@dataclass(frozen=True)
class Delivery:
    files: Sequence[DeliveredFile]
    charged: int
    balance_after: int
    provider_label: str


class Notifier(Protocol):
    async def show_progress(self, job: Job, progress: Progress) -> None:
        """Edit the placeholder; may silently skip when the platform is busy."""
        ...

    async def deliver(self, job: Job, delivery: Delivery) -> list[int]:
        """Post the results; return the ids of the messages that carry them."""
        ...

    async def show_failure(self, job: Job, message: str) -> None:
        """Replace the placeholder with a plain-words failure notice."""
        ...
