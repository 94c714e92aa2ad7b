"""The Store on one SQLite file (aiosqlite, WAL), one transaction per operation."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import sqlite3
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from importlib import resources
from pathlib import Path
from typing import Any

import aiosqlite

from wanbot.errors import InsufficientCredits, QueueFull, SpendCapReached
from wanbot.providers.models import GenerationRequest
from wanbot.store.base import (
    Activity,
    BlockEntry,
    Budget,
    GuildSettings,
    GuildStats,
    Job,
    JobPhase,
    LedgerEntry,
    MemberBan,
    MemberSpend,
    NewJob,
    PeriodStats,
    Settlement,
    SpendCaps,
)

log = logging.getLogger(__name__)

ACTIVE_PHASES = (JobPhase.QUEUED, JobPhase.SUBMITTING, JobPhase.RUNNING, JobPhase.DELIVERING)


class JobStateError(Exception):
    """A transition asked of a job that is not in a state that allows it."""


def migrations() -> list[tuple[int, str]]:
    """(version, sql) for every numbered migration file, in order."""
    found = []
    for entry in resources.files("wanbot.store").joinpath("migrations").iterdir():
        name = entry.name
        if name.endswith(".sql") and name[:4].isdigit():
            found.append((int(name[:4]), entry.read_text(encoding="utf-8")))
    return sorted(found)


class SQLiteStore:
    def __init__(self, conn: aiosqlite.Connection, clock: Callable[[], float] = time.time) -> None:
        self._conn = conn
        self._clock = clock
        # One connection serves every coroutine; transactions on it must not interleave.
        self._write_lock = asyncio.Lock()

    @classmethod
    async def open(
        cls, path: Path | str, *, clock: Callable[[], float] = time.time, busy_timeout_s: float = 10
    ) -> SQLiteStore:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        conn = await aiosqlite.connect(path, timeout=busy_timeout_s, isolation_level=None)
        try:
            conn.row_factory = sqlite3.Row
            await conn.execute("PRAGMA journal_mode=WAL")
            await conn.execute("PRAGMA synchronous=NORMAL")
            await conn.execute("PRAGMA foreign_keys=ON")
            await conn.execute(f"PRAGMA busy_timeout={int(busy_timeout_s * 1000)}")
            store = cls(conn, clock)
            await store.migrate()
        except BaseException:
            await conn.close()  # its worker thread would otherwise keep the process alive
            raise
        return store

    async def close(self) -> None:
        await self._conn.close()

    @contextlib.asynccontextmanager
    async def _tx(self) -> AsyncIterator[aiosqlite.Connection]:
        # IMMEDIATE takes the write lock up front, so a read-then-write (a balance check, then a
        # hold) cannot interleave with another writer.
        async with self._write_lock:
            await self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                await self._conn.execute("ROLLBACK")
                raise
            else:
                await self._conn.execute("COMMIT")

    async def _changed(self, sql: str, params: Sequence[Any]) -> int:
        """Run one write statement in its own transaction; return how many rows it changed."""
        async with self._tx() as db:
            cur = await db.execute(sql, params)
            return cur.rowcount

    async def migrate(self) -> None:
        await self._conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations "
            "(version INTEGER PRIMARY KEY, applied_at DOUBLE PRECISION NOT NULL)"
        )
        async with self._conn.execute("SELECT version FROM schema_migrations") as cur:
            done = {row[0] for row in await cur.fetchall()}
        for version, sql in migrations():
            if version in done:
                continue
            async with self._tx() as db:
                for statement in _statements(sql):
                    await db.execute(statement)
                await db.execute(
                    "INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)",
                    (version, self._clock()),
                )
            log.info("applied migration %04d", version)

    # -- meta ------------------------------------------------------------------------------
    async def get_meta(self, key: str) -> str | None:
        async with self._conn.execute("SELECT value FROM meta WHERE key = ?", (key,)) as cur:
            row = await cur.fetchone()
        return None if row is None else str(row[0])

    async def set_meta(self, key: str, value: str) -> None:
        async with self._tx() as db:
            await db.execute(
                "INSERT INTO meta (key, value) VALUES (?, ?) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (key, value),
            )

    # -- credits ---------------------------------------------------------------------------
    async def _available(self, db: aiosqlite.Connection, guild_id: int, user_id: int) -> int:
        async with db.execute(
            "SELECT COALESCE(SUM(available), 0) FROM ledger WHERE guild_id = ? AND user_id = ?",
            (guild_id, user_id),
        ) as cur:
            row = await cur.fetchone()
        assert row is not None
        return int(row[0])

    async def _refill(
        self, db: aiosqlite.Connection, guild_id: int, user_id: int, budget: Budget | None
    ) -> int:
        """Top the balance up to the allowance once per period; return the balance after."""
        balance = await self._available(db, guild_id, user_id)
        if budget is None or budget.period_key is None:
            return balance
        async with db.execute(
            "SELECT 1 FROM ledger WHERE guild_id = ? AND user_id = ? AND kind = 'refill' "
            "AND period_key = ?",
            (guild_id, user_id, budget.period_key),
        ) as cur:
            if await cur.fetchone() is not None:
                return balance
        top_up = max(0, budget.allowance - balance)
        await db.execute(
            "INSERT INTO ledger (guild_id, user_id, kind, available, held, period_key, created_at)"
            " VALUES (?, ?, 'refill', ?, 0, ?, ?)",
            (guild_id, user_id, top_up, budget.period_key, self._clock()),
        )
        return balance + top_up

    async def balance(self, guild_id: int, user_id: int, budget: Budget | None = None) -> int:
        if budget is None:
            return await self._available(self._conn, guild_id, user_id)
        async with self._tx() as db:
            return await self._refill(db, guild_id, user_id, budget)

    async def grant(
        self, guild_id: int, user_id: int, amount: int, actor_id: int | None, reason: str | None
    ) -> int:
        kind = "grant" if amount >= 0 else "revoke"
        async with self._tx() as db:
            balance = await self._available(db, guild_id, user_id)
            # A revoke never takes the balance below zero.
            effective = amount if amount >= 0 else -min(-amount, balance)
            await db.execute(
                "INSERT INTO ledger (guild_id, user_id, kind, available, held, actor_id, reason,"
                " created_at) VALUES (?, ?, ?, ?, 0, ?, ?, ?)",
                (guild_id, user_id, kind, effective, actor_id, reason, self._clock()),
            )
            return balance + effective

    async def ledger(self, guild_id: int, user_id: int, limit: int = 10) -> list[LedgerEntry]:
        async with self._conn.execute(
            "SELECT * FROM ledger WHERE guild_id = ? AND user_id = ? ORDER BY id DESC LIMIT ?",
            (guild_id, user_id, limit),
        ) as cur:
            rows = await cur.fetchall()
        return [
            LedgerEntry(
                id=r["id"],
                guild_id=r["guild_id"],
                user_id=r["user_id"],
                kind=r["kind"],
                available=r["available"],
                held=r["held"],
                job_id=r["job_id"],
                actor_id=r["actor_id"],
                reason=r["reason"],
                created_at=r["created_at"],
            )
            for r in rows
        ]

    async def _committed_since(
        self, db: aiosqlite.Connection, since: float, guild_id: int | None
    ) -> int:
        """Credits held since `since`, net of those holds' releases (what was really spent).

        A release counts only against its own hold, so freeing an earlier day's hold does not
        raise today's allowance.
        """
        where = "WHERE h.kind = 'hold' AND h.created_at >= ?"
        params: list[Any] = [since]
        if guild_id is not None:
            where += " AND h.guild_id = ?"
            params.append(guild_id)
        async with db.execute(
            "SELECT COALESCE(SUM(h.held - COALESCE(r.available, 0)), 0) FROM ledger h"
            f" LEFT JOIN ledger r ON r.job_id = h.job_id AND r.kind = 'release' {where}",
            params,
        ) as cur:
            row = await cur.fetchone()
        assert row is not None
        return int(row[0])

    # -- jobs ------------------------------------------------------------------------------
    async def admit_job(
        self, job: NewJob, budget: Budget, caps: SpendCaps, max_queued_per_user: int
    ) -> int:
        now = self._clock()
        cost = job.hold_amount
        async with self._tx() as db:
            async with db.execute(
                "SELECT COUNT(*) FROM jobs WHERE guild_id = ? AND user_id = ? AND state IN "
                "('queued', 'submitting', 'running', 'delivering')",
                (job.guild_id, job.user_id),
            ) as cur:
                row = await cur.fetchone()
            assert row is not None
            if row[0] >= max_queued_per_user:
                raise QueueFull(max_queued_per_user)
            if caps.per_guild and (
                await self._committed_since(db, caps.day_start, job.guild_id) + cost
                > caps.per_guild
            ):
                raise SpendCapReached("guild")
            if caps.total and (
                await self._committed_since(db, caps.day_start, None) + cost > caps.total
            ):
                raise SpendCapReached("total")
            balance = await self._refill(db, job.guild_id, job.user_id, budget)
            if balance < cost:
                # The refill (if any) is rolled back with the refusal: nothing is written.
                raise InsufficientCredits(balance, cost, job.image_cost)
            async with db.execute("SELECT COALESCE(MAX(seq), 0) + 1 FROM jobs") as cur:
                seq_row = await cur.fetchone()
            assert seq_row is not None
            await db.execute(
                "INSERT INTO jobs (id, seq, kind, state, guild_id, channel_id, user_id,"
                " application_id, interaction_token, token_expires_at, placeholder_message_id,"
                " request_json, provider, image_cost, images_requested, size, private,"
                " parent_job_id, created_at, updated_at, deadline_at, upload_limit)"
                " VALUES (?, ?, ?, 'queued', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    job.id,
                    seq_row[0],
                    job.kind,
                    job.guild_id,
                    job.channel_id,
                    job.user_id,
                    job.application_id,
                    job.interaction_token,
                    job.token_expires_at,
                    job.placeholder_message_id,
                    job.request.model_dump_json(),
                    job.provider,
                    job.image_cost,
                    job.request.n,
                    job.request.size,
                    job.private,
                    job.parent_job_id,
                    now,
                    now,
                    job.deadline_at,
                    job.upload_limit,
                ),
            )
            await db.execute(
                "INSERT INTO ledger (guild_id, user_id, kind, available, held, job_id, created_at)"
                " VALUES (?, ?, 'hold', ?, ?, ?, ?)",
                (job.guild_id, job.user_id, -cost, cost, job.id, now),
            )
            return balance - cost

    async def set_placeholder(self, job_id: str, message_id: int) -> None:
        async with self._tx() as db:
            await db.execute(
                "UPDATE jobs SET placeholder_message_id = ?, updated_at = ? WHERE id = ?",
                (message_id, self._clock(), job_id),
            )

    async def get_job(self, job_id: str) -> Job | None:
        async with self._conn.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)) as cur:
            row = await cur.fetchone()
        return None if row is None else _job(row)

    async def jobs_in(self, phases: Sequence[JobPhase]) -> list[Job]:
        marks = ", ".join("?" for _ in phases)
        async with self._conn.execute(
            f"SELECT * FROM jobs WHERE state IN ({marks}) ORDER BY seq",
            [str(p) for p in phases],
        ) as cur:
            rows = await cur.fetchall()
        return [_job(r) for r in rows]

    async def _transition(
        self,
        db: aiosqlite.Connection,
        job_id: str,
        allowed: Sequence[JobPhase],
        to: JobPhase,
        **columns: Any,
    ) -> bool:
        sets = ", ".join([f"{name} = ?" for name in columns] + ["state = ?", "updated_at = ?"])
        marks = ", ".join("?" for _ in allowed)
        cur = await db.execute(
            f"UPDATE jobs SET {sets} WHERE id = ? AND state IN ({marks})",
            [*columns.values(), str(to), self._clock(), job_id, *(str(a) for a in allowed)],
        )
        return cur.rowcount == 1

    async def mark_submitting(self, job_id: str) -> bool:
        async with self._tx() as db:
            return await self._transition(db, job_id, [JobPhase.QUEUED], JobPhase.SUBMITTING)

    async def mark_running(self, job_id: str, provider: str, provider_job_id: str) -> None:
        async with self._tx() as db:
            ok = await self._transition(
                db,
                job_id,
                [JobPhase.SUBMITTING],
                JobPhase.RUNNING,
                provider=provider,
                provider_job_id=provider_job_id,
                submitted_at=self._clock(),
            )
        if not ok:
            raise JobStateError(f"job {job_id} was not submitting")

    async def mark_delivering(
        self, job_id: str, result_urls: Sequence[str], provider_cost: float | None
    ) -> None:
        async with self._tx() as db:
            ok = await self._transition(
                db,
                job_id,
                [JobPhase.RUNNING],
                JobPhase.DELIVERING,
                result_urls_json=json.dumps(list(result_urls)),
                provider_cost=provider_cost,
                finished_at=self._clock(),
            )
        if not ok:
            raise JobStateError(f"job {job_id} was not running")

    async def _hold(self, db: aiosqlite.Connection, job_id: str) -> tuple[int, int, int]:
        async with db.execute(
            "SELECT guild_id, user_id, held FROM ledger WHERE job_id = ? AND kind = 'hold'",
            (job_id,),
        ) as cur:
            row = await cur.fetchone()
        if row is None:
            raise JobStateError(f"job {job_id} has no hold")
        return int(row[0]), int(row[1]), int(row[2])

    async def settle_delivered(
        self, job_id: str, message_ids: Sequence[int], delivered: int
    ) -> Settlement:
        now = self._clock()
        async with self._tx() as db:
            job_row = await (
                await db.execute("SELECT image_cost FROM jobs WHERE id = ?", (job_id,))
            ).fetchone()
            if job_row is None:
                raise JobStateError(f"no job {job_id}")
            if not await self._transition(
                db,
                job_id,
                [JobPhase.DELIVERING],
                JobPhase.DONE,
                message_ids_json=json.dumps(list(message_ids)),
                images_delivered=delivered,
            ):
                raise JobStateError(f"job {job_id} was not delivering")
            guild_id, user_id, held = await self._hold(db, job_id)
            captured = min(held, delivered * int(job_row[0]))
            released = held - captured
            await db.execute(
                "INSERT INTO ledger (guild_id, user_id, kind, available, held, job_id, created_at)"
                " VALUES (?, ?, 'capture', 0, ?, ?, ?)",
                (guild_id, user_id, -captured, job_id, now),
            )
            await db.execute(
                "INSERT INTO ledger (guild_id, user_id, kind, available, held, job_id, created_at)"
                " VALUES (?, ?, 'release', ?, ?, ?, ?)",
                (guild_id, user_id, released, -released, job_id, now),
            )
            balance = await self._available(db, guild_id, user_id)
        return Settlement(captured=captured, released=released, balance=balance)

    async def settle_failed(
        self, job_id: str, error: str, *, cancelled: bool = False
    ) -> Settlement:
        now = self._clock()
        end = JobPhase.CANCELLED if cancelled else JobPhase.FAILED
        async with self._tx() as db:
            if not await self._transition(
                db, job_id, ACTIVE_PHASES, end, error=error[:500], finished_at=now
            ):
                raise JobStateError(f"job {job_id} has already ended")
            guild_id, user_id, held = await self._hold(db, job_id)
            await db.execute(
                "INSERT INTO ledger (guild_id, user_id, kind, available, held, job_id, created_at)"
                " VALUES (?, ?, 'release', ?, ?, ?, ?)",
                (guild_id, user_id, held, -held, job_id, now),
            )
            balance = await self._available(db, guild_id, user_id)
        return Settlement(captured=0, released=held, balance=balance)

    async def recent_durations(self, provider: str, size: str, limit: int = 20) -> list[float]:
        async with self._conn.execute(
            "SELECT finished_at - submitted_at FROM jobs WHERE provider = ? AND size = ? AND"
            " state IN ('delivering', 'done') AND submitted_at IS NOT NULL AND"
            " finished_at IS NOT NULL ORDER BY finished_at DESC LIMIT ?",
            (provider, size, limit),
        ) as cur:
            rows = await cur.fetchall()
        return [float(r[0]) for r in rows]

    # -- member defaults -------------------------------------------------------------------
    async def get_preferences(self, guild_id: int, user_id: int) -> dict[str, Any]:
        async with self._conn.execute(
            "SELECT prefs_json FROM member_preferences WHERE guild_id = ? AND user_id = ?",
            (guild_id, user_id),
        ) as cur:
            row = await cur.fetchone()
        if row is None:
            return {}
        data = json.loads(row[0])
        return data if isinstance(data, dict) else {}

    async def save_preferences(self, guild_id: int, user_id: int, prefs: Mapping[str, Any]) -> None:
        async with self._tx() as db:
            if not prefs:
                await db.execute(
                    "DELETE FROM member_preferences WHERE guild_id = ? AND user_id = ?",
                    (guild_id, user_id),
                )
                return
            await db.execute(
                "INSERT INTO member_preferences (guild_id, user_id, prefs_json, updated_at)"
                " VALUES (?, ?, ?, ?) ON CONFLICT (guild_id, user_id) DO UPDATE SET"
                " prefs_json = excluded.prefs_json, updated_at = excluded.updated_at",
                (guild_id, user_id, json.dumps(dict(prefs), sort_keys=True), self._clock()),
            )

    # -- server policy and moderation --------------------------------------------------------
    async def guild_settings(self, guild_id: int) -> GuildSettings:
        db = self._conn
        async with db.execute(
            "SELECT audit_channel_id, nsfw_policy FROM guild_settings WHERE guild_id = ?",
            (guild_id,),
        ) as cur:
            row = await cur.fetchone()
        async with db.execute(
            "SELECT channel_id, rule FROM channel_rules WHERE guild_id = ?", (guild_id,)
        ) as cur:
            rules = await cur.fetchall()
        async with db.execute(
            "SELECT id, pattern, is_regex FROM blocklist WHERE guild_id = ? ORDER BY id",
            (guild_id,),
        ) as cur:
            blocked = await cur.fetchall()
        return GuildSettings(
            guild_id=guild_id,
            audit_channel_id=None if row is None else row["audit_channel_id"],
            nsfw_policy="filter" if row is None else row["nsfw_policy"],
            allowed_channels=frozenset(int(r[0]) for r in rules if r[1] == "allow"),
            denied_channels=frozenset(int(r[0]) for r in rules if r[1] == "deny"),
            blocklist=tuple(
                BlockEntry(id=r["id"], pattern=r["pattern"], is_regex=bool(r["is_regex"]))
                for r in blocked
            ),
        )

    async def _upsert_guild(self, guild_id: int, column: str, value: Any) -> None:
        async with self._tx() as db:
            await db.execute(
                f"INSERT INTO guild_settings (guild_id, {column}, updated_at) VALUES (?, ?, ?)"
                f" ON CONFLICT (guild_id) DO UPDATE SET {column} = excluded.{column},"
                " updated_at = excluded.updated_at",
                (guild_id, value, self._clock()),
            )

    async def set_audit_channel(self, guild_id: int, channel_id: int | None) -> None:
        await self._upsert_guild(guild_id, "audit_channel_id", channel_id)

    async def set_nsfw_policy(self, guild_id: int, policy: str) -> None:
        if policy not in ("allow", "filter"):
            raise ValueError(f"unknown nsfw policy {policy!r}")
        await self._upsert_guild(guild_id, "nsfw_policy", policy)

    async def set_channel_rule(
        self, guild_id: int, channel_id: int, rule: str | None, actor_id: int | None
    ) -> bool:
        if rule not in (None, "allow", "deny"):
            raise ValueError(f"unknown channel rule {rule!r}")
        if rule is None:
            return bool(
                await self._changed(
                    "DELETE FROM channel_rules WHERE guild_id = ? AND channel_id = ?",
                    (guild_id, channel_id),
                )
            )
        return bool(
            await self._changed(
                "INSERT INTO channel_rules (guild_id, channel_id, rule, actor_id, created_at)"
                " VALUES (?, ?, ?, ?, ?) ON CONFLICT (guild_id, channel_id) DO UPDATE SET"
                " rule = excluded.rule, actor_id = excluded.actor_id,"
                " created_at = excluded.created_at WHERE channel_rules.rule <> excluded.rule",
                (guild_id, channel_id, rule, actor_id, self._clock()),
            )
        )

    async def clear_channel_rules(self, guild_id: int) -> int:
        return await self._changed("DELETE FROM channel_rules WHERE guild_id = ?", (guild_id,))

    async def add_blocked(
        self, guild_id: int, pattern: str, is_regex: bool, actor_id: int | None
    ) -> bool:
        return bool(
            await self._changed(
                "INSERT INTO blocklist (guild_id, pattern, is_regex, actor_id, created_at)"
                " VALUES (?, ?, ?, ?, ?) ON CONFLICT (guild_id, pattern, is_regex) DO NOTHING",
                (guild_id, pattern, is_regex, actor_id, self._clock()),
            )
        )

    async def remove_blocked(self, guild_id: int, pattern: str) -> bool:
        return bool(
            await self._changed(
                "DELETE FROM blocklist WHERE guild_id = ? AND pattern = ?", (guild_id, pattern)
            )
        )

    async def ban_member(
        self, guild_id: int, user_id: int, actor_id: int | None, reason: str | None
    ) -> bool:
        return bool(
            await self._changed(
                "INSERT INTO member_bans (guild_id, user_id, reason, actor_id, created_at)"
                " VALUES (?, ?, ?, ?, ?) ON CONFLICT (guild_id, user_id) DO NOTHING",
                (guild_id, user_id, reason, actor_id, self._clock()),
            )
        )

    async def unban_member(self, guild_id: int, user_id: int) -> bool:
        return bool(
            await self._changed(
                "DELETE FROM member_bans WHERE guild_id = ? AND user_id = ?", (guild_id, user_id)
            )
        )

    async def member_ban(self, guild_id: int, user_id: int) -> MemberBan | None:
        async with self._conn.execute(
            "SELECT * FROM member_bans WHERE guild_id = ? AND user_id = ?", (guild_id, user_id)
        ) as cur:
            row = await cur.fetchone()
        return None if row is None else _ban(row)

    async def bans(self, guild_id: int) -> list[MemberBan]:
        async with self._conn.execute(
            "SELECT * FROM member_bans WHERE guild_id = ? ORDER BY created_at", (guild_id,)
        ) as cur:
            rows = await cur.fetchall()
        return [_ban(r) for r in rows]

    # -- reporting ---------------------------------------------------------------------------
    async def last_job_at(self, guild_id: int, user_id: int) -> float | None:
        async with self._conn.execute(
            "SELECT MAX(created_at) FROM jobs WHERE guild_id = ? AND user_id = ?",
            (guild_id, user_id),
        ) as cur:
            row = await cur.fetchone()
        return None if row is None or row[0] is None else float(row[0])

    async def held_credits(self, guild_id: int, user_id: int) -> int:
        async with self._conn.execute(
            "SELECT COALESCE(SUM(held), 0) FROM ledger WHERE guild_id = ? AND user_id = ?",
            (guild_id, user_id),
        ) as cur:
            row = await cur.fetchone()
        assert row is not None
        return int(row[0])

    async def activity(self, guild_id: int, user_id: int, limit: int = 5) -> list[Activity]:
        async with self._conn.execute(
            "SELECT l.kind, l.available, l.actor_id, l.reason, l.created_at,"
            " j.kind AS job_kind, j.state AS job_state, j.request_json"
            " FROM ledger l LEFT JOIN jobs j ON j.id = l.job_id"
            " WHERE l.guild_id = ? AND l.user_id = ? AND l.available <> 0"
            " ORDER BY l.id DESC LIMIT ?",
            (guild_id, user_id, limit),
        ) as cur:
            rows = await cur.fetchall()
        found = []
        for r in rows:
            prompt = None
            if r["request_json"]:
                prompt = str(json.loads(r["request_json"]).get("prompt", "")) or None
            found.append(
                Activity(
                    kind=r["kind"],
                    amount=r["available"],
                    job_kind=r["job_kind"],
                    prompt=prompt,
                    job_state=r["job_state"],
                    actor_id=r["actor_id"],
                    reason=r["reason"],
                    created_at=r["created_at"],
                )
            )
        return found

    async def _period_stats(self, guild_id: int, since: float) -> PeriodStats:
        async with self._conn.execute(
            "SELECT COUNT(*), COALESCE(SUM(CASE WHEN state = 'failed' THEN 1 ELSE 0 END), 0)"
            " FROM jobs WHERE guild_id = ? AND created_at >= ?",
            (guild_id, since),
        ) as cur:
            jobs = await cur.fetchone()
        async with self._conn.execute(
            "SELECT COALESCE(SUM(-held), 0) FROM ledger"
            " WHERE guild_id = ? AND kind = 'capture' AND created_at >= ?",
            (guild_id, since),
        ) as cur:
            spent = await cur.fetchone()
        assert jobs is not None and spent is not None
        return PeriodStats(jobs=int(jobs[0]), failed=int(jobs[1]), credits=int(spent[0]))

    async def guild_stats(
        self, guild_id: int, day_start: float, month_start: float, top: int = 5
    ) -> GuildStats:
        async with self._conn.execute(
            "SELECT user_id, COUNT(*) FROM jobs WHERE guild_id = ? AND created_at >= ?"
            " GROUP BY user_id",
            (guild_id, month_start),
        ) as cur:
            jobs = {int(r[0]): int(r[1]) for r in await cur.fetchall()}
        async with self._conn.execute(
            "SELECT user_id, SUM(-held) FROM ledger"
            " WHERE guild_id = ? AND kind = 'capture' AND created_at >= ? GROUP BY user_id",
            (guild_id, month_start),
        ) as cur:
            spent = {int(r[0]): int(r[1]) for r in await cur.fetchall()}
        members = [
            MemberSpend(user_id=u, jobs=jobs.get(u, 0), credits=spent.get(u, 0))
            for u in set(jobs) | set(spent)
        ]
        members.sort(key=lambda m: (-m.credits, -m.jobs, m.user_id))
        return GuildStats(
            today=await self._period_stats(guild_id, day_start),
            month=await self._period_stats(guild_id, month_start),
            top=tuple(members[:top]),
        )


def _ban(row: sqlite3.Row) -> MemberBan:
    return MemberBan(
        user_id=row["user_id"],
        reason=row["reason"],
        actor_id=row["actor_id"],
        created_at=row["created_at"],
    )


def _job(row: sqlite3.Row) -> Job:
    return Job(
        id=row["id"],
        kind=row["kind"],
        guild_id=row["guild_id"],
        channel_id=row["channel_id"],
        user_id=row["user_id"],
        application_id=row["application_id"],
        interaction_token=row["interaction_token"],
        token_expires_at=row["token_expires_at"],
        request=GenerationRequest.model_validate_json(row["request_json"]),
        provider=row["provider"],
        image_cost=row["image_cost"],
        deadline_at=row["deadline_at"],
        upload_limit=row["upload_limit"],
        private=bool(row["private"]),
        parent_job_id=row["parent_job_id"],
        placeholder_message_id=row["placeholder_message_id"],
        seq=row["seq"],
        state=JobPhase(row["state"]),
        provider_job_id=row["provider_job_id"],
        provider_cost=row["provider_cost"],
        images_delivered=row["images_delivered"],
        result_urls=tuple(json.loads(row["result_urls_json"] or "[]")),
        message_ids=tuple(json.loads(row["message_ids_json"] or "[]")),
        error=row["error"],
        created_at=row["created_at"],
        submitted_at=row["submitted_at"],
        finished_at=row["finished_at"],
    )


def _statements(sql: str) -> list[str]:
    """Split a migration file into statements (no semicolons inside our SQL literals)."""
    lines = [line for line in sql.splitlines() if not line.strip().startswith("--")]
    return [s.strip() for s in "\n".join(lines).split(";") if s.strip()]
