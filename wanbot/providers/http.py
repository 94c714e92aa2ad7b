"""HTTP behaviour shared by every provider client: one session, timeouts, safe retries, redaction.

Retries happen only where repeating the request cannot create a second paid job: any request on a
connection that never opened, and on 408, 429 and 5xx for reads. A submission (POST) is retried on
408, 429 and 503, which mean the host did not take the job; never on other 5xx or on a connection
that broke after the body was sent, where the job may exist already.
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import logging
import math
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp

from wanbot.providers.errors import TimedOut, Unavailable

log = logging.getLogger(__name__)

RETRYABLE_READ = frozenset({408, 429, 500, 502, 503, 504})
RETRYABLE_SUBMIT = frozenset({408, 429, 503})
#: A submission answered with one of these: the host is busy (too many jobs or requests).
BUSY = frozenset({429, 503})
#: The longest any host can make the bot wait with Retry-After, whatever it sends.
MAX_RETRY_AFTER_S = 60.0


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 4
    base_delay_s: float = 0.5
    max_delay_s: float = 8.0
    max_retry_after_s: float = 30.0

    def backoff(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None and not math.isnan(retry_after):
            return min(max(retry_after, 0.0), self.max_retry_after_s)
        ceiling = min(self.max_delay_s, self.base_delay_s * (2**attempt))
        return random.uniform(ceiling / 2, ceiling)


@dataclass(frozen=True)
class Response:
    status: int
    headers: Mapping[str, str]
    text: str
    max_retry_after_s: float = MAX_RETRY_AFTER_S

    def json(self) -> Any:
        """The body as JSON, or None when it is not JSON."""
        try:
            return json.loads(self.text) if self.text else None
        except json.JSONDecodeError:
            return None

    @property
    def retry_after(self) -> float | None:
        return parse_retry_after(self.headers.get("Retry-After"), cap=self.max_retry_after_s)


def parse_retry_after(value: str | None, *, cap: float = MAX_RETRY_AFTER_S) -> float | None:
    """Seconds to wait, between 0 and `cap`, from delay-seconds or an HTTP-date; None if unusable.

    A host's header is not trusted: "inf", "1e400", "nan", negative numbers and dates in the year
    9999 must neither park a job for ever nor crash a sleep.
    """
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
            seconds = when.timestamp() - time.time()
        except (TypeError, ValueError, IndexError, OverflowError, OSError):
            return None
    if math.isnan(seconds):
        return None
    return min(max(seconds, 0.0), cap)


class HttpClient:
    """A provider's view of the shared session: its base URL, its key, its retry policy."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        *,
        base_url: str,
        api_key: str,
        provider: str,
        timeout_s: float = 30.0,
        retry: RetryPolicy | None = None,
    ) -> None:
        self._session = session
        self.base_url = base_url.rstrip("/")
        self._api_key = api_key
        self.provider = provider
        self._timeout = aiohttp.ClientTimeout(total=timeout_s, sock_connect=min(timeout_s, 10))
        self.retry = retry or RetryPolicy()
        #: Told of every busy answer to a submission (its Retry-After), before any retry.
        self.on_busy: Callable[[float | None], None] | None = None

    @property
    def session(self) -> aiohttp.ClientSession:
        return self._session

    def url(self, path: str) -> str:
        if path.startswith(("http://", "https://")):
            return path
        return f"{self.base_url}/{path.lstrip('/')}"

    def response(self, status: int, headers: Mapping[str, str], text: str) -> Response:
        """An answer whose Retry-After is capped by this client's policy."""
        cap = min(self.retry.max_retry_after_s, MAX_RETRY_AFTER_S)
        return Response(status, headers, text, max_retry_after_s=cap)

    def auth_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self._api_key}"}

    def redact(self, text: str) -> str:
        return text.replace(self._api_key, "[redacted]") if self._api_key else text

    async def request(
        self,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        data: Any = None,
        headers: Mapping[str, str] | None = None,
        submit: bool = False,
    ) -> Response:
        """Send with retries; return the final response whatever its status.

        Raise Unavailable when the host cannot be reached at all and TimedOut when it never answers.
        """
        url = self.url(path)
        retryable = RETRYABLE_SUBMIT if submit else RETRYABLE_READ
        all_headers = {**self.auth_headers(), **(headers or {})}
        last_error: Exception | None = None
        for attempt in range(self.retry.attempts):
            try:
                async with self._session.request(
                    method,
                    url,
                    json=json_body,
                    data=data,
                    headers=all_headers,
                    timeout=self._timeout,
                ) as resp:
                    body = await resp.text(errors="replace")
                    result = self.response(resp.status, dict(resp.headers), body)
            except aiohttp.ClientConnectorError as e:
                last_error = e
                result = None
            except (aiohttp.ClientError, TimeoutError) as e:
                if submit:
                    # The body may have reached the host: retrying could start a second paid job.
                    raise self.transport_error(e, after_send=True) from e
                last_error = e
                result = None
            if result is not None and result.status not in retryable:
                return result
            if submit and result is not None:
                self.report_busy(result)
            if attempt + 1 == self.retry.attempts:
                if result is not None:
                    return result
                assert last_error is not None
                raise self.transport_error(last_error) from last_error
            delay = self.retry.backoff(attempt, result.retry_after if result else None)
            log.info(
                "%s %s %s: %s, retrying in %.1fs (attempt %d of %d)",
                self.provider,
                method,
                self.redact(path),
                result.status if result else type(last_error).__name__,
                delay,
                attempt + 1,
                self.retry.attempts,
            )
            await asyncio.sleep(delay)
        raise AssertionError("unreachable")

    def report_busy(self, answer: Response) -> None:
        """Tell `on_busy` of a submission answered 429/503 (nothing for other answers)."""
        if answer.status not in BUSY or self.on_busy is None:
            return
        try:
            self.on_busy(answer.retry_after)
        except Exception:  # advice for the scheduler: it must not break the request
            log.warning("%s: a busy-host listener failed", self.provider, exc_info=True)

    def transport_error(
        self, error: BaseException, *, after_send: bool = False
    ) -> Unavailable | TimedOut:
        """The provider error for a request that got no answer (`after_send`: the body went out)."""
        if isinstance(error, TimeoutError):
            return TimedOut("the image host did not answer in time", provider=self.provider)
        what = "lost the connection to" if after_send else "could not reach"
        return Unavailable(
            f"{what} the image host ({type(error).__name__})", provider=self.provider
        )
