"""The shared base of every image host reached over HTTP: its config section, key and client.

A host module subclasses `HostedProvider[ItsConfig]`, sets `name` and `capabilities`, and talks to
the host through `self._http` (retries, timeouts, Retry-After caps, key redaction). Adding a host
is that module plus one line in `registry.HOSTS`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Generic, TypeVar

import aiohttp
from pydantic import BaseModel, ConfigDict, ValidationError

from wanbot.config import ProviderSection
from wanbot.providers.base import Provider
from wanbot.providers.errors import Unavailable
from wanbot.providers.http import HttpClient, Response, RetryPolicy

log = logging.getLogger(__name__)


class HostAnswer(BaseModel):
    """Base of the models a host's answers are read into: unknown fields are the host's business."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)


SectionT = TypeVar("SectionT", bound=ProviderSection)
AnswerT = TypeVar("AnswerT", bound=BaseModel)


class HostedProvider(Provider, Generic[SectionT]):
    def __init__(
        self,
        config: SectionT,
        *,
        api_key: str,
        session: aiohttp.ClientSession,
        retry: RetryPolicy | None = None,
    ) -> None:
        self.config = config
        self._http = HttpClient(
            session,
            base_url=config.base_url,
            api_key=api_key,
            provider=self.name,
            timeout_s=config.timeout_s,
            retry=retry,
        )
        self._setup()

    def on_busy(self, callback: Callable[[float | None], None]) -> None:
        self._http.on_busy = callback

    def _setup(self) -> None:
        """Per-instance state a host needs beyond the client (run at the end of __init__)."""

    def _read(self, model: type[AnswerT], response: Response, what: str) -> AnswerT:
        """The host's answer as `model`; an answer that isn't one means the host is unwell for
        now (Unavailable, so a status check looks again), never a crash."""
        try:
            return model.model_validate_json(response.text)
        except ValidationError as e:
            log.warning(
                "%s: unreadable %s answer (HTTP %d, %d bytes)",
                self.name,
                what,
                response.status,
                len(response.text),
            )
            raise Unavailable(
                "the image host sent an answer the bot could not read",
                provider=self.name,
                status=response.status,
            ) from e
