"""A local fake Discord (REST + gateway) that the real discord.py client logs in to.

One aiohttp app serves the REST API under /api/v10, the gateway WebSocket at /gateway and uploaded
files under /attachments, on a loopback port. It runs in its own thread with its own event loop, so
the 3 s acknowledgement deadline is timed independently of the bot's loop. All state lives on that
loop: every public method hops onto it and hands back copies, so tests call them freely from their
own loop.

The fake answers the way Discord does when the bot breaks a rule (status, JSON `{"message","code"}`
body, rate-limit headers) and also records each broken rule as a line in `violations`.

    with FakeDiscord() as fake, patched_discord_py(fake):
        ...start a discord.Client with fake.token...
        handle = await fake.slash("draw", {"prompt": "a cat"})
        await handle.wait_acknowledged(3)
        assert fake.violations == []
"""

from __future__ import annotations

import asyncio
import base64
import concurrent.futures
import contextlib
import copy
import datetime as dt
import hashlib
import io
import json
import math
import mimetypes
import re
import secrets
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple, TypeVar
from urllib.parse import quote

from aiohttp import BodyPartReader, WSMsgType, web
from PIL import Image

Json = dict[str, Any]
T = TypeVar("T")

API_PREFIX = "/api/v10"
DISCORD_EPOCH_MS = 1_420_070_400_000
HEARTBEAT_INTERVAL_MS = 41_250
MAX_REQUEST_BYTES = 25 * 1024 * 1024
MAX_CONTENT = 2000
MAX_ATTACHMENTS = 10
ROUTE_RATE = (
    50,
    1.0,
)  # generous per-route bucket, so discord.py's bucket logic has headers to read

# permission bits
ADMINISTRATOR = 1 << 3
MANAGE_GUILD = 1 << 5
ADD_REACTIONS = 1 << 6
VIEW_CHANNEL = 1 << 10
SEND_MESSAGES = 1 << 11
MANAGE_MESSAGES = 1 << 13
EMBED_LINKS = 1 << 14
ATTACH_FILES = 1 << 15
READ_MESSAGE_HISTORY = 1 << 16
MENTION_EVERYONE = 1 << 17
USE_EXTERNAL_EMOJIS = 1 << 18
USE_APPLICATION_COMMANDS = 1 << 31
ALL_PERMISSIONS = (1 << 51) - 1
EVERYONE_PERMISSIONS = (
    ADD_REACTIONS
    | VIEW_CHANNEL
    | SEND_MESSAGES
    | EMBED_LINKS
    | ATTACH_FILES
    | READ_MESSAGE_HISTORY
    | USE_EXTERNAL_EMOJIS
    | USE_APPLICATION_COMMANDS
)

# gateway intents
INTENT_GUILD_MEMBERS = 1 << 1
INTENT_GUILD_PRESENCES = 1 << 8
INTENT_GUILD_MESSAGES = 1 << 9
INTENT_MESSAGE_CONTENT = 1 << 15
PRIVILEGED_INTENTS = INTENT_GUILD_MEMBERS | INTENT_GUILD_PRESENCES | INTENT_MESSAGE_CONTENT

# message flags
SUPPRESS_EMBEDS = 1 << 2
EPHEMERAL = 1 << 6
LOADING = 1 << 7
SUPPRESS_NOTIFICATIONS = 1 << 12
COMPONENTS_V2 = 1 << 15

# interaction types and callback types
PING, APPLICATION_COMMAND, MESSAGE_COMPONENT, AUTOCOMPLETE, MODAL_SUBMIT = 1, 2, 3, 4, 5
CB_MESSAGE, CB_DEFERRED_MESSAGE, CB_DEFERRED_UPDATE, CB_UPDATE, CB_AUTOCOMPLETE, CB_MODAL = (
    4,
    5,
    6,
    7,
    8,
    9,
)
SELECT_TYPES = {3, 5, 6, 7, 8}
EMBED_IMAGE_EXTENSIONS = {"jpg", "jpeg", "png", "webp", "gif"}

_USER_MENTION = re.compile(r"<@!?(\d+)>")
_MASS_MENTION = re.compile(r"@(everyone|here)")
_COMMAND_NAME = re.compile(r"^[-_'\w]{1,32}$")
# The locales Discord accepts as keys of name_localizations / description_localizations.
DISCORD_LOCALES = frozenset(
    [
        "id",
        "da",
        "de",
        "en-GB",
        "en-US",
        "es-ES",
        "es-419",
        "fr",
        "hr",
        "it",
        "lt",
        "hu",
        "nl",
        "no",
        "pl",
        "pt-BR",
        "ro",
        "fi",
        "sv-SE",
        "vi",
        "tr",
        "cs",
        "el",
        "bg",
        "ru",
        "uk",
        "hi",
        "th",
        "zh-CN",
        "ja",
        "zh-TW",
        "ko",
    ]
)


# -- what tests get back ------------------------------------------------------------------------


class FakeAttachment(NamedTuple):
    filename: str
    data: bytes
    content_type: str | None
    size: int


@dataclass(frozen=True)
class FakeUser:
    key: str
    id: int
    username: str
    can_manage_guild: bool


@dataclass(frozen=True)
class FakeMessage:
    id: int
    channel_id: int
    author_id: int
    content: str
    embeds: list[Json]
    attachments: list[FakeAttachment]
    attachment_urls: list[str]
    components: list[Json]
    flags: int
    ephemeral: bool
    visible_to: int | None  # the only user who sees an ephemeral message
    interaction_id: int | None
    webhook_id: int | None
    application_id: int | None
    type: int
    created_at: float  # time.time()
    edited_at: float | None
    deleted: bool
    loading: bool  # a deferred "is thinking..." placeholder not yet filled
    mentions_everyone: bool  # @everyone/@here in content would ping, given allowed_mentions
    mentioned_user_ids: list[int]  # users the content would ping, given allowed_mentions
    filled_at: float | None = None  # when a deferred message got its first content (no edit)


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str  # without the /api/v10 prefix
    status: int
    time: float  # time.monotonic() when the request arrived
    query: dict[str, str]
    payload: Any  # the JSON body, or the payload_json part of a multipart body
    files: list[tuple[str, int]]  # (filename, size) of each uploaded file


class RestFaults:
    """Queued REST faults: the next request whose path contains the substring gets the status.

    Items are `(path_substring, status)` or `(path_substring, status, retry_after)`; a 429 is
    answered as Discord does (JSON body, Retry-After, Via), others with a JSON error body.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._items: deque[tuple[str, int, float]] = deque()

    def append(self, fault: tuple[str, int] | tuple[str, int, float]) -> None:
        retry_after = float(fault[2]) if len(fault) == 3 else 0.1
        with self._lock:
            self._items.append((fault[0], int(fault[1]), retry_after))

    def extend(self, faults: Iterable[tuple[str, int] | tuple[str, int, float]]) -> None:
        for fault in faults:
            self.append(fault)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)

    def _take(self, path: str) -> tuple[str, int, float] | None:
        with self._lock:
            for item in self._items:
                if item[0] in path:
                    self._items.remove(item)
                    return item
        return None


class InteractionHandle:
    """One interaction the fake sent; its properties read what the bot did with it so far."""

    def __init__(self, fake: FakeDiscord, interaction_id: int, token: str) -> None:
        self._fake = fake
        self.id = interaction_id
        self.token = token

    def __repr__(self) -> str:
        return f"<InteractionHandle id={self.id} acknowledged={self.acknowledged}>"

    @property
    def acknowledged(self) -> int | None:
        """The callback type the fake accepted (4, 5, 6, 7, 9), or None."""
        return self._fake._call(lambda: self._fake._interactions[self.id].callback_type)

    @property
    def ack_latency_s(self) -> float | None:
        return self._fake._call(lambda: self._fake._interactions[self.id].ack_latency)

    @property
    def callbacks(self) -> list[tuple[int, int, float]]:
        """Every callback attempt: (callback type or -1, HTTP status, seconds after creation)."""
        return self._fake._call(lambda: list(self._fake._interactions[self.id].callbacks))

    @property
    def expired(self) -> bool:
        return self._fake._call(lambda: self._fake._interactions[self.id].expired)

    @property
    def modal(self) -> Json | None:
        """The modal the bot answered with (callback type 9): custom_id, title, components."""
        return self._fake._call(lambda: copy.deepcopy(self._fake._interactions[self.id].modal))

    def original_message(self) -> FakeMessage | None:
        """The message `@original` refers to (response, or the clicked message after 6/7)."""
        return self._fake._call(self._fake._original_of, self.id)

    @property
    def followups(self) -> list[FakeMessage]:
        """Messages created by followups, not counting the one that filled a deferred response."""

        def read() -> list[FakeMessage]:
            it = self._fake._interactions[self.id]
            return [self._fake._snapshot(self._fake._messages[m]) for m in it.followup_ids]

        return self._fake._call(read)

    async def wait_acknowledged(self, timeout: float = 5.0) -> int:  # noqa: ASYNC109
        deadline = time.monotonic() + timeout
        while (kind := self.acknowledged) is None:
            if time.monotonic() >= deadline:
                raise TimeoutError(
                    f"interaction {self.id} not acknowledged within {timeout}s "
                    f"(callbacks: {self.callbacks}, violations: {self._fake.violations})"
                )
            await asyncio.sleep(0.01)
        return kind


@contextlib.contextmanager
def patched_discord_py(fake: FakeDiscord) -> Iterator[None]:
    """Point discord.py's REST base and default gateway at the fake, restoring them afterwards."""
    import discord.gateway
    import discord.http
    import yarl

    old_base = discord.http.Route.BASE
    old_gateway = discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY
    discord.http.Route.BASE = fake.api_base_url
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(fake.gateway_url)
    try:
        yield
    finally:
        discord.http.Route.BASE = old_base
        discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = old_gateway


# -- internal state -----------------------------------------------------------------------------


@dataclass
class _Attachment:
    id: int
    filename: str
    data: bytes
    content_type: str | None
    width: int | None
    height: int | None
    description: str | None
    ephemeral: bool
    url: str


@dataclass
class _Message:
    id: int
    channel_id: int
    author_id: int
    type: int = 0
    content: str = ""
    embeds: list[Json] = field(default_factory=list)
    attachments: list[_Attachment] = field(default_factory=list)
    components: list[Json] = field(default_factory=list)
    flags: int = 0
    tts: bool = False
    webhook_id: int | None = None
    application_id: int | None = None
    interaction_id: int | None = None
    interaction_metadata: Json | None = None
    interaction_legacy: Json | None = None
    message_reference: Json | None = None
    visible_to: int | None = None
    created_at: float = field(default_factory=time.time)
    edited_at: float | None = None
    filled_at: float | None = None
    deleted: bool = False
    loading: bool = False
    mentions_everyone: bool = False
    mentioned_user_ids: list[int] = field(default_factory=list)

    @property
    def ephemeral(self) -> bool:
        return bool(self.flags & EPHEMERAL)


@dataclass
class _Interaction:
    id: int
    token: str
    type: int
    user_id: int
    channel_id: int
    created_mono: float
    name: str
    command_type: int | None = None
    source_message_id: int | None = None
    callback_type: int | None = None
    ack_latency: float | None = None
    dead: bool = False  # missed the acknowledgement deadline
    expired: bool = False
    response_message_id: int | None = None
    followup_ids: list[int] = field(default_factory=list)
    modal: Json | None = None
    callbacks: list[tuple[int, int, float]] = field(default_factory=list)


@dataclass
class _Upload:
    index: int
    filename: str
    data: bytes


@dataclass
class _Body:
    json: Any = None
    uploads: list[_Upload] = field(default_factory=list)
    size: int = 0


_RECEIVED = web.RequestKey("received", float)  # time.monotonic() when the request arrived
_RL_HEADERS = web.RequestKey[dict[str, str]]("rl_headers")
_BODY = web.RequestKey("body", _Body)


@dataclass
class _Bucket:
    limit: int
    window: float
    count: int = 0
    reset_at: float = 0.0

    def take(self, now: float) -> float | None:
        """Count one request; return the wait in seconds instead if the bucket is spent."""
        if now >= self.reset_at:
            self.count = 0
            self.reset_at = now + self.window
        if self.count >= self.limit:
            return self.reset_at - now
        self.count += 1
        return None


class _ApiError(Exception):
    def __init__(
        self,
        status: int,
        code: int,
        message: str,
        *,
        errors: Json | None = None,
        violation: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.errors = errors
        self.violation = violation


class _RateLimited(Exception):
    def __init__(self, response: web.Response) -> None:
        super().__init__("rate limited")
        self.response = response


class _Conn:
    def __init__(self, ws: web.WebSocketResponse, request: web.Request) -> None:
        self.ws = ws
        self.request = request
        self.lock = asyncio.Lock()
        self.session: _Session | None = None

    async def send(self, frame: Json) -> None:
        async with self.lock:
            await self.ws.send_str(json.dumps(frame))


@dataclass(frozen=True)
class ShardRecord:
    """What one shard's gateway saw: the sessions that identified on it (oldest first) and every
    dispatch sent on it, as (event, guild id or None)."""

    sessions: list[str]
    events: list[tuple[str, int | None]]


@dataclass
class _Session:
    session_id: str
    intents: int
    shard: list[int] | None
    seq: int = 0
    buffer: list[Json] = field(default_factory=list)
    conn: _Conn | None = None
    resumable: bool = True

    @property
    def shard_id(self) -> int:
        return 0 if self.shard is None else self.shard[0]

    def serves(self, guild_id: int) -> bool:
        """Discord's rule: a guild's events go to shard (guild_id >> 22) % shard_count."""
        if self.shard is None:
            return True
        shard_id, count = self.shard
        return (guild_id >> 22) % count == shard_id


def _iso(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, dt.UTC).isoformat()


def _as_int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _form_error(path: Sequence[str], code: str, message: str) -> Json:
    node: Json = {"_errors": [{"code": code, "message": message}]}
    for key in reversed(path):
        node = {key: node}
    return node


def _invalid(path: Sequence[str], code: str, message: str, violation: str) -> _ApiError:
    return _ApiError(
        400,
        50035,
        "Invalid Form Body",
        errors=_form_error(path, code, message),
        violation=violation,
    )


def _walk_components(components: Any) -> Iterator[Json]:
    if not isinstance(components, list):
        return
    for comp in components:
        if not isinstance(comp, dict):
            continue
        yield comp
        yield from _walk_components(comp.get("components"))
        for key in ("accessory", "component"):
            child = comp.get(key)
            if isinstance(child, dict):
                yield from _walk_components([child])


def _image_size(data: bytes) -> tuple[int, int] | None:
    try:
        with Image.open(io.BytesIO(data)) as img:
            return img.size
    except Exception:
        return None


def _guess_content_type(filename: str, data: bytes) -> str | None:
    guessed = mimetypes.guess_type(filename)[0]
    if guessed is not None:
        return guessed + ("; charset=utf-8" if guessed.startswith("text/") else "")
    try:
        with Image.open(io.BytesIO(data)) as img:
            return f"image/{(img.format or '').lower()}" if img.format else None
    except Exception:
        return None


def _json_response(
    data: Any, status: int = 200, headers: Mapping[str, str] | None = None
) -> web.Response:
    # The header must be exactly application/json: discord.py returns the raw text otherwise.
    response = web.Response(status=status, body=json.dumps(data).encode())
    response.headers["Content-Type"] = "application/json"
    for key, value in (headers or {}).items():
        response.headers[key] = value
    return response


# -- the fake -----------------------------------------------------------------------------------


class FakeDiscord:
    """A fake Discord guild, application and bot user, served over REST and gateway."""

    def __init__(
        self,
        *,
        ack_deadline_s: float = 3.0,
        token_lifetime_s: float = 900.0,
        upload_limit: int = 10 * 1024 * 1024,
        webhook_rate: tuple[int, float] = (5, 2.0),
        channel_rate: tuple[int, float] | None = None,
        guild_ready: bool = True,
        privileged_intents: bool = False,
        attachment_url_lifetime_s: float = 86_400.0,
        guild_locale: str = "en-US",
        shard_count: int = 1,
        guilds: int = 1,
    ) -> None:
        """`shard_count` is what GET /gateway/bot recommends (IDENTIFY without a shard is refused
        when it is above 1); `guilds` servers share the members and roles, each with its own
        "general" channel, and server i sits on shard i % n for any n dividing 12."""
        if shard_count < 1 or guilds < 1:
            raise ValueError("shard_count and guilds must be at least 1")
        self.shard_count = shard_count
        self.ack_deadline_s = ack_deadline_s
        # the server's language (its "preferred locale"), as the guild and interactions carry it
        self.guild_locale = guild_locale
        self.token_lifetime_s = token_lifetime_s
        self.upload_limit = upload_limit
        self.webhook_rate = webhook_rate
        self.channel_rate = channel_rate
        self.guild_ready = guild_ready
        self.privileged_intents = privileged_intents
        self.attachment_url_lifetime_s = attachment_url_lifetime_s
        self.rest_faults = RestFaults()

        self._last_id = 0
        self._increment = 0
        # A bot user's id is its application's id for every application made since 2019.
        self.application_id = self._next_id()
        self.bot_user_id = self.application_id
        self.guild_id = self._guild_snowflake(0)
        self.channel_id = self._next_id()
        self.nsfw_channel_id = self._next_id()
        self.admin_role_id = self._next_id()
        self.bot_role_id = self._next_id()
        bot_b64 = base64.b64encode(str(self.bot_user_id).encode()).decode().rstrip("=")
        self.token = f"{bot_b64}.{secrets.token_urlsafe(4)}.{secrets.token_urlsafe(27)}"

        self._roles: dict[int, Json] = {
            self.guild_id: {
                "name": "@everyone",
                "permissions": EVERYONE_PERMISSIONS,
                "position": 0,
            },
            self.admin_role_id: {"name": "Admin", "permissions": MANAGE_GUILD, "position": 2},
            self.bot_role_id: {
                "name": "wanbot",
                "permissions": EVERYONE_PERMISSIONS,
                "position": 1,
                "managed": True,
            },
        }
        self._channels: dict[int, Json] = {
            self.channel_id: {"name": "general", "nsfw": False, "position": 0},
            self.nsfw_channel_id: {"name": "nsfw-art", "nsfw": True, "position": 1},
        }
        self._channel_guild = dict.fromkeys(self._channels, self.guild_id)
        self.guild_ids = [self.guild_id]
        self.guild_channels = {self.guild_id: self.channel_id}  # each server's "general"
        for index in range(1, guilds):
            gid = self._guild_snowflake(index)
            cid = self._next_id()
            self.guild_ids.append(gid)
            self.guild_channels[gid] = cid
            self._roles[gid] = {**self._roles[self.guild_id], "everyone": True}
            self._channels[cid] = {"name": f"general-{index}", "nsfw": False, "position": 0}
            self._channel_guild[cid] = gid
        self._roles[self.guild_id]["everyone"] = True
        self._users: dict[str, FakeUser] = {}
        self._user_roles: dict[int, list[int]] = {self.bot_user_id: [self.bot_role_id]}
        self._usernames: dict[int, str] = {self.bot_user_id: "wanbot"}
        self._user_locales: dict[int, str] = {}
        for key in ("alice", "bob", "carol", "admin", "owner"):
            uid = self._next_id()
            roles = [self.admin_role_id] if key == "admin" else []
            self._user_roles[uid] = roles
            self._usernames[uid] = key
            self._users[key] = FakeUser(key, uid, key, key in ("admin", "owner"))
        self._owner_id = self._users["owner"].id
        self._joined_at = time.time() - 86_400

        # mutable state, touched only on the fake's loop
        self._interactions: dict[int, _Interaction] = {}
        self._tokens: dict[str, int] = {}
        self._messages: dict[int, _Message] = {}
        self._attachments: dict[int, _Attachment] = {}
        self._commands: dict[int | None, list[Json]] = {}
        self._command_puts = 0
        self._requests: list[RecordedRequest] = []
        self._violations: list[str] = []
        self._unhandled: list[str] = []
        self._count_429 = 0
        self._buckets: dict[tuple[Any, ...], _Bucket] = {}
        self._sessions: list[_Session] = []  # live ones, in the order they identified
        self._shard_sessions: dict[int, list[str]] = {}
        self._shard_events: dict[int, list[tuple[str, int | None]]] = {}
        self._conns: set[_Conn] = set()
        self._identify_count = 0
        self._resume_count = 0
        # While True, gateway connections are refused (503), as during a network outage.
        self.gateway_refusing = False
        # Other servers the bot was added to (id -> name, channel id), and those it left.
        self._other_guilds: dict[int, Json] = {}
        self._left_guilds: list[int] = []

        self._thread: threading.Thread | None = None
        self._thread_ident: int | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._port = 0

    # -- lifecycle ------------------------------------------------------------------------------

    def start(self) -> None:
        if self._thread is not None:
            raise RuntimeError("FakeDiscord already started")
        started = threading.Event()
        failure: list[BaseException] = []

        def run() -> None:
            loop = asyncio.new_event_loop()
            asyncio.set_event_loop(loop)
            self._loop = loop
            self._thread_ident = threading.get_ident()
            try:
                loop.run_until_complete(self._astart())
            except BaseException as exc:
                failure.append(exc)
                started.set()
                loop.close()
                return
            started.set()
            try:
                loop.run_forever()
            finally:
                pending = [t for t in asyncio.all_tasks(loop) if not t.done()]
                for task in pending:
                    task.cancel()
                if pending:
                    loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
                loop.run_until_complete(loop.shutdown_asyncgens())
                loop.close()

        self._thread = threading.Thread(target=run, name="FakeDiscord", daemon=True)
        self._thread.start()
        if not started.wait(10):
            raise RuntimeError("FakeDiscord did not start within 10 s")
        if failure:
            raise RuntimeError("FakeDiscord failed to start") from failure[0]

    def stop(self) -> None:
        loop, thread = self._loop, self._thread
        if loop is None or thread is None or loop.is_closed():
            return
        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(self._astop(), loop).result(timeout=10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)

    def __enter__(self) -> FakeDiscord:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    async def _astart(self) -> None:
        app = web.Application(middlewares=[self._middleware], client_max_size=256 << 20)
        self._add_routes(app)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=2.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        server = site._server
        assert server is not None
        sockets = getattr(server, "sockets", None) or []
        self._port = sockets[0].getsockname()[1]

    async def _astop(self) -> None:
        # Abort rather than close: a graceful close waits for the client's close frame, and the
        # client's loop may be the one blocked in stop().
        for conn in list(self._conns):
            transport = conn.request.transport
            if transport is not None:
                transport.abort()
        if self._runner is not None:
            await self._runner.cleanup()

    # -- addresses and fixed facts ----------------------------------------------------------------

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self._port}"

    @property
    def api_base_url(self) -> str:
        return self.origin + API_PREFIX

    @property
    def gateway_url(self) -> str:
        return f"ws://127.0.0.1:{self._port}/gateway"

    @property
    def users(self) -> dict[str, FakeUser]:
        return dict(self._users)

    # -- thread hopping -------------------------------------------------------------------------

    def _call(self, fn: Callable[..., T], *args: Any) -> T:
        loop, thread = self._loop, self._thread
        # Before start and after stop nothing else touches the state, so read it directly.
        if loop is None or thread is None or not thread.is_alive():
            return fn(*args)
        if threading.get_ident() == self._thread_ident:
            return fn(*args)
        future: concurrent.futures.Future[T] = concurrent.futures.Future()

        def run() -> None:
            if not future.set_running_or_notify_cancel():
                return
            try:
                future.set_result(fn(*args))
            except BaseException as exc:
                future.set_exception(exc)

        loop.call_soon_threadsafe(run)
        return future.result(timeout=10)

    async def _on_loop(self, coro: Coroutine[Any, Any, T]) -> T:
        loop = self._loop
        if loop is None:
            coro.close()
            raise RuntimeError("FakeDiscord is not started")
        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coro, loop))

    # -- observing ------------------------------------------------------------------------------

    def messages(
        self, channel_id: int | None = None, *, include_deleted: bool = False
    ) -> list[FakeMessage]:
        def read() -> list[FakeMessage]:
            return [
                self._snapshot(m)
                for m in self._messages.values()
                if (channel_id is None or m.channel_id == channel_id)
                and (include_deleted or not m.deleted)
            ]

        return self._call(read)

    def message(self, message_id: int) -> FakeMessage:
        return self._call(lambda: self._snapshot(self._messages[message_id]))

    @property
    def requests(self) -> list[RecordedRequest]:
        return self._call(lambda: list(self._requests))

    @property
    def violations(self) -> list[str]:
        return self._call(lambda: list(self._violations))

    @property
    def unhandled_routes(self) -> list[str]:
        """Requests to routes the fake does not serve (answered 404)."""
        return self._call(lambda: list(self._unhandled))

    @property
    def count_429(self) -> int:
        return self._call(lambda: self._count_429)

    @property
    def registered_commands(self) -> dict[int | None, list[Json]]:
        """Registered commands as Discord stores them: key None is global, else a guild id."""
        return self._call(lambda: copy.deepcopy(self._commands))

    @property
    def command_put_count(self) -> int:
        return self._call(lambda: self._command_puts)

    @property
    def identify_count(self) -> int:
        return self._call(lambda: self._identify_count)

    @property
    def resume_count(self) -> int:
        return self._call(lambda: self._resume_count)

    @property
    def shards(self) -> dict[int, ShardRecord]:
        """Per shard id: which sessions identified on it and which events went there."""

        def read() -> dict[int, ShardRecord]:
            ids = sorted(set(self._shard_sessions) | set(self._shard_events))
            return {
                i: ShardRecord(
                    list(self._shard_sessions.get(i, [])), list(self._shard_events.get(i, []))
                )
                for i in ids
            }

        return self._call(read)

    def shard_of(self, guild_id: int, shard_count: int | None = None) -> int:
        return (guild_id >> 22) % (shard_count or self.shard_count)

    def guild_of(self, channel_id: int) -> int:
        return self._channel_guild[channel_id]

    def interaction(self, interaction_id: int) -> InteractionHandle:
        it = self._call(lambda: self._interactions[interaction_id])
        return InteractionHandle(self, it.id, it.token)

    def clear_violations(self) -> None:
        self._call(self._violations.clear)

    async def wait_for(
        self,
        predicate: Callable[[FakeDiscord], bool],
        timeout: float = 10.0,  # noqa: ASYNC109
    ) -> None:
        deadline = time.monotonic() + timeout
        while not predicate(self):
            if time.monotonic() >= deadline:
                raise TimeoutError(
                    f"condition not met within {timeout}s (violations: {self.violations})"
                )
            await asyncio.sleep(0.02)

    # -- faults ---------------------------------------------------------------------------------

    def drop_gateway(self, *, resumable: bool = True, shard: int | None = None) -> None:
        """Cut the bot's gateway connection at the TCP level, as a network fault would.

        With resumable=False the session is forgotten, so the RESUME gets op 9 (false) and the
        client identifies afresh; dispatches sent meanwhile are lost, as on Discord.
        `shard` picks the session of that shard (default: the latest to identify).
        """

        def drop() -> None:
            sess = self._latest_session(shard)
            if sess is None or sess.conn is None:
                raise RuntimeError("no live gateway connection to drop")
            conn, sess.conn = sess.conn, None
            sess.resumable = resumable
            transport = conn.request.transport
            if transport is not None:
                transport.abort()

        self._call(drop)

    def expire_token(self, token: str) -> None:
        """Make an interaction token act as if its 15 minutes were over."""

        def expire() -> None:
            self._interactions[self._tokens[token]].expired = True

        self._call(expire)

    async def make_guild_available(self) -> None:
        """Send the GUILD_CREATE withheld when started with guild_ready=False."""

        async def send() -> None:
            if not self._sessions:
                raise RuntimeError("no gateway session")
            for gid in self.guild_ids:
                sess = self._session_for(gid)
                if sess is not None:
                    payload = self._guild_create_payload(sess.intents, gid)
                    await self._dispatch("GUILD_CREATE", payload, sess, gid)

        await self._on_loop(send())

    # -- other servers: joining and leaving ------------------------------------------------------

    async def add_guild(self, name: str = "Another Server", *, member: bool = True) -> int:
        """Another server, with one text channel; its id. With `member` the bot is in it: the
        gateway tells a connected bot at once (GUILD_CREATE, as when a stranger invites a public
        bot), or lists it at the next IDENTIFY. Without, only commands come from it (a
        user-installed app)."""
        return await self._on_loop(self._add_guild(name, member))

    @property
    def left_guilds(self) -> list[int]:
        """The servers the bot left (DELETE /users/@me/guilds/{id}), in order."""
        return self._call(lambda: list(self._left_guilds))

    # -- driving: interactions and user messages ---------------------------------------------------

    async def slash(
        self,
        name: str,
        options: Mapping[str, Any] | None = None,
        *,
        user: str | int = "alice",
        channel: str | int | None = None,
        attachments: Mapping[str, tuple[str, bytes, str]] | None = None,
        subcommand: str | None = None,
        group: str | None = None,
        locale: str | None = None,
        guild: int | None = None,
    ) -> InteractionHandle:
        """Run a registered slash command as `user` (INTERACTION_CREATE, type 2).

        `locale` is the member's client language the interaction carries (default: the user's,
        see `set_locale`, else "en-US"); the same holds for every way of sending one below.
        `guild`: a server from `add_guild` to send it from (its channel), instead of the fake's
        own; Discord delivers commands of a user-installed app from any server."""
        return await self._on_loop(
            self._slash(
                name,
                dict(options or {}),
                user,
                channel,
                dict(attachments or {}),
                subcommand,
                group,
                locale,
                guild,
            )
        )

    async def slash_many(
        self, calls: Sequence[tuple[str, Mapping[str, Any], str | int, str | int | None]]
    ) -> list[InteractionHandle]:
        """Run many slash commands at once, (name, options, user, channel) each: all created
        on the fake's loop in one go, as a burst of members reaches Discord at once."""

        async def burst() -> list[InteractionHandle]:
            return list(
                await asyncio.gather(
                    *(
                        self._slash(name, dict(options), user, channel, {}, None, None, None, None)
                        for name, options, user, channel in calls
                    )
                )
            )

        return await self._on_loop(burst())

    async def click(
        self,
        message_id: int,
        custom_id: str,
        *,
        user: str | int = "alice",
        values: list[str] | None = None,
        locale: str | None = None,
    ) -> InteractionHandle:
        """Press a button or choose select values on a message (INTERACTION_CREATE, type 3)."""
        return await self._on_loop(self._click(message_id, custom_id, user, values, locale))

    async def message_command(
        self,
        name: str,
        message_id: int,
        *,
        user: str | int = "alice",
        locale: str | None = None,
    ) -> InteractionHandle:
        """Run a registered message context-menu command on a message."""
        return await self._on_loop(self._message_command(name, message_id, user, locale))

    async def user_command(
        self,
        name: str,
        target: str | int,
        *,
        user: str | int = "alice",
        locale: str | None = None,
    ) -> InteractionHandle:
        """Run a registered user context-menu command on a member."""
        return await self._on_loop(self._user_command(name, target, user, locale))

    async def submit_modal(
        self,
        handle_of_modal: InteractionHandle,
        values: Mapping[str, str | list[str]],
        *,
        user: str | int = "alice",
        locale: str | None = None,
    ) -> InteractionHandle:
        """Submit the modal `handle_of_modal` was answered with (type 5); values by custom_id."""
        return await self._on_loop(
            self._submit_modal(handle_of_modal.id, dict(values), user, locale)
        )

    async def post_user_message(
        self,
        content: str,
        attachments: Sequence[tuple[str, bytes, str]] = (),
        embeds: Sequence[Json] = (),
        *,
        user: str | int = "alice",
        channel: str | int | None = None,
    ) -> int:
        """Post an ordinary message as a member; returns its id."""
        return await self._on_loop(
            self._post_user_message(content, list(attachments), list(embeds), user, channel)
        )

    async def add_role(self, name: str, *, members: Sequence[str | int] = ()) -> int:
        """A new role without permissions, given to `members`; a connected bot hears of it as
        Discord tells it (GUILD_ROLE_CREATE). Returns the role's id."""
        return await self._on_loop(self._add_role(name, list(members)))

    def set_locale(self, user: str | int, locale: str) -> None:
        """The client language `user`'s interactions carry from now on ("zh-CN", "en-GB"...)."""
        user_id = self._resolve_user(user)

        def store() -> None:
            self._user_locales[user_id] = locale

        self._call(store)

    def add_member(self, key: str) -> FakeUser:
        """One more plain member of the guild (no roles); call before start()."""
        if self._thread is not None:
            raise RuntimeError("add members before start(): GUILD_CREATE has been sent")
        uid = self._next_id()
        self._user_roles[uid] = []
        self._usernames[uid] = key
        user = self._users[key] = FakeUser(key, uid, key, False)
        return user

    # -- ids, users, payload builders --------------------------------------------------------------

    def _next_id(self) -> int:
        ms = int(time.time() * 1000) - DISCORD_EPOCH_MS
        self._increment = (self._increment + 1) & 0xFFF
        candidate = (ms << 22) | (1 << 17) | self._increment
        self._last_id = max(candidate, self._last_id + 1)
        return self._last_id

    def _resolve_user(self, user: str | int | FakeUser) -> int:
        if isinstance(user, FakeUser):
            return user.id
        if isinstance(user, str):
            if user in self._users:
                return self._users[user].id
            raise LookupError(f"unknown user {user!r}; known: {sorted(self._users)}")
        if user in self._usernames:
            return user
        raise LookupError(f"unknown user id {user}")

    def _guild_snowflake(self, index: int) -> int:
        """A fresh id whose timestamp part is index modulo 12, so server i lands on shard
        i % n for every shard count n dividing 12 (1, 2, 3, 4, 6, 12)."""
        ms = int(time.time() * 1000) - DISCORD_EPOCH_MS
        ms = max(ms, (self._last_id >> 22) + 1)
        ms += (index - ms) % 12
        self._last_id = (ms << 22) | (1 << 17)
        return self._last_id

    def _latest_session(self, shard: int | None = None) -> _Session | None:
        for sess in reversed(self._sessions):
            if shard is None or sess.shard_id == shard:
                return sess
        return None

    def _session_for(self, guild_id: int) -> _Session | None:
        """The live session that Discord sends this guild's events on (the latest to identify)."""
        for sess in reversed(self._sessions):
            if sess.serves(guild_id):
                return sess
        return None

    def _resolve_channel(self, channel: str | int | None) -> int:
        if channel is None:
            return self.channel_id
        for cid, info in self._channels.items():
            if channel in (cid, info["name"]):
                return cid
        if channel == "nsfw":
            return self.nsfw_channel_id
        raise LookupError(f"unknown channel {channel!r}")

    def _permissions(self, user_id: int) -> int:
        if user_id == self._owner_id:
            return ALL_PERMISSIONS
        perms = int(self._roles[self.guild_id]["permissions"])  # every server's @everyone
        for role_id in self._user_roles.get(user_id, []):
            perms |= int(self._roles[role_id]["permissions"])
        return ALL_PERMISSIONS if perms & ADMINISTRATOR else perms

    def _user_payload(self, user_id: int) -> Json:
        name = self._usernames.get(user_id, f"user{user_id}")
        payload: Json = {
            "id": str(user_id),
            "username": name,
            "global_name": None if user_id == self.bot_user_id else name.capitalize(),
            "discriminator": "0",
            "avatar": None,
            "avatar_decoration_data": None,
            "banner": None,
            "accent_color": None,
            "public_flags": 0,
            "collectibles": None,
            "primary_guild": None,
        }
        if user_id == self.bot_user_id:
            payload["bot"] = True
        return payload

    def _me_payload(self) -> Json:
        return {
            **self._user_payload(self.bot_user_id),
            "verified": True,
            "mfa_enabled": False,
            "flags": 0,
            "email": None,
            "locale": "en-US",
            "premium_type": 0,
        }

    def _member_payload(
        self, user_id: int, *, with_user: bool = True, permissions: bool = False
    ) -> Json:
        member: Json = {
            "roles": [str(r) for r in self._user_roles.get(user_id, [])],
            "nick": None,
            "avatar": None,
            "banner": None,
            "joined_at": _iso(self._joined_at),
            "premium_since": None,
            "deaf": False,
            "mute": False,
            "flags": 0,
            "pending": False,
            "communication_disabled_until": None,
            "unusual_dm_activity_until": None,
        }
        if with_user:
            member["user"] = self._user_payload(user_id)
        if permissions:
            member["permissions"] = str(self._permissions(user_id))
        return member

    def _role_payload(self, role_id: int) -> Json:
        role = self._roles[role_id]
        payload: Json = {
            "id": str(role_id),
            "name": role["name"],
            "color": 0,
            "colors": {"primary_color": 0, "secondary_color": None, "tertiary_color": None},
            "hoist": False,
            "icon": None,
            "unicode_emoji": None,
            "position": role["position"],
            "permissions": str(role["permissions"]),
            "managed": role.get("managed", False),
            "mentionable": False,
            "flags": 0,
        }
        if role.get("managed"):
            payload["tags"] = {"bot_id": str(self.bot_user_id)}
        return payload

    def _channel_payload(self, channel_id: int, *, for_user: int | None = None) -> Json:
        info = self._channels[channel_id]
        payload: Json = {
            "id": str(channel_id),
            "type": 0,
            "guild_id": str(self._channel_guild[channel_id]),
            "name": info["name"],
            "position": info["position"],
            "parent_id": None,
            "topic": None,
            "nsfw": info["nsfw"],
            "rate_limit_per_user": 0,
            "permission_overwrites": [],
            "last_message_id": None,
            "flags": 0,
        }
        if for_user is not None:
            payload["permissions"] = str(self._permissions(for_user))
        return payload

    def _application_flags(self) -> int:
        badge = 1 << 23
        if self.privileged_intents:
            return badge | (1 << 13) | (1 << 15) | (1 << 19)
        return badge

    def _application_payload(self) -> Json:
        return {
            "id": str(self.application_id),
            "name": "wanbot",
            "icon": None,
            "description": "",
            "summary": "",
            "type": None,
            "hook": True,
            "bot_public": True,
            "bot_require_code_grant": False,
            "verify_key": "0" * 64,
            "flags": self._application_flags(),
            "owner": self._user_payload(self._owner_id),
            "team": None,
            "bot": self._user_payload(self.bot_user_id),
            "redirect_uris": [],
            "interactions_endpoint_url": None,
            "role_connections_verification_url": None,
            "tags": [],
            "integration_types_config": {"0": {}},
            "approximate_guild_count": 1,
        }

    def _premium_tier(self) -> int:
        if self.upload_limit >= 100 * 1024 * 1024:
            return 3
        if self.upload_limit >= 50 * 1024 * 1024:
            return 2
        return 0

    def _guild_create_payload(self, intents: int, guild_id: int | None = None) -> Json:
        gid = self.guild_id if guild_id is None else guild_id
        index = self.guild_ids.index(gid)
        everyone = [self.bot_user_id, *(u.id for u in self._users.values())]
        # Without the members intent Discord sends only the bot's own member.
        listed = everyone if intents & INTENT_GUILD_MEMBERS else [self.bot_user_id]
        return {
            "id": str(gid),
            "name": "Wan Test Server" if index == 0 else f"Wan Test Server {index + 1}",
            "icon": None,
            "splash": None,
            "discovery_splash": None,
            "banner": None,
            "description": None,
            "owner_id": str(self._owner_id),
            "afk_channel_id": None,
            "afk_timeout": 300,
            "verification_level": 1,
            "default_message_notifications": 1,
            "explicit_content_filter": 0,
            "mfa_level": 0,
            "nsfw_level": 0,
            "premium_tier": self._premium_tier(),
            "premium_subscription_count": 0,
            "premium_progress_bar_enabled": False,
            "preferred_locale": self.guild_locale,
            "features": [],
            "system_channel_id": str(self.guild_channels[gid]),
            "system_channel_flags": 0,
            "rules_channel_id": None,
            "public_updates_channel_id": None,
            "safety_alerts_channel_id": None,
            "vanity_url_code": None,
            "max_members": 500_000,
            "max_video_channel_users": 25,
            "application_id": None,
            "joined_at": _iso(self._joined_at),
            "large": False,
            "unavailable": False,
            "member_count": len(everyone),
            "roles": [
                self._role_payload(r)
                for r, role in self._roles.items()
                if r == gid or not role.get("everyone")
            ],
            "emojis": [],
            "stickers": [],
            "channels": [
                self._channel_payload(c) for c in self._channels if self._channel_guild[c] == gid
            ],
            "threads": [],
            "members": [self._member_payload(u) for u in listed],
            "presences": [],
            "voice_states": [],
            "stage_instances": [],
            "guild_scheduled_events": [],
            "soundboard_sounds": [],
        }

    def _other_channel_payload(self, guild_id: int, *, for_user: int | None = None) -> Json:
        info = self._other_guilds[guild_id]
        payload: Json = {
            "id": str(info["channel_id"]),
            "type": 0,
            "guild_id": str(guild_id),
            "name": "general",
            "position": 0,
            "parent_id": None,
            "topic": None,
            "nsfw": False,
            "rate_limit_per_user": 0,
            "permission_overwrites": [],
            "last_message_id": None,
            "flags": 0,
        }
        if for_user is not None:
            payload["permissions"] = str(EVERYONE_PERMISSIONS)
        return payload

    def _other_guild_payload(self, guild_id: int, intents: int) -> Json:
        """GUILD_CREATE for a server from `add_guild`: the bot, alone, in one channel."""
        info = self._other_guilds[guild_id]
        payload = self._guild_create_payload(intents)
        everyone = {**self._role_payload(self.guild_id), "id": str(guild_id)}
        payload.update(
            id=str(guild_id),
            name=info["name"],
            system_channel_id=str(info["channel_id"]),
            joined_at=_iso(info["joined_at"]),
            member_count=1,
            roles=[everyone],
            channels=[self._other_channel_payload(guild_id)],
            members=[{**self._member_payload(self.bot_user_id), "roles": []}],
        )
        return payload

    def _attachment_payload(self, att: _Attachment) -> Json:
        payload: Json = {
            "id": str(att.id),
            "filename": att.filename,
            "size": len(att.data),
            "url": att.url,
            "proxy_url": att.url,
        }
        if att.content_type is not None:
            payload["content_type"] = att.content_type
        if att.width is not None and att.height is not None:
            payload["width"], payload["height"] = att.width, att.height
        if att.description is not None:
            payload["description"] = att.description
        if att.ephemeral:
            payload["ephemeral"] = True
        return payload

    def _message_payload(self, msg: _Message) -> Json:
        payload: Json = {
            "id": str(msg.id),
            "channel_id": str(msg.channel_id),
            "author": self._user_payload(msg.author_id),
            "content": msg.content,
            "timestamp": _iso(msg.created_at),
            "edited_timestamp": None if msg.edited_at is None else _iso(msg.edited_at),
            "tts": msg.tts,
            "mention_everyone": msg.mentions_everyone,
            "mentions": [
                self._user_payload(u) for u in msg.mentioned_user_ids if u in self._usernames
            ],
            "mention_roles": [],
            "attachments": [self._attachment_payload(a) for a in msg.attachments],
            "embeds": copy.deepcopy(msg.embeds),
            "pinned": False,
            "type": msg.type,
            "flags": msg.flags,
            "components": copy.deepcopy(msg.components),
        }
        if msg.webhook_id is not None:
            payload["webhook_id"] = str(msg.webhook_id)
        if msg.application_id is not None:
            payload["application_id"] = str(msg.application_id)
        if msg.interaction_metadata is not None:
            payload["interaction_metadata"] = copy.deepcopy(msg.interaction_metadata)
        if msg.interaction_legacy is not None:
            payload["interaction"] = copy.deepcopy(msg.interaction_legacy)
        if msg.message_reference is not None:
            payload["message_reference"] = copy.deepcopy(msg.message_reference)
        return payload

    def _snapshot(self, msg: _Message) -> FakeMessage:
        return FakeMessage(
            id=msg.id,
            channel_id=msg.channel_id,
            author_id=msg.author_id,
            content=msg.content,
            embeds=copy.deepcopy(msg.embeds),
            attachments=[
                FakeAttachment(a.filename, a.data, a.content_type, len(a.data))
                for a in msg.attachments
            ],
            attachment_urls=[a.url for a in msg.attachments],
            components=copy.deepcopy(msg.components),
            flags=msg.flags,
            ephemeral=msg.ephemeral,
            visible_to=msg.visible_to,
            interaction_id=msg.interaction_id,
            webhook_id=msg.webhook_id,
            application_id=msg.application_id,
            type=msg.type,
            created_at=msg.created_at,
            edited_at=msg.edited_at,
            deleted=msg.deleted,
            loading=msg.loading,
            mentions_everyone=msg.mentions_everyone,
            mentioned_user_ids=list(msg.mentioned_user_ids),
            filled_at=msg.filled_at,
        )

    def _original_of(self, interaction_id: int) -> FakeMessage | None:
        it = self._interactions[interaction_id]
        if it.callback_type in (CB_MESSAGE, CB_DEFERRED_MESSAGE):
            mid = it.response_message_id
        elif it.callback_type in (CB_DEFERRED_UPDATE, CB_UPDATE):
            mid = it.source_message_id
        else:
            mid = None
        return None if mid is None else self._snapshot(self._messages[mid])

    def _store_attachment(
        self,
        filename: str,
        data: bytes,
        content_type: str | None,
        *,
        description: str | None = None,
        ephemeral: bool = False,
    ) -> _Attachment:
        aid = self._next_id()
        now = int(time.time())
        expires = now + int(self.attachment_url_lifetime_s)
        url = (
            f"{self.origin}/attachments/{aid}/{quote(filename)}"
            f"?ex={expires:x}&is={now:x}&hm={secrets.token_hex(32)}&"
        )
        size = _image_size(data) if (content_type or "").startswith("image/") else None
        att = _Attachment(
            id=aid,
            filename=filename,
            data=data,
            content_type=content_type,
            width=size[0] if size else None,
            height=size[1] if size else None,
            description=description,
            ephemeral=ephemeral,
            url=url,
        )
        self._attachments[aid] = att
        return att

    async def _add_guild(self, name: str, member: bool) -> int:
        guild_id = self._next_id()
        self._other_guilds[guild_id] = {
            "name": name,
            "channel_id": self._next_id(),
            "joined_at": time.time(),
            "member": member,
        }
        self._channel_guild[self._other_guilds[guild_id]["channel_id"]] = guild_id
        sess = self._session_for(guild_id)
        if member and sess is not None:
            payload = self._other_guild_payload(guild_id, sess.intents)
            del payload["unavailable"]  # absent, not false: a server joined, not one come back
            await self._dispatch("GUILD_CREATE", payload, sess, guild_id)
        return guild_id

    # -- gateway --------------------------------------------------------------------------------

    async def _dispatch(
        self, event: str, data: Json, sess: _Session | None, guild_id: int | None = None
    ) -> None:
        if sess is None:
            return
        self._shard_events.setdefault(sess.shard_id, []).append((event, guild_id))
        sess.seq += 1
        frame = {"op": 0, "t": event, "s": sess.seq, "d": data}
        sess.buffer.append(frame)
        conn = sess.conn
        if conn is None:
            return  # kept in the buffer for a RESUME
        try:
            await conn.send(frame)
        except (ConnectionError, RuntimeError):
            if sess.conn is conn:
                sess.conn = None

    async def _dispatch_message(self, event: str, msg: _Message) -> None:
        gid = self._channel_guild.get(msg.channel_id, self.guild_id)
        sess = self._session_for(gid)
        if sess is None or msg.ephemeral or not sess.intents & INTENT_GUILD_MESSAGES:
            return
        if event == "MESSAGE_DELETE":
            data: Json = {
                "id": str(msg.id),
                "channel_id": str(msg.channel_id),
                "guild_id": str(gid),
            }
        else:
            data = self._message_payload(msg)
            data["guild_id"] = str(gid)
            if msg.webhook_id is None:
                data["member"] = self._member_payload(msg.author_id, with_user=False)
            hidden = (
                not sess.intents & INTENT_MESSAGE_CONTENT
                and msg.author_id != self.bot_user_id
                and self.bot_user_id not in msg.mentioned_user_ids
            )
            if hidden:
                data.update(content="", embeds=[], attachments=[], components=[])
        await self._dispatch(event, data, sess, gid)

    async def _h_gateway(self, request: web.Request) -> web.StreamResponse:
        if self.gateway_refusing:
            return web.Response(status=503)
        ws = web.WebSocketResponse(max_msg_size=0)
        await ws.prepare(request)
        conn = _Conn(ws, request)
        self._conns.add(conn)
        try:
            if request.query.get("encoding", "json") != "json":
                await ws.close(code=4002, message=b"Only json encoding is served.")
                return ws
            if request.query.get("v", "10") != "10":
                await ws.close(code=4012, message=b"Invalid API version.")
                return ws
            await conn.send({"op": 10, "d": {"heartbeat_interval": HEARTBEAT_INTERVAL_MS}})
            async for msg in ws:
                if msg.type is not WSMsgType.TEXT:
                    await ws.close(code=4002, message=b"Error while decoding payload.")
                    break
                try:
                    frame = json.loads(msg.data)
                except ValueError:
                    await ws.close(code=4002, message=b"Error while decoding payload.")
                    break
                await self._on_frame(conn, frame)
        except (ConnectionError, RuntimeError):
            pass
        finally:
            self._conns.discard(conn)
            sess = conn.session
            if sess is not None and sess.conn is conn:
                sess.conn = None
        return ws

    async def _on_frame(self, conn: _Conn, frame: Any) -> None:
        op = frame.get("op") if isinstance(frame, dict) else None
        data = frame.get("d") if isinstance(frame, dict) else None
        if op == 1:
            await conn.send({"op": 11})
        elif op == 2:
            await self._identify(conn, data if isinstance(data, dict) else {})
        elif op == 6:
            await self._resume(conn, data if isinstance(data, dict) else {})
        elif conn.session is None:
            await conn.ws.close(code=4003, message=b"Not authenticated.")
        elif op == 8:
            await self._request_members(conn.session, data if isinstance(data, dict) else {})
        elif op in (3, 4):
            return
        else:
            await conn.ws.close(code=4001, message=b"Unknown opcode.")

    async def _identify(self, conn: _Conn, data: Json) -> None:
        if conn.session is not None:
            await conn.ws.close(code=4005, message=b"Already authenticated.")
            return
        if data.get("token") != self.token:
            await conn.ws.close(code=4004, message=b"Authentication failed.")
            return
        intents = int(data.get("intents") or 0)
        if intents & PRIVILEGED_INTENTS and not self.privileged_intents:
            await conn.ws.close(code=4014, message=b"Disallowed intent(s).")
            return
        shard = data.get("shard")
        if shard is None and self.shard_count > 1:
            await conn.ws.close(code=4011, message=b"Sharding required.")
            return
        if shard is not None and not (
            isinstance(shard, list)
            and len(shard) == 2
            and all(type(n) is int for n in shard)
            and 0 <= shard[0] < shard[1]
        ):
            await conn.ws.close(code=4010, message=b"Invalid shard.")
            return
        sess = _Session(secrets.token_hex(16), intents, shard)
        # A new IDENTIFY on a shard replaces the session that shard had (one connection each).
        for old in [s for s in self._sessions if s.shard_id == sess.shard_id]:
            self._sessions.remove(old)
            if old.conn is not None and old.conn is not conn:
                transport = old.conn.request.transport
                if transport is not None:
                    transport.abort()
        self._sessions.append(sess)
        self._shard_sessions.setdefault(sess.shard_id, []).append(sess.session_id)
        sess.conn, conn.session = conn, sess
        self._identify_count += 1
        served = [gid for gid in self._member_of() if sess.serves(gid)]
        ready: Json = {
            "v": 10,
            "user": self._me_payload(),
            "guilds": [{"id": str(gid), "unavailable": True} for gid in served],
            "session_id": sess.session_id,
            "session_type": "normal",
            "resume_gateway_url": self.gateway_url,
            "application": {"id": str(self.application_id), "flags": self._application_flags()},
            "private_channels": [],
            "relationships": [],
            "presences": [],
            "user_settings": {},
            "guild_join_requests": [],
            "geo_ordered_rtc_regions": [],
            "_trace": ['["fake-discord",{"micros":0}]'],
        }
        if sess.shard is not None:
            ready["shard"] = sess.shard
        await self._dispatch("READY", ready, sess)
        for gid in served:
            if gid in self._other_guilds:
                payload = self._other_guild_payload(gid, intents)
                await self._dispatch("GUILD_CREATE", payload, sess, gid)
            elif self.guild_ready:
                payload = self._guild_create_payload(intents, gid)
                await self._dispatch("GUILD_CREATE", payload, sess, gid)

    def _member_of(self) -> list[int]:
        """The servers the bot is in: the fake's own and those added with it, less those left."""
        others = [g for g, info in self._other_guilds.items() if info["member"]]
        return [g for g in [*self.guild_ids, *others] if g not in self._left_guilds]

    async def _resume(self, conn: _Conn, data: Json) -> None:
        if data.get("token") != self.token:
            await conn.ws.close(code=4004, message=b"Authentication failed.")
            return
        sess = next((s for s in self._sessions if s.session_id == data.get("session_id")), None)
        if sess is None or not sess.resumable:
            await conn.send({"op": 9, "d": False})
            return
        old = sess.conn
        if old is not None and old is not conn:
            sess.conn = None
            transport = old.request.transport
            if transport is not None:
                transport.abort()
        last = int(data.get("seq") or 0)
        while pending := [f for f in sess.buffer if f["s"] > last]:
            for frame in pending:
                await conn.send(frame)
                last = frame["s"]
        # No await between the last check and attaching, so no dispatch can slip past unsent.
        sess.conn, conn.session = conn, sess
        self._resume_count += 1
        await self._dispatch("RESUMED", {"_trace": ['["fake-discord",{"micros":0}]']}, sess)

    async def _request_members(self, sess: _Session | None, data: Json) -> None:
        gid = _as_int(data.get("guild_id"))
        if gid not in self.guild_ids:
            gid = self.guild_id
        members = [self._member_payload(self.bot_user_id)]
        members += [self._member_payload(u.id) for u in self._users.values()]
        chunk: Json = {
            "guild_id": str(gid),
            "members": members,
            "chunk_index": 0,
            "chunk_count": 1,
        }
        if "nonce" in data:
            chunk["nonce"] = data["nonce"]
        await self._dispatch("GUILD_MEMBERS_CHUNK", chunk, sess, gid)

    # -- building interactions ------------------------------------------------------------------

    async def _create_interaction(
        self,
        itype: int,
        data: Json,
        user_id: int,
        channel_id: int,
        *,
        name: str,
        command_type: int | None = None,
        source_message_id: int | None = None,
        extra: Json | None = None,
        locale: str | None = None,
        guild_id: int | None = None,
    ) -> InteractionHandle:
        gid = self._channel_guild[channel_id] if guild_id is None else guild_id
        sess = self._session_for(gid)
        if sess is None:
            raise RuntimeError(
                f"no bot has identified on the fake gateway for shard {self.shard_of(gid)}"
            )
        iid = self._next_id()
        token = "aW50ZXJhY3Rpb246" + secrets.token_urlsafe(120)
        channel = (
            self._other_channel_payload(gid, for_user=user_id)
            if gid in self._other_guilds
            else self._channel_payload(channel_id, for_user=user_id)
        )
        payload: Json = {
            "id": str(iid),
            "application_id": str(self.application_id),
            "type": itype,
            "token": token,
            "version": 1,
            "guild_id": str(gid),
            "guild": {"id": str(gid), "locale": self.guild_locale, "features": []},
            "channel_id": str(channel_id),
            "channel": channel,
            "member": self._member_payload(user_id, permissions=True),
            "app_permissions": str(self._permissions(self.bot_user_id)),
            "locale": locale or self._user_locales.get(user_id, "en-US"),
            "guild_locale": self.guild_locale,
            "entitlements": [],
            "entitlement_sku_ids": [],
            "authorizing_integration_owners": {"0": str(gid)},
            "context": 0,
            "attachment_size_limit": self.upload_limit,
            "data": data,
            **(extra or {}),
        }
        self._interactions[iid] = _Interaction(
            id=iid,
            token=token,
            type=itype,
            user_id=user_id,
            channel_id=channel_id,
            created_mono=time.monotonic(),
            name=name,
            command_type=command_type,
            source_message_id=source_message_id,
        )
        self._tokens[token] = iid
        await self._dispatch("INTERACTION_CREATE", payload, sess, gid)
        return InteractionHandle(self, iid, token)

    def _find_command(self, name: str, ctype: int) -> tuple[Json, int | None]:
        for scope in (self.guild_id, None):
            for cmd in self._commands.get(scope, []):
                if cmd["name"] == name and cmd.get("type", 1) == ctype:
                    return cmd, scope
        kinds = {1: "slash", 2: "user", 3: "message"}
        raise LookupError(
            f"no registered {kinds.get(ctype, ctype)} command {name!r} (did the bot sync its tree?)"
        )

    def _command_data(self, cmd: Json, scope: int | None, ctype: int) -> Json:
        data: Json = {"id": cmd["id"], "name": cmd["name"], "type": ctype}
        if scope is not None:
            data["guild_id"] = str(scope)
        return data

    async def _slash(
        self,
        name: str,
        options: dict[str, Any],
        user: str | int,
        channel: str | int | None,
        attachments: dict[str, tuple[str, bytes, str]],
        subcommand: str | None,
        group: str | None,
        locale: str | None = None,
        guild: int | None = None,
    ) -> InteractionHandle:
        cmd, scope = self._find_command(name, 1)
        user_id = self._resolve_user(user)
        if guild is not None and guild not in self._other_guilds:
            raise LookupError(f"unknown server {guild}; add one with add_guild()")
        channel_id = (
            self._resolve_channel(channel)
            if guild is None
            else int(self._other_guilds[guild]["channel_id"])
        )
        defs: list[Json] = cmd.get("options") or []
        sub_def: Json | None = None
        if group is not None:
            group_def = next((o for o in defs if o["type"] == 2 and o["name"] == group), None)
            if group_def is None or subcommand is None:
                raise LookupError(f"/{name} has no group {group!r}, or no subcommand was given")
            defs = group_def.get("options") or []
        if subcommand is not None:
            sub_def = next((o for o in defs if o["type"] == 1 and o["name"] == subcommand), None)
            if sub_def is None:
                raise LookupError(f"/{name} has no subcommand {subcommand!r}")
            defs = sub_def.get("options") or []
        elif any(o["type"] in (1, 2) for o in defs):
            raise ValueError(f"/{name} needs a subcommand")
        resolved: Json = {}
        built = self._build_options(name, defs, {**options, **attachments}, resolved)
        data = self._command_data(cmd, scope, 1)
        nested: list[Json] = built
        if sub_def is not None:
            nested = [{"type": 1, "name": sub_def["name"], "options": nested}]
        if group is not None:
            nested = [{"type": 2, "name": group, "options": nested}]
        if nested:
            data["options"] = nested
        if resolved:
            data["resolved"] = resolved
        return await self._create_interaction(
            APPLICATION_COMMAND,
            data,
            user_id,
            channel_id,
            name=name,
            command_type=1,
            locale=locale,
            guild_id=guild,
        )

    def _build_options(
        self, command: str, defs: list[Json], given: dict[str, Any], resolved: Json
    ) -> list[Json]:
        by_name = {d["name"]: d for d in defs}
        for key in given:
            if key not in by_name:
                raise ValueError(f"/{command} has no option {key!r}; it has {sorted(by_name)}")
        built: list[Json] = []
        for d in defs:
            name, otype = d["name"], d["type"]
            if name not in given:
                if d.get("required"):
                    raise ValueError(f"/{command} needs option {name!r}")
                continue
            value = given[name]
            built.append(
                {"name": name, "type": otype, "value": self._option_value(d, value, resolved)}
            )
        return built

    def _option_value(self, d: Json, value: Any, resolved: Json) -> Any:
        name, otype = d["name"], d["type"]
        if otype == 3:
            if not isinstance(value, str):
                raise TypeError(f"option {name!r} takes a string")
            if not d.get("min_length", 0) <= len(value) <= d.get("max_length", 6000):
                raise ValueError(f"option {name!r}: length {len(value)} outside Discord's bounds")
        elif otype == 4:
            if not isinstance(value, int) or isinstance(value, bool):
                raise TypeError(f"option {name!r} takes an integer")
        elif otype == 10:
            if not isinstance(value, int | float) or isinstance(value, bool):
                raise TypeError(f"option {name!r} takes a number")
        elif otype == 5 and not isinstance(value, bool):
            raise TypeError(f"option {name!r} takes a boolean")
        if otype in (4, 10):
            low, high = d.get("min_value"), d.get("max_value")
            if (low is not None and value < low) or (high is not None and value > high):
                raise ValueError(f"option {name!r}: {value} outside [{low}, {high}]")
        choices = d.get("choices")
        if choices and otype in (3, 4, 10) and value not in [c["value"] for c in choices]:
            raise ValueError(f"option {name!r}: {value!r} is not one of its choices")
        if otype in (3, 4, 5, 10):
            return value
        if otype == 6 or (
            otype == 9 and not (isinstance(value, str) and value in self._roles_by_name())
        ):
            uid = self._resolve_user(value)
            resolved.setdefault("users", {})[str(uid)] = self._user_payload(uid)
            member = self._member_payload(uid, with_user=False, permissions=True)
            resolved.setdefault("members", {})[str(uid)] = member
            return str(uid)
        if otype in (8, 9):
            rid = self._roles_by_name().get(value) if isinstance(value, str) else value
            if rid not in self._roles:
                raise LookupError(f"unknown role {value!r}")
            resolved.setdefault("roles", {})[str(rid)] = self._role_payload(rid)
            return str(rid)
        if otype == 7:
            cid = self._resolve_channel(value)
            channel = self._channel_payload(cid, for_user=None)
            channel["permissions"] = str(ALL_PERMISSIONS)
            resolved.setdefault("channels", {})[str(cid)] = channel
            return str(cid)
        if otype == 11:
            if not (isinstance(value, tuple) and len(value) == 3):
                raise TypeError(f"option {name!r} takes (filename, bytes, content_type)")
            filename, data, content_type = value
            att = self._store_attachment(filename, data, content_type, ephemeral=True)
            resolved.setdefault("attachments", {})[str(att.id)] = self._attachment_payload(att)
            return str(att.id)
        raise ValueError(f"option type {otype} is not supported by the fake")

    async def _add_role(self, name: str, members: list[str | int]) -> int:
        role_id = self._next_id()
        position = max(int(r["position"]) for r in self._roles.values()) + 1
        self._roles[role_id] = {"name": name, "permissions": 0, "position": position}
        for member in members:
            self._user_roles.setdefault(self._resolve_user(member), []).append(role_id)
        role = self._role_payload(role_id)
        data = {"guild_id": str(self.guild_id), "role": role}
        await self._dispatch(
            "GUILD_ROLE_CREATE", data, self._session_for(self.guild_id), self.guild_id
        )
        return role_id

    def _roles_by_name(self) -> dict[str, int]:
        return {str(r["name"]).lstrip("@").lower(): rid for rid, r in self._roles.items()}

    async def _click(
        self,
        message_id: int,
        custom_id: str,
        user: str | int,
        values: list[str] | None,
        locale: str | None = None,
    ) -> InteractionHandle:
        msg = self._messages.get(message_id)
        if msg is None or msg.deleted:
            raise LookupError(f"no message {message_id}")
        user_id = self._resolve_user(user)
        if msg.visible_to is not None and msg.visible_to != user_id:
            raise PermissionError(f"message {message_id} is ephemeral to someone else")
        comp = next(
            (c for c in _walk_components(msg.components) if c.get("custom_id") == custom_id), None
        )
        if comp is None:
            raise LookupError(f"message {message_id} has no component {custom_id!r}")
        if comp.get("disabled"):
            raise ValueError(f"component {custom_id!r} is disabled")
        ctype = int(comp["type"])
        data: Json = {"custom_id": custom_id, "component_type": ctype}
        if "id" in comp:
            data["id"] = comp["id"]
        if ctype in SELECT_TYPES:
            chosen = list(values or [])
            low, high = comp.get("min_values", 1), comp.get("max_values", 1)
            if not low <= len(chosen) <= high:
                raise ValueError(f"select {custom_id!r} takes {low}..{high} values")
            if ctype == 3:
                allowed = {o["value"] for o in comp.get("options", [])}
                if not set(chosen) <= allowed:
                    raise ValueError(
                        f"select {custom_id!r} has no option(s) {set(chosen) - allowed}"
                    )
            elif ctype == 5:
                resolved: Json = {}
                chosen = [
                    str(self._option_value({"name": custom_id, "type": 6}, v, resolved))
                    for v in chosen
                ]
                data["resolved"] = resolved
            data["values"] = chosen
        elif values:
            raise ValueError("values only apply to select menus")
        elif ctype != 2 or comp.get("style") in (5, 6):
            raise ValueError(f"component {custom_id!r} does not send interactions")
        return await self._create_interaction(
            MESSAGE_COMPONENT,
            data,
            user_id,
            msg.channel_id,
            name=custom_id,
            source_message_id=msg.id,
            extra={"message": self._message_payload(msg)},
            locale=locale,
        )

    async def _message_command(
        self, name: str, message_id: int, user: str | int, locale: str | None = None
    ) -> InteractionHandle:
        cmd, scope = self._find_command(name, 3)
        msg = self._messages.get(message_id)
        if msg is None or msg.deleted:
            raise LookupError(f"no message {message_id}")
        data = self._command_data(cmd, scope, 3)
        data["target_id"] = str(message_id)
        data["resolved"] = {"messages": {str(message_id): self._message_payload(msg)}}
        return await self._create_interaction(
            APPLICATION_COMMAND,
            data,
            self._resolve_user(user),
            msg.channel_id,
            name=name,
            command_type=3,
            locale=locale,
        )

    async def _user_command(
        self, name: str, target: str | int, user: str | int, locale: str | None = None
    ) -> InteractionHandle:
        cmd, scope = self._find_command(name, 2)
        target_id = self._resolve_user(target)
        data = self._command_data(cmd, scope, 2)
        data["target_id"] = str(target_id)
        data["resolved"] = {
            "users": {str(target_id): self._user_payload(target_id)},
            "members": {
                str(target_id): self._member_payload(target_id, with_user=False, permissions=True)
            },
        }
        return await self._create_interaction(
            APPLICATION_COMMAND,
            data,
            self._resolve_user(user),
            self.channel_id,
            name=name,
            command_type=2,
            locale=locale,
        )

    async def _submit_modal(
        self,
        interaction_id: int,
        values: dict[str, str | list[str]],
        user: str | int,
        locale: str | None = None,
    ) -> InteractionHandle:
        it = self._interactions[interaction_id]
        if it.modal is None:
            raise ValueError(f"interaction {interaction_id} was not answered with a modal")
        modal = it.modal
        unused = set(values)

        def render(comp: Json) -> Json:
            ctype = comp.get("type")
            out: Json = {"type": ctype}
            if "id" in comp:
                out["id"] = comp["id"]
            if ctype == 1:
                out["components"] = [render(c) for c in comp.get("components", [])]
            elif ctype == 18:
                out["component"] = render(comp["component"])
            elif ctype == 4:
                cid = comp["custom_id"]
                unused.discard(cid)
                value = values.get(cid, comp.get("value") or "")
                if not isinstance(value, str):
                    raise TypeError(f"text input {cid!r} takes a string")
                if comp.get("required", True) and not value:
                    raise ValueError(f"text input {cid!r} is required")
                if value and not comp.get("min_length", 0) <= len(value) <= comp.get(
                    "max_length", 4000
                ):
                    raise ValueError(f"text input {cid!r}: length {len(value)} out of bounds")
                out.update(custom_id=cid, value=value)
            elif ctype in SELECT_TYPES:
                cid = comp["custom_id"]
                unused.discard(cid)
                chosen = values.get(cid, [])
                out.update(custom_id=cid, values=[chosen] if isinstance(chosen, str) else chosen)
            return out

        components = [render(c) for c in modal.get("components", [])]
        if unused:
            raise ValueError(f"modal {modal.get('custom_id')!r} has no inputs {sorted(unused)}")
        extra: Json = {}
        if it.source_message_id is not None:
            extra["message"] = self._message_payload(self._messages[it.source_message_id])
        return await self._create_interaction(
            MODAL_SUBMIT,
            {"custom_id": modal["custom_id"], "components": components},
            self._resolve_user(user),
            it.channel_id,
            name=str(modal["custom_id"]),
            source_message_id=it.source_message_id,
            extra=extra,
            locale=locale,
        )

    async def _post_user_message(
        self,
        content: str,
        attachments: list[tuple[str, bytes, str]],
        embeds: list[Json],
        user: str | int,
        channel: str | int | None,
    ) -> int:
        user_id = self._resolve_user(user)
        msg = _Message(
            id=self._next_id(),
            channel_id=self._resolve_channel(channel),
            author_id=user_id,
            content=content,
            embeds=copy.deepcopy(embeds),
            attachments=[self._store_attachment(f, d, c) for f, d, c in attachments],
        )
        everyone, users = self._mentions(content, None)
        msg.mentions_everyone = everyone and bool(self._permissions(user_id) & MENTION_EVERYONE)
        msg.mentioned_user_ids = users
        self._messages[msg.id] = msg
        await self._dispatch_message("MESSAGE_CREATE", msg)
        return msg.id

    # -- HTTP plumbing ----------------------------------------------------------------------------

    def _add_routes(self, app: web.Application) -> None:
        r, p = app.router, API_PREFIX
        r.add_get("/gateway", self._h_gateway)
        r.add_get("/attachments/{attachment_id}/{filename}", self._h_attachment)
        r.add_get(p + "/users/@me", self._h_me)
        r.add_delete(p + "/users/@me/guilds/{guild_id}", self._h_leave_guild)
        r.add_get(p + "/users/{user_id}", self._h_user)
        r.add_get(p + "/oauth2/applications/@me", self._h_application)
        r.add_get(p + "/gateway", self._h_gateway_url)
        r.add_get(p + "/gateway/bot", self._h_gateway_bot)
        r.add_route("*", p + "/applications/{application_id}/commands", self._h_commands)
        r.add_route(
            "*", p + "/applications/{application_id}/guilds/{guild_id}/commands", self._h_commands
        )
        r.add_post(p + "/interactions/{interaction_id}/{token}/callback", self._h_callback)
        r.add_post(p + "/webhooks/{application_id}/{token}", self._h_followup)
        r.add_route(
            "*",
            p + "/webhooks/{application_id}/{token}/messages/@original",
            self._h_webhook_message,
        )
        r.add_route(
            "*",
            p + "/webhooks/{application_id}/{token}/messages/{message_id}",
            self._h_webhook_message,
        )
        r.add_get(p + "/channels/{channel_id}", self._h_channel)
        r.add_route("*", p + "/channels/{channel_id}/messages", self._h_channel_messages)
        r.add_route(
            "*", p + "/channels/{channel_id}/messages/{message_id}", self._h_channel_message
        )
        r.add_post(p + "/channels/{channel_id}/typing", self._h_typing)
        r.add_get(p + "/guilds/{guild_id}/members/{user_id}", self._h_member)

    @web.middleware
    async def _middleware(
        self,
        request: web.Request,
        handler: Callable[[web.Request], Awaitable[web.StreamResponse]],
    ) -> web.StreamResponse:
        if request.path == "/gateway":
            return await handler(request)
        request[_RECEIVED] = time.monotonic()
        request[_RL_HEADERS] = {}
        path = request.path
        rel = path[len(API_PREFIX) :] if path.startswith(API_PREFIX + "/") else path
        body = _Body()
        response: web.StreamResponse
        try:
            body = await self._read_body(request)
            request[_BODY] = body
            if body.size > MAX_REQUEST_BYTES:
                raise _ApiError(
                    413,
                    40005,
                    "Request entity too large",
                    violation=f"request over 25 MiB ({body.size} bytes): {request.method} {rel}",
                )
            fault = self.rest_faults._take(rel)
            if fault is not None:
                response = self._fault_response(fault)
            else:
                if path.startswith(API_PREFIX + "/") and not rel.startswith("/webhooks/"):
                    self._limit_route(request, rel)
                response = await handler(request)
        except _ApiError as exc:
            if exc.violation:
                self._violations.append(exc.violation)
            error: Json = {"message": exc.message, "code": exc.code}
            if exc.errors:
                error["errors"] = exc.errors
            response = _json_response(error, exc.status)
        except _RateLimited as exc:
            response = exc.response
        except web.HTTPException as exc:
            if exc.status in (404, 405):
                self._unhandled.append(f"{request.method} {rel}")
            response = _json_response(
                {"message": f"{exc.status}: {exc.reason}", "code": 0}, exc.status
            )
        except Exception as exc:
            self._violations.append(f"fake internal error on {request.method} {rel}: {exc!r}")
            response = _json_response({"message": "500: Internal Server Error", "code": 0}, 500)
        for key, value in request[_RL_HEADERS].items():
            response.headers.setdefault(key, value)
        response.headers.setdefault("Via", "1.1 google")
        if response.status == 429:
            self._count_429 += 1
        payload = body.json
        self._requests.append(
            RecordedRequest(
                method=request.method,
                path=rel,
                status=response.status,
                time=request[_RECEIVED],
                query=dict(request.query),
                payload=payload,
                files=[(u.filename, len(u.data)) for u in body.uploads],
            )
        )
        return response

    async def _read_body(self, request: web.Request) -> _Body:
        if not request.body_exists:
            return _Body()
        if request.content_type.startswith("multipart/"):
            body = _Body()
            reader = await request.multipart()
            async for part in reader:
                if not isinstance(part, BodyPartReader):
                    continue
                data = bytes(await part.read())
                body.size += len(data)
                name = part.name or ""
                if name == "payload_json":
                    body.json = self._parse_json(data)
                    continue
                match = re.fullmatch(r"files\[(\d+)\]", name)
                index = int(match[1]) if match else len(body.uploads)
                body.uploads.append(_Upload(index, part.filename or name, data))
            return body
        raw = await request.read()
        return _Body(json=self._parse_json(raw) if raw else None, size=len(raw))

    @staticmethod
    def _parse_json(raw: bytes) -> Any:
        try:
            return json.loads(raw)
        except ValueError:
            raise _ApiError(400, 50109, "The request body contains invalid JSON.") from None

    def _fault_response(self, fault: tuple[str, int, float]) -> web.Response:
        _, status, retry_after = fault
        if status == 429:
            return self._too_many(retry_after, limit=1, bucket="fault", scope="user")
        messages = {
            500: "500: Internal Server Error",
            502: "502: Bad Gateway",
            503: "503: Service Unavailable",
        }
        return _json_response(
            {"message": messages.get(status, f"{status}: fault"), "code": 0}, status
        )

    def _too_many(self, retry_after: float, *, limit: int, bucket: str, scope: str) -> web.Response:
        headers = {
            "Retry-After": str(max(1, math.ceil(retry_after))),
            "X-RateLimit-Limit": str(limit),
            "X-RateLimit-Remaining": "0",
            "X-RateLimit-Reset": f"{time.time() + retry_after:.3f}",
            "X-RateLimit-Reset-After": f"{retry_after:.3f}",
            "X-RateLimit-Bucket": bucket,
            "X-RateLimit-Scope": scope,
            "Via": "1.1 google",
        }
        body = {
            "message": "You are being rate limited.",
            "retry_after": round(retry_after, 3),
            "global": False,
        }
        return _json_response(body, 429, headers)

    def _take(
        self, request: web.Request, key: tuple[Any, ...], rate: tuple[int, float], *, visible: bool
    ) -> None:
        now = time.monotonic()
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = _Bucket(rate[0], rate[1])
        # The last part of a key is the major parameter, which Discord leaves out of the hash.
        bucket_hash = hashlib.sha1(repr(key[:-1]).encode()).hexdigest()[:16]
        wait = bucket.take(now)
        if wait is not None:
            raise _RateLimited(
                self._too_many(
                    wait,
                    limit=bucket.limit,
                    bucket=bucket_hash,
                    scope="user" if visible else "shared",
                )
            )
        if visible:
            reset_after = max(0.0, bucket.reset_at - now)
            request[_RL_HEADERS].update(
                {
                    "X-RateLimit-Limit": str(bucket.limit),
                    "X-RateLimit-Remaining": str(bucket.limit - bucket.count),
                    "X-RateLimit-Reset": f"{time.time() + reset_after:.3f}",
                    "X-RateLimit-Reset-After": f"{reset_after:.3f}",
                    "X-RateLimit-Bucket": bucket_hash,
                }
            )

    def _limit_route(self, request: web.Request, rel: str) -> None:
        info = request.match_info
        resource = info.route.resource
        template = resource.canonical if resource is not None else rel
        major = tuple(info.get(k) for k in ("channel_id", "guild_id", "interaction_id"))
        self._take(request, ("route", request.method, template, major), ROUTE_RATE, visible=True)

    def _limit_webhook(self, request: web.Request, it: _Interaction, *, mutates: bool) -> None:
        self._take(request, ("webhook", it.token), self.webhook_rate, visible=True)
        if mutates:
            self._limit_channel(request, it.channel_id)

    def _limit_channel(self, request: web.Request, channel_id: int) -> None:
        # Discord's per-channel message limit is shared and never shown in the headers.
        if self.channel_rate is not None:
            self._take(request, ("channel", channel_id), self.channel_rate, visible=False)

    def _auth(self, request: web.Request) -> None:
        if request.headers.get("Authorization") != f"Bot {self.token}":
            raise _ApiError(401, 0, "401: Unauthorized")

    @staticmethod
    def _where(request: web.Request, extra: str = "") -> str:
        resource = request.match_info.route.resource
        template = resource.canonical if resource is not None else request.path
        return f"{request.method} {template.removeprefix(API_PREFIX)}{extra}"

    # -- message rules --------------------------------------------------------------------------

    def _check_embeds(self, embeds: Any, where: str) -> None:
        if not isinstance(embeds, list):
            raise _invalid(
                ("embeds",), "LIST_TYPE_CONVERT", "Must be a list.", f"embeds not a list in {where}"
            )
        if len(embeds) > 10:
            raise _invalid(
                ("embeds",),
                "BASE_TYPE_MAX_LENGTH",
                "Must be 10 or fewer in length.",
                f"more than 10 embeds ({len(embeds)}) in {where}",
            )
        total = 0
        for i, embed in enumerate(embeds):
            if not isinstance(embed, dict):
                continue
            texts: list[tuple[tuple[str, ...], Any, int]] = [
                (("title",), embed.get("title"), 256),
                (("description",), embed.get("description"), 4096),
                (("author", "name"), (embed.get("author") or {}).get("name"), 256),
                (("footer", "text"), (embed.get("footer") or {}).get("text"), 2048),
            ]
            fields = embed.get("fields") or []
            if len(fields) > 25:
                raise _invalid(
                    ("embeds", str(i), "fields"),
                    "BASE_TYPE_MAX_LENGTH",
                    "Must be 25 or fewer in length.",
                    f"embed {i} has more than 25 fields in {where}",
                )
            for j, fld in enumerate(fields):
                texts.append((("fields", str(j), "name"), fld.get("name"), 256))
                texts.append((("fields", str(j), "value"), fld.get("value"), 1024))
            for path, text, limit in texts:
                length = len(str(text)) if text is not None else 0
                total += length
                if length > limit:
                    raise _invalid(
                        ("embeds", str(i), *path),
                        "BASE_TYPE_MAX_LENGTH",
                        f"Must be {limit} or fewer in length.",
                        f"embed {i} {'.'.join(path)} over {limit} chars ({length}) in {where}",
                    )
        if total > 6000:
            raise _invalid(
                ("embeds",),
                "MAX_EMBED_SIZE_EXCEEDED",
                "Embed size exceeds maximum size of 6000",
                f"embeds over 6000 chars in all ({total}) in {where}",
            )

    def _check_components(self, components: Any, where: str, *, v2: bool) -> None:
        if not isinstance(components, list):
            raise _invalid(
                ("components",),
                "LIST_TYPE_CONVERT",
                "Must be a list.",
                f"components not a list in {where}",
            )
        if not v2:
            if len(components) > 5:
                raise _invalid(
                    ("components",),
                    "BASE_TYPE_MAX_LENGTH",
                    "Must be 5 or fewer in length.",
                    f"more than 5 action rows in {where}",
                )
            for i, row in enumerate(components):
                if isinstance(row, dict) and len(row.get("components") or []) > 5:
                    raise _invalid(
                        ("components", str(i), "components"),
                        "BASE_TYPE_MAX_LENGTH",
                        "Must be 5 or fewer in length.",
                        f"more than 5 components in action row {i} in {where}",
                    )
        seen: set[str] = set()
        for comp in _walk_components(components):
            ctype = comp.get("type")
            custom_id = comp.get("custom_id")
            needs_id = ctype in (3, 4, 5, 6, 7, 8) or (
                ctype == 2 and comp.get("style") not in (5, 6)
            )
            if custom_id is None:
                if needs_id:
                    raise _invalid(
                        ("components",),
                        "BASE_TYPE_REQUIRED",
                        "This field is required",
                        f"component of type {ctype} without custom_id in {where}",
                    )
                continue
            if not isinstance(custom_id, str) or not 1 <= len(custom_id) <= 100:
                length = len(custom_id) if isinstance(custom_id, str) else 0
                raise _invalid(
                    ("components",),
                    "BASE_TYPE_BAD_LENGTH",
                    "Must be between 1 and 100 in length.",
                    f"custom_id length {length} not in 1..100 in {where}",
                )
            if custom_id in seen:
                raise _invalid(
                    ("components",),
                    "COMPONENT_CUSTOM_ID_DUPLICATED",
                    "Component custom id cannot be duplicated",
                    f"duplicate custom_id {custom_id!r} in {where}",
                )
            seen.add(custom_id)

    def _check_allowed_mentions(self, allowed: Any, where: str) -> None:
        if not isinstance(allowed, dict):
            return
        parse = allowed.get("parse") or []
        for kind in ("users", "roles"):
            if kind in parse and allowed.get(kind):
                raise _invalid(
                    ("allowed_mentions",),
                    "MESSAGE_ALLOWED_MENTIONS_PARSE_EXCLUSIVE",
                    f'parse:["{kind}"] and {kind}: [ids...] are mutually exclusive.',
                    f"allowed_mentions lists both parse {kind} and {kind} ids in {where}",
                )

    def _mentions(self, content: str, allowed: Any) -> tuple[bool, list[int]]:
        """Whether @everyone/@here would ping, and which users, under these allowed_mentions."""
        mentioned = list(dict.fromkeys(int(m) for m in _USER_MENTION.findall(content)))
        mass = bool(_MASS_MENTION.search(content))
        if not isinstance(allowed, dict):  # absent: Discord parses every mention
            return mass, mentioned
        parse = allowed.get("parse") or []
        listed = {str(u) for u in allowed.get("users") or []}
        users = [u for u in mentioned if "users" in parse or str(u) in listed]
        return mass and "everyone" in parse, users

    def _apply(
        self,
        msg: _Message,
        payload: Any,
        uploads: list[_Upload],
        *,
        creating: bool,
        where: str,
    ) -> None:
        """Validate a create/edit payload against Discord's rules, then apply it to msg.

        Raises _ApiError before touching msg when a rule is broken.
        """
        if payload is None:
            payload = {}
        if not isinstance(payload, dict):
            raise _invalid(
                (),
                "DICT_TYPE_CONVERT",
                "Only dictionaries may be used.",
                f"body not an object in {where}",
            )
        content = payload.get("content", msg.content if not creating else "")
        if content is None:
            content = ""
        if not isinstance(content, str):
            content = str(content)
        if "content" in payload and len(content) > MAX_CONTENT:
            raise _invalid(
                ("content",),
                "BASE_TYPE_MAX_LENGTH",
                f"Must be {MAX_CONTENT} or fewer in length.",
                f"content over {MAX_CONTENT} chars ({len(content)}) in {where}",
            )
        embeds = payload.get("embeds", msg.embeds) or []
        if "embeds" in payload:
            self._check_embeds(embeds, where)
        flags = msg.flags
        requested = _as_int(payload.get("flags")) or 0
        if creating:
            flags |= requested & (SUPPRESS_EMBEDS | SUPPRESS_NOTIFICATIONS | COMPONENTS_V2)
        elif "flags" in payload:
            flags = (flags & ~SUPPRESS_EMBEDS) | (requested & (SUPPRESS_EMBEDS | COMPONENTS_V2))
        v2 = bool(flags & COMPONENTS_V2)
        components = payload.get("components", msg.components) or []
        if "components" in payload:
            self._check_components(components, where, v2=v2)
        self._check_allowed_mentions(payload.get("allowed_mentions"), where)
        for upload in uploads:
            if len(upload.data) > self.upload_limit:
                raise _ApiError(
                    413,
                    40005,
                    "Request entity too large",
                    violation=(
                        f"file {upload.filename!r} is {len(upload.data)} bytes, over the upload "
                        f"limit of {self.upload_limit} in {where}"
                    ),
                )
        plan = self._attachment_plan(
            payload, uploads, None if creating and not msg.loading else msg, where
        )
        kept = msg.attachments if plan is None else plan
        if v2 and (content or embeds):
            raise _invalid(
                ("content",),
                "MESSAGE_CANNOT_USE_LEGACY_FIELDS_WITH_COMPONENTS_V2",
                "The 'content' and 'embeds' fields cannot be used with IS_COMPONENTS_V2",
                f"components v2 message with content or embeds in {where}",
            )
        if not (
            content
            or embeds
            or kept
            or components
            or payload.get("sticker_ids")
            or payload.get("poll")
        ):
            raise _ApiError(
                400, 50006, "Cannot send an empty message", violation=f"empty message in {where}"
            )

        # every rule passed: apply
        attachments = msg.attachments
        if plan is not None:
            attachments = [
                p
                if isinstance(p, _Attachment)
                else self._store_attachment(
                    p[1], p[0].data, _guess_content_type(p[1], p[0].data), description=p[2]
                )
                for p in plan
            ]
        self._check_embed_attachment_refs(embeds, [a.filename for a in attachments], where)
        content_changed = creating or "content" in payload
        msg.content = content
        msg.embeds = copy.deepcopy(embeds)
        msg.components = self._number_components(copy.deepcopy(components))
        msg.attachments = attachments
        msg.flags = flags & ~LOADING
        if "tts" in payload:
            msg.tts = bool(payload["tts"])
        if msg.loading:
            msg.loading = False
            msg.filled_at = time.time()
        elif not creating:
            msg.edited_at = time.time()
        if content_changed:
            everyone, users = self._mentions(content, payload.get("allowed_mentions"))
            msg.mentions_everyone, msg.mentioned_user_ids = everyone, users
            if everyone:
                self._violations.append(
                    f"mass mention: @everyone/@here would ping in message {msg.id} ({where})"
                )

    def _attachment_plan(
        self, payload: Json, uploads: list[_Upload], existing: _Message | None, where: str
    ) -> list[_Attachment | tuple[_Upload, str, str | None]] | None:
        """The message's attachments after this request, or None when they stay as they are."""
        entries = payload.get("attachments")
        plan: list[_Attachment | tuple[_Upload, str, str | None]] = []
        used: set[int] = set()
        if entries is None:
            if existing is not None and not uploads:
                return None
            if existing is not None:
                plan.extend(existing.attachments)
        else:
            if not isinstance(entries, list):
                raise _invalid(
                    ("attachments",),
                    "LIST_TYPE_CONVERT",
                    "Must be a list.",
                    f"attachments not a list in {where}",
                )
            current = {a.id: a for a in (existing.attachments if existing else [])}
            uploads_by_index = {u.index: u for u in uploads}
            for i, entry in enumerate(entries):
                aid = _as_int(entry.get("id")) if isinstance(entry, dict) else None
                if aid is not None and aid in current:
                    plan.append(current[aid])
                    continue
                upload = uploads_by_index.get(aid) if aid is not None else None
                if upload is None or aid in used:
                    raise _invalid(
                        ("attachments", str(i), "id"),
                        "ATTACHMENT_NOT_FOUND",
                        "Unknown attachment",
                        f"attachments[{i}] matches no attachment or uploaded file in {where}",
                    )
                used.add(upload.index)
                filename = str(entry.get("filename") or upload.filename)
                plan.append((upload, filename, entry.get("description")))
        plan.extend((u, u.filename, None) for u in uploads if u.index not in used)
        if len(plan) > MAX_ATTACHMENTS:
            raise _ApiError(
                400,
                30015,
                f"Maximum number of attachments in a message reached ({MAX_ATTACHMENTS})",
                violation=f"more than {MAX_ATTACHMENTS} attachments ({len(plan)}) in {where}",
            )
        return plan

    def _check_embed_attachment_refs(
        self, embeds: list[Json], filenames: list[str], where: str
    ) -> None:
        for embed in embeds:
            if not isinstance(embed, dict):
                continue
            for key in ("image", "thumbnail"):
                url = str((embed.get(key) or {}).get("url") or "")
                if not url.startswith("attachment://"):
                    continue
                name = url.removeprefix("attachment://")
                if name not in filenames:
                    self._violations.append(
                        f"embed {key} refers to {url} which is not attached ({where})"
                    )
                elif name.rsplit(".", 1)[-1].lower() not in EMBED_IMAGE_EXTENSIONS:
                    self._violations.append(
                        f"embed {key} {url} is not jpg/png/webp/gif, Discord hides it ({where})"
                    )

    @staticmethod
    def _number_components(components: list[Json]) -> list[Json]:
        # Discord gives every component a numeric id when the sender did not.
        taken = {c["id"] for c in _walk_components(components) if isinstance(c.get("id"), int)}
        next_id = 1
        for comp in _walk_components(components):
            if "id" not in comp:
                while next_id in taken:
                    next_id += 1
                comp["id"] = next_id
                taken.add(next_id)
        return components

    def _check_modal(self, data: Any, where: str) -> None:
        if not isinstance(data, dict):
            raise _invalid(
                ("data",),
                "DICT_TYPE_CONVERT",
                "Only dictionaries may be used.",
                f"modal without data in {where}",
            )
        custom_id = data.get("custom_id")
        if not isinstance(custom_id, str) or not 1 <= len(custom_id) <= 100:
            length = len(custom_id) if isinstance(custom_id, str) else 0
            raise _invalid(
                ("data", "custom_id"),
                "BASE_TYPE_BAD_LENGTH",
                "Must be between 1 and 100 in length.",
                f"custom_id length {length} not in 1..100 in {where}",
            )
        title = data.get("title")
        if not isinstance(title, str) or not 1 <= len(title) <= 45:
            raise _invalid(
                ("data", "title"),
                "BASE_TYPE_BAD_LENGTH",
                "Must be between 1 and 45 in length.",
                f"modal title not 1..45 chars in {where}",
            )
        components = data.get("components")
        if not isinstance(components, list) or not 1 <= len(components) <= 5:
            raise _invalid(
                ("data", "components"),
                "BASE_TYPE_BAD_LENGTH",
                "Must be between 1 and 5 in length.",
                f"modal needs 1..5 components in {where}",
            )
        self._check_components(components, where, v2=True)

    # -- REST handlers: identity, gateway, commands -----------------------------------------

    async def _h_me(self, request: web.Request) -> web.StreamResponse:
        self._auth(request)
        return _json_response(self._me_payload())

    async def _h_leave_guild(self, request: web.Request) -> web.StreamResponse:
        self._auth(request)
        guild_id = _as_int(request.match_info["guild_id"])
        if guild_id is None or guild_id not in self._member_of():
            raise _ApiError(404, 10004, "Unknown Guild")
        self._left_guilds.append(guild_id)
        sess = self._session_for(guild_id)
        await self._dispatch("GUILD_DELETE", {"id": str(guild_id)}, sess, guild_id)
        return web.Response(status=204)

    async def _h_user(self, request: web.Request) -> web.StreamResponse:
        self._auth(request)
        uid = _as_int(request.match_info["user_id"])
        if uid is None or uid not in self._usernames:
            raise _ApiError(404, 10013, "Unknown User")
        return _json_response(self._user_payload(uid))

    async def _h_member(self, request: web.Request) -> web.StreamResponse:
        self._auth(request)
        uid = _as_int(request.match_info["user_id"])
        if _as_int(request.match_info["guild_id"]) not in self.guild_ids:
            raise _ApiError(404, 10004, "Unknown Guild")
        if uid is None or uid not in self._user_roles:
            raise _ApiError(404, 10007, "Unknown Member")
        return _json_response(self._member_payload(uid))

    async def _h_application(self, request: web.Request) -> web.StreamResponse:
        self._auth(request)
        return _json_response(self._application_payload())

    async def _h_gateway_url(self, request: web.Request) -> web.StreamResponse:
        return _json_response({"url": self.gateway_url})

    async def _h_gateway_bot(self, request: web.Request) -> web.StreamResponse:
        self._auth(request)
        limit = {"total": 1000, "remaining": 999, "reset_after": 14_400_000, "max_concurrency": 1}
        return _json_response(
            {"url": self.gateway_url, "shards": self.shard_count, "session_start_limit": limit}
        )

    async def _h_commands(self, request: web.Request) -> web.StreamResponse:
        self._auth(request)
        if _as_int(request.match_info["application_id"]) != self.application_id:
            raise _ApiError(403, 50001, "Missing Access")
        scope: int | None = None
        if "guild_id" in request.match_info:
            scope = _as_int(request.match_info["guild_id"])
            if scope not in self.guild_ids:
                raise _ApiError(403, 50001, "Missing Access")
        body: _Body = request[_BODY]
        where = self._where(request)
        current = self._commands.get(scope, [])
        if request.method == "GET":
            return _json_response(copy.deepcopy(current))
        if request.method == "PUT":
            if not isinstance(body.json, list):
                raise _invalid(
                    (),
                    "LIST_TYPE_CONVERT",
                    "Must be a list.",
                    f"command list not a list in {where}",
                )
            self._check_command_set(body.json, where)
            stored = [self._store_command(c, scope, current) for c in body.json]
            self._commands[scope] = stored
            self._command_puts += 1
            return _json_response(copy.deepcopy(stored))
        if request.method == "POST":
            if not isinstance(body.json, dict):
                raise _invalid(
                    (),
                    "DICT_TYPE_CONVERT",
                    "Only dictionaries may be used.",
                    f"command not an object in {where}",
                )
            self._check_command(body.json, (), where)
            new = self._store_command(body.json, scope, current)
            updated = any(c["id"] == new["id"] for c in current)
            kept = [c for c in current if c["id"] != new["id"]]
            self._commands[scope] = [*kept, new]
            return _json_response(copy.deepcopy(new), 200 if updated else 201)
        raise _ApiError(405, 0, "405: Method Not Allowed")

    def _check_command_set(self, commands: list[Any], where: str) -> None:
        seen: set[tuple[int, str]] = set()
        counts: dict[int, int] = {}
        for i, cmd in enumerate(commands):
            if not isinstance(cmd, dict):
                raise _invalid(
                    (str(i),),
                    "DICT_TYPE_CONVERT",
                    "Only dictionaries may be used.",
                    f"command {i} not an object in {where}",
                )
            self._check_command(cmd, (str(i),), where)
            key = (int(cmd.get("type", 1)), str(cmd["name"]))
            if key in seen:
                raise _invalid(
                    (str(i), "name"),
                    "APPLICATION_COMMANDS_DUPLICATE_NAME",
                    f"Application command names must be unique ({key[1]})",
                    f"duplicate command name {key[1]!r} in {where}",
                )
            seen.add(key)
            counts[key[0]] = counts.get(key[0], 0) + 1
        for ctype, limit in ((1, 100), (2, 15), (3, 15)):
            if counts.get(ctype, 0) > limit:
                raise _ApiError(
                    400,
                    30032,
                    "Maximum number of application commands reached",
                    violation=f"more than {limit} commands of type {ctype} in {where}",
                )

    def _check_command(self, cmd: Json, path: tuple[str, ...], where: str) -> None:
        ctype = int(cmd.get("type", 1))
        name = cmd.get("name")
        description = cmd.get("description") or ""
        if ctype == 1:
            if not isinstance(name, str) or not _COMMAND_NAME.match(name) or name != name.lower():
                raise _invalid(
                    (*path, "name"),
                    "APPLICATION_COMMAND_INVALID_NAME",
                    "Command name is invalid",
                    f"invalid slash command name {name!r} in {where}",
                )
            if not 1 <= len(description) <= 100:
                raise _invalid(
                    (*path, "description"),
                    "BASE_TYPE_BAD_LENGTH",
                    "Must be between 1 and 100 in length.",
                    f"command {name!r} description not 1..100 chars in {where}",
                )
            self._check_localizations(cmd, path, where, menu=False)
            self._check_options(cmd.get("options") or [], (*path, "options"), where)
        else:
            self._check_localizations(cmd, path, where, menu=True)
            if not isinstance(name, str) or not 1 <= len(name) <= 32:
                raise _invalid(
                    (*path, "name"),
                    "BASE_TYPE_BAD_LENGTH",
                    "Must be between 1 and 32 in length.",
                    f"invalid context menu name {name!r} in {where}",
                )
            if description:
                raise _invalid(
                    (*path, "description"),
                    "APPLICATION_COMMAND_CONTEXT_MENU_DESCRIPTION",
                    "Context menu commands cannot have description",
                    f"context menu {name!r} has a description in {where}",
                )

    def _check_options(self, options: list[Json], path: tuple[str, ...], where: str) -> None:
        if len(options) > 25:
            raise _invalid(
                path,
                "BASE_TYPE_MAX_LENGTH",
                "Must be 25 or fewer in length.",
                f"more than 25 options in {where}",
            )
        optional_seen = False
        for i, opt in enumerate(options):
            here = (*path, str(i))
            name = opt.get("name")
            if not isinstance(name, str) or not _COMMAND_NAME.match(name) or name != name.lower():
                raise _invalid(
                    (*here, "name"),
                    "APPLICATION_COMMAND_INVALID_NAME",
                    "Command name is invalid",
                    f"invalid option name {name!r} in {where}",
                )
            if not 1 <= len(opt.get("description") or "") <= 100:
                raise _invalid(
                    (*here, "description"),
                    "BASE_TYPE_BAD_LENGTH",
                    "Must be between 1 and 100 in length.",
                    f"option {name!r} description not 1..100 chars in {where}",
                )
            self._check_localizations(opt, here, where, menu=False)
            if opt.get("type") in (1, 2):
                self._check_options(opt.get("options") or [], (*here, "options"), where)
                continue
            if opt.get("required"):
                if optional_seen:
                    raise _invalid(
                        here,
                        "APPLICATION_COMMAND_OPTIONS_REQUIRED_INVALID",
                        "Required options must be placed before non-required options",
                        f"required option {name!r} after an optional one in {where}",
                    )
            else:
                optional_seen = True
            for j, choice in enumerate(opt.get("choices") or []):
                self._check_localizations(choice, (*here, "choices", str(j)), where, menu=True)
            if len(opt.get("choices") or []) > 25:
                raise _invalid(
                    (*here, "choices"),
                    "BASE_TYPE_MAX_LENGTH",
                    "Must be 25 or fewer in length.",
                    f"option {name!r} has more than 25 choices in {where}",
                )

    def _check_localizations(
        self, item: Json, path: tuple[str, ...], where: str, *, menu: bool
    ) -> None:
        """Localized names follow the rule of the name they localize (slash and option names:
        lowercase, no spaces; context menus and choices: 1..32 / 1..100 characters), descriptions
        1..100 characters, and every key is a locale Discord knows."""
        for field_name in ("name_localizations", "description_localizations"):
            found = item.get(field_name)
            if found is None:
                continue
            if not isinstance(found, dict):
                raise _invalid(
                    (*path, field_name),
                    "DICT_TYPE_CONVERT",
                    "Only dictionaries may be used.",
                    f"{field_name} not an object in {where}",
                )
            for locale, text in found.items():
                here = (*path, field_name, str(locale))
                if locale not in DISCORD_LOCALES:
                    raise _invalid(
                        here,
                        "LOCALE_INVALID",
                        "Invalid locale",
                        f"unknown locale {locale!r} in {field_name} in {where}",
                    )
                if not isinstance(text, str):
                    raise _invalid(
                        here, "BASE_TYPE_REQUIRED", "This field is required", f"bad {here}"
                    )
                is_choice = "value" in item
                if field_name == "description_localizations" or is_choice:
                    limit = 100
                    ok = 1 <= len(text) <= limit
                elif menu:
                    ok = 1 <= len(text) <= 32
                else:
                    ok = bool(_COMMAND_NAME.match(text)) and text == text.lower()
                if not ok:
                    raise _invalid(
                        here,
                        "APPLICATION_COMMAND_INVALID_NAME"
                        if field_name == "name_localizations" and not is_choice
                        else "BASE_TYPE_BAD_LENGTH",
                        "Invalid localization",
                        f"invalid {locale} localization {text!r} in {where}",
                    )

    def _store_command(self, cmd: Json, scope: int | None, current: list[Json]) -> Json:
        ctype = int(cmd.get("type", 1))
        previous = next(
            (c for c in current if c["name"] == cmd["name"] and c.get("type", 1) == ctype), None
        )
        permissions = cmd.get("default_member_permissions")
        stored: Json = {
            "id": previous["id"] if previous else str(self._next_id()),
            "application_id": str(self.application_id),
            "version": str(self._next_id()),
            "default_member_permissions": None if permissions is None else str(permissions),
            "type": ctype,
            "name": cmd["name"],
            "name_localizations": cmd.get("name_localizations"),
            "description": cmd.get("description") or "",
            "description_localizations": cmd.get("description_localizations"),
            "contexts": cmd.get("contexts"),
            "integration_types": cmd.get("integration_types") or [0],
            "nsfw": bool(cmd.get("nsfw", False)),
        }
        if scope is not None:
            stored["guild_id"] = str(scope)
        else:
            stored["dm_permission"] = cmd.get("dm_permission", True)
        if cmd.get("options"):
            stored["options"] = copy.deepcopy(cmd["options"])
        return stored

    # -- REST handlers: interactions -------------------------------------------------------------

    async def _h_callback(self, request: web.Request) -> web.StreamResponse:
        body: _Body = request[_BODY]
        iid = _as_int(request.match_info["interaction_id"])
        it = self._interactions.get(iid) if iid is not None else None
        if it is None or it.token != request.match_info["token"]:
            raise _ApiError(404, 10062, "Unknown interaction")
        latency = request[_RECEIVED] - it.created_mono
        payload = body.json
        ctype = payload.get("type") if isinstance(payload, dict) else None
        try:
            response = self._answer_callback(request, it, payload, body.uploads, latency)
        except _ApiError as exc:
            it.callbacks.append((ctype if isinstance(ctype, int) else -1, exc.status, latency))
            raise
        assert isinstance(ctype, int)
        it.callbacks.append((ctype, 200, latency))
        if it.response_message_id is not None and ctype in (CB_MESSAGE, CB_DEFERRED_MESSAGE):
            await self._dispatch_message("MESSAGE_CREATE", self._messages[it.response_message_id])
        elif ctype == CB_UPDATE and it.source_message_id is not None:
            await self._dispatch_message("MESSAGE_UPDATE", self._messages[it.source_message_id])
        return response

    def _answer_callback(
        self,
        request: web.Request,
        it: _Interaction,
        payload: Any,
        uploads: list[_Upload],
        latency: float,
    ) -> web.StreamResponse:
        if it.callback_type is not None:
            raise _ApiError(
                400,
                40060,
                "Interaction has already been acknowledged.",
                violation=f"double ack for interaction {it.id}",
            )
        if it.dead or latency > self.ack_deadline_s:
            it.dead = True
            raise _ApiError(
                404,
                10062,
                "Unknown interaction",
                violation=(
                    f"late ack {latency:.1f}s for interaction {it.id} "
                    f"(deadline {self.ack_deadline_s:g}s)"
                ),
            )
        where = f"callback for interaction {it.id}"
        if not isinstance(payload, dict) or not isinstance(payload.get("type"), int):
            raise _invalid(
                ("type",),
                "BASE_TYPE_REQUIRED",
                "This field is required",
                f"callback without type in {where}",
            )
        ctype: int = payload["type"]
        data = payload.get("data")
        allowed = {
            APPLICATION_COMMAND: {CB_MESSAGE, CB_DEFERRED_MESSAGE, CB_MODAL},
            MESSAGE_COMPONENT: {
                CB_MESSAGE,
                CB_DEFERRED_MESSAGE,
                CB_DEFERRED_UPDATE,
                CB_UPDATE,
                CB_MODAL,
            },
            AUTOCOMPLETE: {CB_AUTOCOMPLETE},
            MODAL_SUBMIT: {CB_MESSAGE, CB_DEFERRED_MESSAGE}
            | ({CB_DEFERRED_UPDATE, CB_UPDATE} if it.source_message_id is not None else set()),
        }
        if ctype not in allowed.get(it.type, set()):
            raise _invalid(
                ("type",),
                "INTERACTION_RESPONSE_TYPE_INVALID",
                "Invalid interaction response type",
                f"callback type {ctype} not valid for interaction type {it.type} ({where})",
            )
        where = f"callback type {ctype} for interaction {it.id}"
        resource: Json = {"type": ctype}
        info: Json = {"id": str(it.id), "type": it.type}
        if ctype == CB_MESSAGE:
            flags = (_as_int((data or {}).get("flags")) or 0) if isinstance(data, dict) else 0
            msg = self._interaction_message(it, ephemeral=bool(flags & EPHEMERAL))
            self._apply(msg, data, uploads, creating=True, where=where)
            self._messages[msg.id] = msg
            it.response_message_id = msg.id
        elif ctype == CB_DEFERRED_MESSAGE:
            flags = (_as_int((data or {}).get("flags")) or 0) if isinstance(data, dict) else 0
            msg = self._interaction_message(it, ephemeral=bool(flags & EPHEMERAL))
            msg.loading, msg.flags = True, msg.flags | LOADING
            self._messages[msg.id] = msg
            it.response_message_id = msg.id
        elif ctype == CB_UPDATE:
            source = self._messages.get(it.source_message_id or 0)
            if source is None or source.deleted:
                raise _ApiError(404, 10008, "Unknown Message")
            self._apply(source, data, uploads, creating=False, where=where)
        elif ctype == CB_MODAL:
            self._check_modal(data, where)
            it.modal = copy.deepcopy(data)
        it.callback_type = ctype
        it.ack_latency = latency
        target = it.response_message_id
        if ctype in (CB_DEFERRED_UPDATE, CB_UPDATE):
            target = it.source_message_id
        if target is not None and ctype != CB_MODAL:
            msg = self._messages[target]
            info["response_message_id"] = str(target)
            info["response_message_loading"] = msg.loading
            info["response_message_ephemeral"] = msg.ephemeral
            resource["message"] = self._message_payload(msg)
        if request.query.get("with_response") not in ("1", "true", "True"):
            return web.Response(status=204)
        return _json_response({"interaction": info, "resource": resource})

    def _interaction_message(self, it: _Interaction, *, ephemeral: bool) -> _Message:
        mtype = {1: 20, 2: 23, 3: 23}.get(it.command_type or 0, 0)
        user = self._user_payload(it.user_id)
        metadata: Json = {
            "id": str(it.id),
            "type": it.type,
            "user": user,
            "authorizing_integration_owners": {"0": str(self._channel_guild[it.channel_id])},
        }
        if it.type == APPLICATION_COMMAND:
            metadata["name"] = it.name
            metadata["command_type"] = it.command_type
        if it.source_message_id is not None:
            metadata["interacted_message_id"] = str(it.source_message_id)
        if it.callback_type is not None and it.response_message_id is not None:
            metadata["original_response_message_id"] = str(it.response_message_id)
        return _Message(
            id=self._next_id(),
            channel_id=it.channel_id,
            author_id=self.bot_user_id,
            type=mtype,
            flags=EPHEMERAL if ephemeral else 0,
            webhook_id=self.application_id,
            application_id=self.application_id,
            interaction_id=it.id,
            interaction_metadata=metadata,
            interaction_legacy={"id": str(it.id), "type": it.type, "name": it.name, "user": user},
            visible_to=it.user_id if ephemeral else None,
        )

    def _webhook_interaction(self, request: web.Request) -> _Interaction:
        if _as_int(request.match_info["application_id"]) != self.application_id:
            raise _ApiError(404, 10015, "Unknown Webhook")
        token = request.match_info["token"]
        iid = self._tokens.get(token)
        if iid is None:
            raise _ApiError(401, 50027, "Invalid Webhook Token")
        it = self._interactions[iid]
        age = request[_RECEIVED] - it.created_mono
        if it.expired or age > self.token_lifetime_s:
            it.expired = True
            raise _ApiError(
                401,
                50027,
                "Invalid Webhook Token",
                violation=(
                    f"expired token used for interaction {it.id} "
                    f"({self._where(request)}, {age:.1f}s old)"
                ),
            )
        if it.callback_type is None:
            violation = None
            if not it.dead:
                violation = (
                    f"webhook call before acknowledging interaction {it.id} "
                    f"({self._where(request)})"
                )
            raise _ApiError(404, 10015, "Unknown Webhook", violation=violation)
        return it

    def _webhook_target(self, it: _Interaction, ref: str) -> _Message:
        mid: int | None
        if ref == "@original":
            mid = self._original_id(it)
        else:
            mid = _as_int(ref)
            own = {it.response_message_id, *it.followup_ids}
            if it.callback_type in (CB_DEFERRED_UPDATE, CB_UPDATE):
                own.add(it.source_message_id)
            if mid not in own:
                mid = None
        msg = self._messages.get(mid) if mid is not None else None
        if msg is None or msg.deleted:
            raise _ApiError(404, 10008, "Unknown Message")
        return msg

    @staticmethod
    def _original_id(it: _Interaction) -> int | None:
        if it.callback_type in (CB_MESSAGE, CB_DEFERRED_MESSAGE):
            return it.response_message_id
        if it.callback_type in (CB_DEFERRED_UPDATE, CB_UPDATE):
            return it.source_message_id
        return None

    async def _h_followup(self, request: web.Request) -> web.StreamResponse:
        it = self._webhook_interaction(request)
        self._limit_webhook(request, it, mutates=True)
        body: _Body = request[_BODY]
        where = self._where(request, f" (interaction {it.id})")
        pending = self._messages.get(it.response_message_id or 0)
        if pending is not None and pending.loading and not pending.deleted:
            # The first followup after a deferral fills the "is thinking..." message.
            self._apply(pending, body.json, body.uploads, creating=True, where=where)
            msg = pending
            event = "MESSAGE_UPDATE"
        else:
            flags = _as_int((body.json or {}).get("flags")) if isinstance(body.json, dict) else None
            msg = self._interaction_message(it, ephemeral=bool((flags or 0) & EPHEMERAL))
            self._apply(msg, body.json, body.uploads, creating=True, where=where)
            self._messages[msg.id] = msg
            it.followup_ids.append(msg.id)
            event = "MESSAGE_CREATE"
        await self._dispatch_message(event, msg)
        if request.query.get("wait") in ("1", "true", "True"):
            return _json_response(self._message_payload(msg))
        return web.Response(status=204)

    async def _h_webhook_message(self, request: web.Request) -> web.StreamResponse:
        if request.method not in ("GET", "PATCH", "DELETE"):
            raise _ApiError(405, 0, "405: Method Not Allowed")
        it = self._webhook_interaction(request)
        self._limit_webhook(request, it, mutates=request.method != "GET")
        msg = self._webhook_target(it, request.match_info.get("message_id", "@original"))
        if request.method == "GET":
            return _json_response(self._message_payload(msg))
        if request.method == "DELETE":
            msg.deleted = True
            await self._dispatch_message("MESSAGE_DELETE", msg)
            return web.Response(status=204)
        body: _Body = request[_BODY]
        where = self._where(request, f" (interaction {it.id})")
        self._apply(msg, body.json, body.uploads, creating=False, where=where)
        await self._dispatch_message("MESSAGE_UPDATE", msg)
        return _json_response(self._message_payload(msg))

    # -- REST handlers: channels and files --------------------------------------------------------

    def _channel_of(self, request: web.Request) -> int:
        self._auth(request)
        cid = _as_int(request.match_info["channel_id"])
        if cid is None or cid not in self._channels:
            raise _ApiError(404, 10003, "Unknown Channel")
        return cid

    async def _h_channel(self, request: web.Request) -> web.StreamResponse:
        cid = self._channel_of(request)
        return _json_response(self._channel_payload(cid))

    async def _h_typing(self, request: web.Request) -> web.StreamResponse:
        self._channel_of(request)
        return web.Response(status=204)

    async def _h_channel_messages(self, request: web.Request) -> web.StreamResponse:
        cid = self._channel_of(request)
        if request.method == "GET":
            limit = max(1, min(100, _as_int(request.query.get("limit")) or 50))
            before = _as_int(request.query.get("before"))
            after = _as_int(request.query.get("after"))
            found = [
                m
                for m in self._messages.values()
                if m.channel_id == cid
                and not m.deleted
                and not m.ephemeral
                and (before is None or m.id < before)
                and (after is None or m.id > after)
            ]
            found.sort(key=lambda m: m.id, reverse=True)
            return _json_response([self._message_payload(m) for m in found[:limit]])
        if request.method != "POST":
            raise _ApiError(405, 0, "405: Method Not Allowed")
        self._limit_channel(request, cid)
        body: _Body = request[_BODY]
        reference = body.json.get("message_reference") if isinstance(body.json, dict) else None
        msg = _Message(
            id=self._next_id(),
            channel_id=cid,
            author_id=self.bot_user_id,
            type=19 if reference else 0,
            message_reference=reference if isinstance(reference, dict) else None,
        )
        self._apply(msg, body.json, body.uploads, creating=True, where=self._where(request))
        self._messages[msg.id] = msg
        await self._dispatch_message("MESSAGE_CREATE", msg)
        return _json_response(self._message_payload(msg))

    async def _h_channel_message(self, request: web.Request) -> web.StreamResponse:
        cid = self._channel_of(request)
        msg = self._messages.get(_as_int(request.match_info["message_id"]) or 0)
        if msg is None or msg.channel_id != cid or msg.deleted or msg.ephemeral:
            raise _ApiError(404, 10008, "Unknown Message")
        if request.method == "GET":
            return _json_response(self._message_payload(msg))
        if request.method == "PATCH":
            if msg.author_id != self.bot_user_id:
                raise _ApiError(
                    403,
                    50005,
                    "Cannot edit a message authored by another user",
                    violation=f"tried to edit someone else's message {msg.id}",
                )
            self._limit_channel(request, cid)
            body: _Body = request[_BODY]
            self._apply(msg, body.json, body.uploads, creating=False, where=self._where(request))
            await self._dispatch_message("MESSAGE_UPDATE", msg)
            return _json_response(self._message_payload(msg))
        if request.method == "DELETE":
            if (
                msg.author_id != self.bot_user_id
                and not self._permissions(self.bot_user_id) & MANAGE_MESSAGES
            ):
                raise _ApiError(
                    403,
                    50013,
                    "Missing Permissions",
                    violation=f"tried to delete message {msg.id} without Manage Messages",
                )
            self._limit_channel(request, cid)
            msg.deleted = True
            await self._dispatch_message("MESSAGE_DELETE", msg)
            return web.Response(status=204)
        raise _ApiError(405, 0, "405: Method Not Allowed")

    async def _h_attachment(self, request: web.Request) -> web.StreamResponse:
        att = self._attachments.get(_as_int(request.match_info["attachment_id"]) or 0)
        if att is None or att.filename != request.match_info["filename"]:
            return web.Response(status=404, text="Not Found")
        expires = request.query.get("ex")
        if expires is not None and int(expires, 16) < time.time():
            return web.Response(status=404, text="This content is no longer available.")
        response = web.Response(body=att.data)
        response.headers["Content-Type"] = att.content_type or "application/octet-stream"
        return response
