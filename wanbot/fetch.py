"""Images members point at, fetched only from Discord's own CDN, with caps on size, time and hops.

A member chooses which message "Edit image" or Vary reads, and a message's embed can carry any URL
on the internet: fetching it as given would let a member make the bot request internal addresses
(SSRF). So an input is fetched only from Discord's CDN hosts, or the host of the configured Discord
API (a proxy, or the fake in tests); redirects are followed by hand and each hop is checked again;
the size is capped before and while reading, the whole fetch is capped in time, and inputs use a
connection pool of their own so slow ones can't hold connections the image hosts' polls need.

Nothing a remote server says (status, error text) reaches the member: a refusal says only that the
image could not be fetched.
"""

from __future__ import annotations

import asyncio
import logging
import re
from pathlib import Path
from types import TracebackType

import aiohttp
from yarl import URL

from wanbot.errors import Refusal, RefusalReason
from wanbot.inputs import MAX_INPUT_BYTES, store_input
from wanbot.providers.models import InputImage

log = logging.getLogger(__name__)

DISCORD_CDN_HOSTS = frozenset({"cdn.discordapp.com", "media.discordapp.net"})
# Embeds' `proxy_url`: Discord's media proxy fetched the outside image already, from its own side.
_EMBED_PROXY_HOST = re.compile(r"images-ext-[0-9]{1,2}\.discordapp\.net")
REDIRECTS = frozenset({301, 302, 303, 307, 308})
MAX_HOPS = 3
FETCH_TIME_S = 30.0
CONNECTIONS = 8
CONNECTIONS_PER_HOST = 4
_CHUNK = 64 * 1024


class InputRefused(Refusal):
    """An input that was not fetched: `problem` is not_on_discord, fetch_failed or over_limit
    (then `mb` is the limit). It never carries what the remote side said (status, error text)."""

    def __init__(self, name: str, problem: str = "fetch_failed", **values: object) -> None:
        reason = (
            RefusalReason.BAD_INPUT_IMAGE
            if problem == "over_limit"
            else RefusalReason.INPUT_DOWNLOAD_FAILED
        )
        super().__init__(reason, {"name": name[:60], "problem": problem, **values})
        self.problem = problem


def _origin(url: URL) -> tuple[str, str, int | None]:
    return (url.scheme, (url.host or "").lower().rstrip("."), url.port)


class InputFetcher:
    """Fetches members' input images from Discord's CDN (and the configured API host) only.

    Open it with `async with` (or `open()`/`aclose()`) inside the running loop: it owns its session.
    """

    def __init__(
        self,
        api_base_url: str,
        keep_in: Path,
        *,
        max_bytes: int = MAX_INPUT_BYTES,
        total_s: float = FETCH_TIME_S,
        max_hops: int = MAX_HOPS,
        per_host: int = CONNECTIONS_PER_HOST,
    ) -> None:
        api = URL(api_base_url)
        self._api_origin = _origin(api)
        self.keep_in = keep_in  # the data folder: kept inputs go to its inputs/
        self.max_bytes = max_bytes
        self.total_s = total_s
        self.max_hops = max_hops
        self._per_host = per_host
        self._session: aiohttp.ClientSession | None = None

    # -- life --------------------------------------------------------------------------------
    async def open(self) -> None:
        if self._session is None:
            connector = aiohttp.TCPConnector(limit=CONNECTIONS, limit_per_host=self._per_host)
            self._session = aiohttp.ClientSession(connector=connector, trust_env=False)

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def __aenter__(self) -> InputFetcher:
        await self.open()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    # -- policy ------------------------------------------------------------------------------
    def allowed(self, url: str | URL) -> bool:
        """Whether `url` may be requested at all: Discord's CDN over https, or the API's origin."""
        try:
            parsed = url if isinstance(url, URL) else URL(url)
        except (TypeError, ValueError):
            return False
        if not parsed.absolute or parsed.user is not None or parsed.password is not None:
            return False
        scheme, host, port = _origin(parsed)
        if (scheme, host, port) == self._api_origin:
            return True
        on_cdn = host in DISCORD_CDN_HOSTS or _EMBED_PROXY_HOST.fullmatch(host) is not None
        return scheme == "https" and port == 443 and on_cdn

    # -- the calls the adapter makes ------------------------------------------------------------
    async def fetch(self, url: str, name: str) -> bytes:
        """The bytes at `url`, or InputRefused naming the image by `name` (never by the host)."""
        if not self.allowed(url):
            log.info("input refused: %s is not on Discord's CDN", name[:60])
            raise InputRefused(name, "not_on_discord")
        if self._session is None:
            raise RuntimeError("InputFetcher is not open")
        try:
            async with asyncio.timeout(self.total_s):
                return await self._follow(self._session, URL(url), name)
        except TimeoutError:
            log.info("input fetch of %s took longer than %.0fs", name[:60], self.total_s)
            raise InputRefused(name) from None
        except aiohttp.ClientError as e:
            log.info("input fetch of %s failed: %s", name[:60], type(e).__name__)
            raise InputRefused(name) from None

    async def keep(self, url: str, filename: str) -> InputImage:
        """Fetch, check and keep a copy of one input under `keep_in/inputs/`."""
        data = await self.fetch(url, filename)
        return await asyncio.to_thread(store_input, self.keep_in, data, filename, url)

    # -- internals ----------------------------------------------------------------------------
    async def _follow(self, session: aiohttp.ClientSession, url: URL, name: str) -> bytes:
        for _ in range(self.max_hops + 1):
            async with session.get(url, allow_redirects=False) as resp:
                if resp.status in REDIRECTS:
                    location = resp.headers.get("Location")
                    target = url.join(URL(location)) if location else None
                    if target is None or not self.allowed(target):
                        log.info("input %s redirected off Discord's CDN; refused", name[:60])
                        raise InputRefused(name)
                    url = target
                    continue
                if resp.status != 200:
                    log.info("input %s answered HTTP %d", name[:60], resp.status)
                    raise InputRefused(name)
                return await self._read(resp, name)
        log.info("input %s redirected more than %d times; refused", name[:60], self.max_hops)
        raise InputRefused(name)

    async def _read(self, resp: aiohttp.ClientResponse, name: str) -> bytes:
        too_big = InputRefused(name, "over_limit", mb=self.max_bytes // (1024 * 1024))
        if resp.content_length is not None and resp.content_length > self.max_bytes:
            raise too_big
        data = bytearray()
        async for chunk in resp.content.iter_chunked(_CHUNK):
            data += chunk
            if len(data) > self.max_bytes:
                raise too_big
        return bytes(data)
