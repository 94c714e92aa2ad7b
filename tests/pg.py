"""The PostgreSQL server the tests use: found, started if it is down, or reported missing.

The machines (developers' and CI's) have PostgreSQL 15 on 127.0.0.1:5432 with trust
authentication and a database `test`; `WANBOT_TEST_PG_DSN` points elsewhere. When the server is
down and installed here (Debian's `pg_ctlcluster`), it is started; when it is not installed,
PostgreSQL tests are skipped with the reason, so a machine without it still passes.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import threading
import time
import uuid
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

import asyncpg

DEFAULT_DSN = "postgresql://postgres@127.0.0.1:5432/test"
CLUSTERS = Path("/etc/postgresql")
T = TypeVar("T")
START_TIMEOUT_S = 30.0


class NotInstalled(Exception):
    """No PostgreSQL server answers and none is installed here to start."""


class DidNotStart(Exception):
    """PostgreSQL is installed here but did not come up."""


def run(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to its end from synchronous code, even when this thread already runs an
    event loop (a fixture asked for from inside an async one): in a thread of its own."""
    result: list[T] = []
    failure: list[BaseException] = []

    def target() -> None:
        try:
            result.append(asyncio.run(coro))
        except BaseException as e:
            failure.append(e)

    thread = threading.Thread(target=target, name="pg-setup")
    thread.start()
    thread.join()
    if failure:
        raise failure[0]
    return result[0]


def server_dsn() -> str:
    return os.environ.get("WANBOT_TEST_PG_DSN") or DEFAULT_DSN


def with_database(dsn: str, database: str) -> str:
    parts = urlsplit(dsn)
    return urlunsplit(parts._replace(path=f"/{database}"))


def with_setting(dsn: str, name: str, value: str) -> str:
    """The DSN with a server setting (asyncpg passes unknown query parameters to the server)."""
    parts = urlsplit(dsn)
    query = f"{parts.query}&{name}={value}" if parts.query else f"{name}={value}"
    return urlunsplit(parts._replace(query=query))


async def _ready(dsn: str) -> str | None:
    """None when the server accepts a query; else why not."""
    try:
        conn = await asyncpg.connect(dsn, timeout=5)
    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError) as e:
        return f"{type(e).__name__}: {e}"
    try:
        await conn.fetchval("SELECT 1")
    finally:
        await conn.close()
    return None


def _start_cluster() -> None:
    """Start the local cluster (as root: Debian's wrapper, bypassing systemd)."""
    versions = sorted(p.name for p in CLUSTERS.iterdir()) if CLUSTERS.is_dir() else []
    if not versions or shutil.which("pg_ctlcluster") is None:
        raise NotInstalled(
            "PostgreSQL is not installed here (no cluster in /etc/postgresql, no pg_ctlcluster)"
        )
    command = ["pg_ctlcluster", "--skip-systemctl-redirect", versions[-1], "main", "start"]
    # Its exit status is not the verdict (another run may have started it meanwhile): the
    # readiness check that follows is.
    subprocess.run(command, capture_output=True, timeout=60, check=False)


def ensure_server() -> str:
    """The server DSN, once the server answers; start it first if it is down. NotInstalled or
    DidNotStart if neither works."""
    dsn = server_dsn()
    why = run(_ready(dsn))
    if why is None:
        return dsn
    _start_cluster()
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        why = run(_ready(dsn))
        if why is None:
            return dsn
        time.sleep(0.5)
    raise DidNotStart(f"PostgreSQL did not come up within {START_TIMEOUT_S:.0f} s ({why})")


async def create_database(dsn: str, prefix: str = "wanbot_test") -> str:
    """A new, empty database on the server (from template0); its DSN."""
    name = f"{prefix}_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(f'CREATE DATABASE "{name}" TEMPLATE template0')
    finally:
        await conn.close()
    return with_database(dsn, name)


async def drop_database(dsn: str, database_dsn: str) -> None:
    name = urlsplit(database_dsn).path.lstrip("/")
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()
