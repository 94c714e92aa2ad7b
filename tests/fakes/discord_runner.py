"""FakeDiscord in a process of its own, driven over a pipe.

In the bot's process the fake competes with the bot for the GIL, so the acknowledgement latency it
measures is partly its own. Here the fake runs in a child process (spawned: no inherited threads or
loops); the parent gets a `RemoteDiscord` with the addresses the bot needs and async methods for
what a benchmark does: send interactions, read their callbacks (latencies timed by the fake), the
messages the bot made, the requests it served and the 429s.

    remote = RemoteDiscord(members=50, channel_rate=(5, 5.0))
    remote.start()
    handles = await remote.slash_many([("imagine", {"prompt": "a cat"}, "member0"), ...])
    acks = await remote.callbacks([h.id for h in handles])
    remote.stop()
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import multiprocessing.connection
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from tests.fakes.discord_server import FakeDiscord, FakeMessage, RecordedRequest

START_TIMEOUT_S = 20.0
Command = tuple[str, tuple[Any, ...]]
# (command, options, member key) or, into a given channel (a server's "general"), with its id.
SlashCall = tuple[str, dict[str, Any], str] | tuple[str, dict[str, Any], str, int]


class DiscordEndpoint(Protocol):
    """What a bot's configuration needs from a fake Discord, in-process or not."""

    @property
    def api_base_url(self) -> str: ...

    @property
    def gateway_url(self) -> str: ...

    @property
    def token(self) -> str: ...


@dataclass(frozen=True)
class RemoteHandle:
    id: int
    token: str


@dataclass(frozen=True)
class Info:
    api_base_url: str
    gateway_url: str
    token: str
    guild_id: int
    channel_id: int
    users: dict[str, int]
    shard_count: int = 1
    guild_channels: dict[int, int] = field(default_factory=dict)  # server id -> its "general"


# -- the child --------------------------------------------------------------------------------


async def _serve(conn: multiprocessing.connection.Connection, fake: FakeDiscord) -> None:
    loop = asyncio.get_running_loop()
    while True:
        try:
            op, args = await loop.run_in_executor(None, conn.recv)
        except EOFError:
            return
        try:
            result = await _handle(fake, op, args)
        except Exception as exc:
            conn.send(("error", f"{type(exc).__name__}: {exc}"))
            continue
        conn.send(("ok", result))
        if op == "stop":
            return


async def _handle(fake: FakeDiscord, op: str, args: tuple[Any, ...]) -> Any:
    if op == "info":
        return Info(
            fake.api_base_url,
            fake.gateway_url,
            fake.token,
            fake.guild_id,
            fake.channel_id,
            {k: u.id for k, u in fake.users.items()},
            fake.shard_count,
            dict(fake.guild_channels),
        )
    if op == "slash_many":
        (calls,) = args
        handles = await fake.slash_many(
            [(call[0], call[1], call[2], call[3] if call[3:] else None) for call in calls]
        )
        return [RemoteHandle(h.id, h.token) for h in handles]
    if op == "callbacks":
        (ids,) = args
        return [fake.interaction(i).callbacks for i in ids]
    if op == "messages":
        (ids,) = args
        return [_light(fake.message(i)) for i in ids]
    if op == "requests":
        (since,) = args
        return fake.requests[since:]
    if op == "identify_count":
        return fake.identify_count
    if op == "command_names":
        return sorted(str(c["name"]) for c in fake.registered_commands.get(None, []))
    if op == "shard_sessions":
        return {shard: len(record.sessions) for shard, record in fake.shards.items()}
    if op == "count_429":
        return fake.count_429
    if op == "request_count":
        return len(fake.requests)
    if op == "violations":
        return fake.violations
    if op == "clear_violations":
        fake.clear_violations()
        return None
    if op == "stop":
        return None
    raise ValueError(f"unknown operation {op!r}")


def _light(message: FakeMessage) -> FakeMessage:
    """The message without the uploaded bytes (sizes kept): pipes need not carry images."""
    return replace(message, attachments=[a._replace(data=b"") for a in message.attachments])


def child_main(
    conn: multiprocessing.connection.Connection, members: int, fake_kwargs: dict[str, Any]
) -> None:
    fake = FakeDiscord(**fake_kwargs)
    for i in range(members):
        fake.add_member(f"member{i}")
    fake.start()
    conn.send(("ready", None))
    try:
        asyncio.run(_serve(conn, fake))
    finally:
        fake.stop()
        conn.close()


# -- the parent -------------------------------------------------------------------------------


class RemoteDiscord:
    """The parent's side: addresses for the bot's config, async calls for the benchmark."""

    def __init__(self, *, members: int = 0, **fake_kwargs: Any) -> None:
        self._members = members
        self._fake_kwargs = fake_kwargs
        self._conn: multiprocessing.connection.Connection | None = None
        self._process: multiprocessing.process.BaseProcess | None = None
        self._info: Info | None = None
        self._lock = asyncio.Lock()

    def start(self) -> None:
        context = multiprocessing.get_context("spawn")
        parent, child = context.Pipe()
        self._process = context.Process(
            target=child_main,
            args=(child, self._members, self._fake_kwargs),
            name="FakeDiscord",
            daemon=True,
        )
        self._process.start()
        child.close()
        self._conn = parent
        if not parent.poll(START_TIMEOUT_S):
            self.stop()
            raise RuntimeError("the fake Discord process did not start")
        parent.recv()  # ("ready", None)
        info = self._roundtrip(("info", ()))
        assert isinstance(info, Info)
        self._info = info

    def stop(self) -> None:
        conn, process = self._conn, self._process
        self._conn = self._process = None
        if conn is not None:
            with contextlib.suppress(OSError, EOFError, RuntimeError):
                self._send(conn, ("stop", ()))
            conn.close()
        if process is not None:
            process.join(10)
            if process.is_alive():
                process.kill()
                process.join(5)

    def __enter__(self) -> RemoteDiscord:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @staticmethod
    def _send(conn: multiprocessing.connection.Connection, command: Command) -> Any:
        conn.send(command)
        status, value = conn.recv()
        if status != "ok":
            raise RuntimeError(f"fake Discord: {value}")
        return value

    def _roundtrip(self, command: Command) -> Any:
        if self._conn is None:
            raise RuntimeError("RemoteDiscord is not started")
        return self._send(self._conn, command)

    async def _call(self, op: str, *args: Any) -> Any:
        # One exchange at a time on the pipe, and never a blocking read on the bot's loop.
        async with self._lock:
            return await asyncio.to_thread(self._roundtrip, (op, args))

    @property
    def info(self) -> Info:
        if self._info is None:
            raise RuntimeError("RemoteDiscord is not started")
        return self._info

    @property
    def api_base_url(self) -> str:
        return self.info.api_base_url

    @property
    def gateway_url(self) -> str:
        return self.info.gateway_url

    @property
    def token(self) -> str:
        return self.info.token

    @property
    def channel_id(self) -> int:
        return self.info.channel_id

    async def slash_many(self, calls: Sequence[SlashCall]) -> list[RemoteHandle]:
        """Send every (command, options, member key[, channel id]) at once; the handles in the
        same order."""
        handles: list[RemoteHandle] = await self._call("slash_many", list(calls))
        return handles

    async def slash(self, name: str, options: dict[str, Any], user: str = "alice") -> RemoteHandle:
        (handle,) = await self.slash_many([(name, options, user)])
        return handle

    async def callbacks(self, ids: Sequence[int]) -> list[list[tuple[int, int, float]]]:
        """Per interaction: every callback (type, HTTP status, seconds after creation)."""
        found: list[list[tuple[int, int, float]]] = await self._call("callbacks", list(ids))
        return found

    async def messages(self, ids: Sequence[int]) -> list[FakeMessage]:
        found: list[FakeMessage] = await self._call("messages", list(ids))
        return found

    async def requests(self, since: int = 0) -> list[RecordedRequest]:
        found: list[RecordedRequest] = await self._call("requests", since)
        return found

    async def request_count(self) -> int:
        count: int = await self._call("request_count")
        return count

    async def identify_count(self) -> int:
        count: int = await self._call("identify_count")
        return count

    async def command_names(self) -> list[str]:
        """The global commands registered so far."""
        names: list[str] = await self._call("command_names")
        return names

    async def shard_sessions(self) -> dict[int, int]:
        """Per shard, how many sessions identified on it."""
        found: dict[int, int] = await self._call("shard_sessions")
        return found

    async def count_429(self) -> int:
        count: int = await self._call("count_429")
        return count

    async def violations(self) -> list[str]:
        found: list[str] = await self._call("violations")
        return found

    async def clear_violations(self) -> None:
        await self._call("clear_violations")
