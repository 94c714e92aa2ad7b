"""A member's personal data on request and by age: prompts, kept inputs, saved defaults.

Forgetting rewrites rows rather than deleting them: the ledger and the jobs it refers to stay, so
every balance and total stays exact; what identified the member or what they wrote goes. Then the
engine scrubs its files (SQLite keeps old text in free pages and the WAL otherwise).
"""

from __future__ import annotations

from wanbot.providers.models import GenerationRequest
from wanbot.store.database import Connection
from wanbot.store.models import ACTIVE_PHASES, REMOVED_PROMPT, TERMINAL_PHASES, MemberForgotten
from wanbot.store.sql.common import SqlFamily, marks

# The user id a forgotten member's jobs are filed under: no Discord account has id 0.
FORGOTTEN_USER = 0


class MemberDataSql(SqlFamily):
    async def forget_member(self, guild_id: int, user_id: int) -> MemberForgotten:
        forgotten = await self.database.write(_forget, guild_id, user_id, self._clock())
        await self.database.scrub()
        return forgotten

    async def blank_prompts_older_than(self, before: float) -> int:
        count = await self.database.write(_blank_older, before, self._clock())
        if count:
            await self.database.scrub()
        return count


def _without_prompt(request_json: str) -> tuple[str, tuple[str, ...]]:
    """The request with its words and reference images removed, and those images' paths."""
    request = GenerationRequest.model_validate_json(request_json)
    paths = tuple(image.path for image in request.input_images)
    removed = request.model_copy(
        update={
            "prompt": REMOVED_PROMPT,
            "negative_prompt": None,
            "input_images": (),
            "suffix": None,
        }
    )
    return removed.model_dump_json(), paths


async def _forget(conn: Connection, guild_id: int, user_id: int, now: float) -> MemberForgotten:
    active = [str(p) for p in ACTIVE_PHASES]
    ended = [str(p) for p in TERMINAL_PHASES]
    active_jobs = await conn.fetchval(
        "SELECT COUNT(*) FROM jobs WHERE guild_id = ? AND user_id = ?"
        f" AND state IN ({marks(active)})",
        (guild_id, user_id, *active),
    )
    rows = await conn.fetchall(
        "SELECT id, request_json FROM jobs"
        f" WHERE guild_id = ? AND user_id = ? AND state IN ({marks(ended)})",
        (guild_id, user_id, *ended),
    )
    paths: list[str] = []
    for row in rows:
        request_json, inputs = _without_prompt(row["request_json"])
        paths.extend(inputs)
        await conn.execute(
            "UPDATE jobs SET request_json = ?, user_id = ?, prompt_removed_at = ?, updated_at = ?"
            " WHERE id = ?",
            (request_json, FORGOTTEN_USER, now, now, row["id"]),
        )
    preferences = await conn.execute(
        "DELETE FROM member_preferences WHERE guild_id = ? AND user_id = ?", (guild_id, user_id)
    )
    return MemberForgotten(
        jobs=len(rows),
        preferences=preferences,
        active_jobs=int(active_jobs),
        input_paths=tuple(paths),
    )


async def _blank_older(conn: Connection, before: float, now: float) -> int:
    ended = [str(p) for p in TERMINAL_PHASES]
    rows = await conn.fetchall(
        "SELECT id, request_json FROM jobs WHERE created_at < ? AND prompt_removed_at IS NULL"
        f" AND state IN ({marks(ended)})",
        (before, *ended),
    )
    for row in rows:
        request_json, _ = _without_prompt(row["request_json"])  # inputs are pruned by age anyway
        await conn.execute(
            "UPDATE jobs SET request_json = ?, prompt_removed_at = ? WHERE id = ?",
            (request_json, now, row["id"]),
        )
    return len(rows)
