"""Host webhooks: each job gets an unguessable path of its own and awaits the host's push there.

    hook = registry.register("pixeldojo")
    body = {..., "webhook_url": hook.url(public_url)}
    try:
        payload = await asyncio.wait_for(hook.wait(), timeout)   # or poll as a safety net
    finally:
        hook.close()

The path is `/hooks/{provider}/{token}` with `secrets.token_urlsafe(32)` (256 bits): it is the
only credential a push carries, so it is never logged (see wanbot.logs) and never reused. A call to
an unknown path gets 404 and a repeated call 200, both without detail and without any effect: only
the first push to a live hook is delivered. What a push says is a hint, not a verdict: the job layer
should confirm it with the host's own API before it delivers or charges anything.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from enum import Enum
from typing import Any

log = logging.getLogger(__name__)

HOOKS_PREFIX = "/hooks"
TOKEN_BYTES = 32


class Push(Enum):
    """What a call to a hook path did."""

    DELIVERED = "delivered"  # first push to a live hook: its waiter wakes up
    REPEATED = "repeated"  # the hook had its push already: nothing happens
    UNKNOWN = "unknown"  # no such hook (never made, closed, or forged): nothing happens


class Hook:
    """One job's webhook. Close it when the job no longer listens."""

    def __init__(self, registry: WebhookRegistry, provider: str, token: str) -> None:
        self._registry = registry
        self.provider = provider
        self.token = token
        self._result: asyncio.Future[Any] = asyncio.get_running_loop().create_future()

    @property
    def path(self) -> str:
        return f"{HOOKS_PREFIX}/{self.provider}/{self.token}"

    def url(self, public_url: str) -> str:
        """The full URL to give the host, under `http.public_url`."""
        return public_url.rstrip("/") + self.path

    @property
    def pushed(self) -> bool:
        return self._result.done()

    async def wait(self) -> Any:
        """The first payload pushed to this hook (the JSON body, parsed)."""
        return await asyncio.shield(self._result)

    def close(self) -> None:
        self._registry._forget(self)
        if not self._result.done():
            self._result.cancel()

    def _deliver(self, payload: Any) -> bool:
        if self._result.done():
            return False
        self._result.set_result(payload)
        return True

    def __enter__(self) -> Hook:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class WebhookRegistry:
    """The live hooks, by (provider, token)."""

    def __init__(self) -> None:
        self._hooks: dict[tuple[str, str], Hook] = {}

    def register(self, provider: str) -> Hook:
        if not provider or "/" in provider:
            raise ValueError(f"not a provider name for a hook path: {provider!r}")
        token = secrets.token_urlsafe(TOKEN_BYTES)
        hook = Hook(self, provider, token)
        self._hooks[(provider, token)] = hook
        return hook

    def push(self, provider: str, token: str, payload: Any) -> Push:
        hook = self._hooks.get((provider, token))
        if hook is None:
            log.info("hook push for %s to an unknown path: ignored", provider)
            return Push.UNKNOWN
        if not hook._deliver(payload):
            log.info("repeated hook push for %s: ignored", provider)
            return Push.REPEATED
        log.debug("hook push for %s delivered", provider)
        return Push.DELIVERED

    def knows(self, provider: str, token: str) -> bool:
        return (provider, token) in self._hooks

    def __len__(self) -> int:
        return len(self._hooks)

    def _forget(self, hook: Hook) -> None:
        if self._hooks.get((hook.provider, hook.token)) is hook:
            del self._hooks[(hook.provider, hook.token)]
