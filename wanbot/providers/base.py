"""The interface every image host implements."""

from __future__ import annotations

import abc
from collections.abc import AsyncGenerator, Callable
from typing import ClassVar

from wanbot.providers.capabilities import Capabilities
from wanbot.providers.models import GenerationRequest, JobStatus


class Provider(abc.ABC):
    """An image host. Instances are built once in `main()` and share one aiohttp session."""

    name: ClassVar[str]
    capabilities: ClassVar[Capabilities]

    @property
    def label(self) -> str:
        return self.capabilities.label

    #: Whether `submit_with_hook` exists: the host calls a URL of ours when the job is done.
    accepts_webhook: ClassVar[bool] = False

    @property
    def pushes_updates(self) -> bool:
        """Whether to learn of progress from `submit_and_watch` rather than by polling."""
        return self.capabilities.push_updates

    def check(self, request: GenerationRequest) -> None:
        """Raise UnsupportedRequest before any call when this host can't honour the request."""
        self.capabilities.check(request)

    @abc.abstractmethod
    async def submit(self, request: GenerationRequest) -> JobStatus:
        """Start a job; the returned status carries the provider's job id."""

    @abc.abstractmethod
    async def get_status(self, job_id: str) -> JobStatus:
        """One look at a job started earlier (possibly before a restart)."""

    async def submit_with_hook(self, request: GenerationRequest, webhook_url: str) -> JobStatus:
        """`submit`, asking the host to call `webhook_url` when the job is done (a hint: the
        caller confirms with `get_status`). Only where `accepts_webhook`."""
        raise TypeError(f"{self.name} takes no webhook")

    def submit_and_watch(self, request: GenerationRequest) -> AsyncGenerator[JobStatus, None]:
        """Start a job and stream its statuses until a terminal one (push providers only).

        The first status yielded carries the job id. If the stream breaks, the caller falls back
        to `get_status` polling with that id.
        """
        raise TypeError(f"{self.name} does not push updates")

    def on_busy(self, callback: Callable[[float | None], None]) -> None:  # noqa: B027 - optional
        """Call `callback(retry_after)` each time the host refuses a submission as busy (HTTP 429
        or 503), including refusals the client then retries by itself: the job layer shrinks
        the host's window at the first one. Hosts that never refuse ignore it."""

    async def balance(self) -> float | None:
        """The host's credit balance: the latest it reported, or asked for now. None: unknown.

        Hosts without a balance API answer None; a host whose API fails raises ProviderError.
        """
        return None

    async def cancel(self, job_id: str) -> bool:
        """Ask the host to stop a job; False when it has no way to."""
        return False

    async def aclose(self) -> None:  # noqa: B027 - optional hook, most providers hold nothing
        """Release anything the provider holds beyond the shared session."""
