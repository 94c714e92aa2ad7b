"""One process per SQLite file: a second opener fails at once with StoreInUse, by an OS lock that a
crash cannot leave behind."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from wanbot.store import SQLiteStore, StoreInUse
from wanbot.store.sqlite_database import hold_file_lock

HOLDER = """
import asyncio, sys
from wanbot.store import SQLiteStore, StoreInUse

async def main() -> int:
    try:
        store = await SQLiteStore.open(sys.argv[1])
    except StoreInUse as e:
        print("in use:", e, flush=True)
        return 1
    print("ready", flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    await store.close()
    print("closed", flush=True)
    return 0

sys.exit(asyncio.run(main()))
"""


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "data" / "wanbot.db"


async def start_holder(path: Path) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        HOLDER,
        str(path),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        cwd=Path(__file__).parents[2],
    )


async def line(proc: asyncio.subprocess.Process) -> str:
    assert proc.stdout is not None
    return (await asyncio.wait_for(proc.stdout.readline(), 30)).decode().strip()


@pytest.fixture
async def holder(db_path: Path) -> AsyncIterator[asyncio.subprocess.Process]:
    proc = await start_holder(db_path)
    try:
        assert await line(proc) == "ready"
        yield proc
    finally:
        if proc.returncode is None:
            proc.kill()
        await proc.wait()


async def test_second_process_refused_while_first_holds_then_opens_after_close(
    db_path: Path, holder: asyncio.subprocess.Process
) -> None:
    with pytest.raises(StoreInUse, match=rf"in use by another wanbot process \(pid {holder.pid}\)"):
        await SQLiteStore.open(db_path)
    assert holder.stdin is not None
    holder.stdin.write(b"\n")
    await holder.stdin.drain()
    assert await line(holder) == "closed"
    assert await holder.wait() == 0
    store = await SQLiteStore.open(db_path)
    await store.set_meta("k", "v")
    await store.close()


async def test_a_killed_holder_leaves_no_lock_behind(
    db_path: Path, holder: asyncio.subprocess.Process
) -> None:
    with pytest.raises(StoreInUse):
        await SQLiteStore.open(db_path)
    holder.send_signal(signal.SIGKILL)
    assert await holder.wait() == -signal.SIGKILL
    assert (db_path.parent / "wanbot.db.lock").exists()  # the file stays; the lock does not
    store = await SQLiteStore.open(db_path)
    try:
        await store.set_meta("after", "kill")
    finally:
        await store.close()


async def test_other_process_refused_while_this_one_holds(db_path: Path) -> None:
    store = await SQLiteStore.open(db_path)
    try:
        proc = await start_holder(db_path)
        assert await line(proc) == f"in use: {db_path} is in use by another wanbot process " + (
            f"(pid {os.getpid()}); one process per SQLite file (use PostgreSQL for several)"
        )
        assert await proc.wait() == 1
        # The refused opener touched nothing: this store goes on working.
        await store.set_meta("still", "mine")
        assert await store.get_meta("still") == "mine"
    finally:
        await store.close()


async def test_second_open_in_the_same_process_refused_and_failed_open_releases(
    db_path: Path,
) -> None:
    first = await SQLiteStore.open(db_path)
    with pytest.raises(StoreInUse):
        await SQLiteStore.open(db_path)
    await first.close()
    again = await SQLiteStore.open(db_path)
    await again.close()

    broken = db_path.with_name("broken.db")
    with sqlite3.connect(broken) as raw:
        raw.execute("CREATE TABLE meta (x)")  # clashes with migration 0001
    with pytest.raises(sqlite3.OperationalError):
        await SQLiteStore.open(broken)
    os.close(hold_file_lock(broken))  # the failed open let its lock go
