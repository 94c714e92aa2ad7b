"""A member's data on request and by age, end to end: /admin forget through the fake Discord stops
the member's unfinished jobs, removes their prompts, saved defaults and kept inputs, and leaves the
ledger exact; housekeeping blanks prompts older than `storage.keep_prompts_days`; /admin stats
shows the host's balance."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from pathlib import Path
from typing import Any

from tests.e2e.harness import Harness, png_bytes, running_bot
from tests.e2e.test_account_admin import admin, answer
from tests.fakes.discord_server import FakeDiscord
from tests.fakes.pixeldojo_server import FakePixelDojo
from wanbot.store.base import JobPhase
from wanbot.store.models import REMOVED_PROMPT


def database_bytes(tmp_path: Path) -> bytes:
    """Every byte SQLite keeps for the database: the file, its write-ahead log and index."""
    files = [tmp_path / name for name in ("wanbot.db", "wanbot.db-wal", "wanbot.db-shm")]
    return b"".join(path.read_bytes() for path in files if path.exists())


def exists(path: Path) -> bool:
    return path.exists()


async def balance(h: Harness, user: str) -> int:
    value: int = await h.store.balance(h.fake.guild_id, h.user_id(user))
    return value


async def done(h: Harness, prompt: str, *, user: str = "alice", **options: Any) -> None:
    handle = await h.imagine(prompt, user=user, **options)
    job = await h.wait_job((await h.job_for(handle)).id)
    assert job.state is JobPhase.DONE, job.error


async def test_forget_stops_removes_and_keeps_the_ledger_exact(
    fake: FakeDiscord, tmp_path: Path
) -> None:
    audit_id = fake.nsfw_channel_id
    async with FakePixelDojo(credits=500, job_duration_s=0.05) as pixeldojo:
        toml = f'[providers.pixeldojo]\nbase_url = "{pixeldojo.base_url}"\n'
        env = {"PIXELDOJO_API_KEY": pixeldojo.api_key}
        async with running_bot(
            fake, tmp_path, extra_toml=toml, env=env, mock_delay=0.05, generation='provider="mock"'
        ) as h:
            await h.store.set_audit_channel(fake.guild_id, audit_id)
            await answer(await fake.slash("set", {"negative_prompt": "saved-negative-kiwi"}))
            await done(h, "prompt-alpha a red fox")
            edit = await fake.slash(
                "edit",
                {"prompt": "prompt-beta in a hat"},
                attachments={"image": ("photo.png", png_bytes(256, 256), "image/png")},
            )
            edited = await h.wait_job((await h.job_for(edit)).id)
            assert edited.state is JobPhase.DONE
            kept = Path(edited.request.input_images[0].path)
            assert exists(kept)
            await done(h, "prompt-gamma bob's owl", user="bob")
            await done(h, "prompt-delta pixeldojo fox", provider="pixeldojo")

            pixeldojo.never_finish = True
            slow = await h.imagine("prompt-epsilon a slow fox", provider="pixeldojo")
            running = await h.wait_job((await h.job_for(slow)).id, JobPhase.RUNNING)
            before = {user: await balance(h, user) for user in ("alice", "bob")}

            stats = await admin(h, "stats")
            assert "Host balance: PixelDojo 496 credits (<t:" in stats.content, stats.content

            reply = await admin(h, "forget", user="alice")
            text = reply.content
            assert "the prompts of 4 jobs removed" in text, text
            assert "saved defaults deleted" in text
            assert "1 kept input image deleted" in text
            assert "1 unfinished job stopped first, its credits given back" in text
            assert "still delivering" not in text

            stopped = await h.store.get_job(running.id)
            assert stopped is not None and stopped.state is JobPhase.CANCELLED
            assert stopped.request.prompt == REMOVED_PROMPT and stopped.user_id == 0
            assert not exists(kept)
            # The stopped job's hold came back; nothing else moved.
            after = {user: await balance(h, user) for user in ("alice", "bob")}
            assert after == {"alice": before["alice"] + running.hold_amount, "bob": before["bob"]}
            shown = await answer(await fake.slash("set", {}))
            assert "saved-negative-kiwi" not in shown.content
            await h.wait_for(lambda: any("🧹" in m.content for m in fake.messages(audit_id)))
            stored = database_bytes(tmp_path)
        for secret in (b"prompt-alpha", b"prompt-beta", b"prompt-delta", b"prompt-epsilon"):
            assert secret not in stored, secret
        assert b"saved-negative-kiwi" not in stored
        assert b"prompt-gamma" in stored  # bob's stays: the check reads the right bytes
    audit = [m.content for m in fake.messages(audit_id) if "🧹" in m.content]
    alice, admin_id = fake.users["alice"].id, fake.users["admin"].id
    assert audit == [
        f"🧹 <@{admin_id}> removed <@{alice}>'s data from wanbot (the prompts of 4 jobs)."
    ]


async def test_housekeeping_blanks_prompts_past_the_keeping_time(
    fake: FakeDiscord, tmp_path: Path
) -> None:
    async with running_bot(fake, tmp_path, mock_delay=0.05) as h:
        await done(h, "prompt-old a fox from long ago")
        await done(h, "prompt-new a fox from today")
        jobs = await h.store.jobs_in([JobPhase.DONE])
        old = next(j for j in jobs if "prompt-old" in j.request.prompt)
        # Admitted 91 days ago, as far as the database knows.
        aged = time.time() - 91 * 24 * 3600
        await asyncio.to_thread(_set_created_at, tmp_path / "wanbot.db", old.id, aged)
        await h.bot.keep_house_once()
        kept = {j.id: j.request.prompt for j in await h.store.jobs_in([JobPhase.DONE])}
    assert kept[old.id] == REMOVED_PROMPT
    assert [p for p in kept.values() if p != REMOVED_PROMPT] == ["prompt-new a fox from today"]
    assert b"prompt-old" not in database_bytes(tmp_path)


def _set_created_at(path: Path, job_id: str, when: float) -> None:
    conn = sqlite3.connect(path, timeout=10)
    try:
        conn.execute("UPDATE jobs SET created_at = ? WHERE id = ?", (when, job_id))
        conn.commit()
    finally:
        conn.close()
