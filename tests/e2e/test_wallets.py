"""Team wallets end to end: /admin wallet, three members spending from one wallet at once, a
failure refunded to it, a refill, /credits showing both budgets, and a restart of the real
`bot.py` mid-job, with the wallet's ledger exact to the unit throughout."""

from __future__ import annotations

import asyncio
import re
import signal
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.harness import Harness, running_bot
from tests.e2e.subprocess_bot import BotProcess, db_path, job, job_by_token, query, seed_history
from tests.e2e.subprocess_bot import write_config as process_config
from tests.e2e.test_account_admin import answer, refusal
from tests.fakes.discord_server import FakeDiscord, FakeMessage, InteractionHandle
from tests.fakes.pixeldojo_server import FakePixelDojo
from wanbot.store.base import Job, JobPhase

MEMBERS = ("alice", "bob", "carol")
DAY_S = 86_400.0


@pytest.fixture
async def pixeldojo() -> AsyncIterator[FakePixelDojo]:
    async with FakePixelDojo(job_duration_s=0.3) as server:
        yield server


def pixeldojo_setup(server: FakePixelDojo) -> dict[str, Any]:
    return {
        "extra_toml": f'[providers.pixeldojo]\nbase_url = "{server.base_url}"\n',
        "env": {"PIXELDOJO_API_KEY": FakePixelDojo.api_key},
    }


async def wallet(fake: FakeDiscord, subcommand: str, user: str = "admin", **options: Any) -> str:
    handle = await fake.slash("admin", options, user=user, group="wallet", subcommand=subcommand)
    message = await answer(handle)
    assert message.ephemeral
    return message.content


def wallet_rows(db: Path) -> list[tuple[Any, ...]]:
    rows = query(
        db,
        "SELECT kind, available, held, user_id, job_id FROM wallet_ledger ORDER BY id",
    )
    return [(r["kind"], r["available"], r["held"], r["user_id"], r["job_id"]) for r in rows]


def sums(rows: list[tuple[Any, ...]]) -> tuple[int, int]:
    return sum(r[1] for r in rows), sum(r[2] for r in rows)


async def ended(h: Harness, handle: InteractionHandle) -> Job:
    return await h.wait_job((await h.job_for(handle)).id)


async def shown(h: Harness, job: Job, text: str) -> FakeMessage:
    """The job's message, once it says `text` (the member is told after the job is settled)."""
    await h.wait_for(lambda: text in h.placeholder(job).content)
    return h.placeholder(job)


async def test_a_wallet_shared_by_three_members(
    fake: FakeDiscord, tmp_path: Path, pixeldojo: FakePixelDojo
) -> None:
    design = await fake.add_role("Design", members=list(MEMBERS))
    async with running_bot(fake, tmp_path, **pixeldojo_setup(pixeldojo)) as h:
        ids = {m: h.user_id(m) for m in MEMBERS}
        made = await wallet(
            fake, "create", name="Design team", role="design", amount=20, period="daily"
        )
        assert made.startswith(f"Created wallet Design team for <@&{design}>: 20 credits")
        assert re.search(r"refills to 20 a day, next <t:\d+:R>", made)
        # Only Manage Server may.
        text = await refusal(
            await fake.slash(
                "admin",
                {"name": "Mine", "role": "design", "amount": 5},
                user="alice",
                group="wallet",
                subcommand="create",
            )
        )
        assert "Manage Server" in text

        # Three members at once: the wallet pays for all three (2 images × 2 credits each).
        handles = await asyncio.gather(*(h.imagine(f"{m}'s fox", user=m, n=2) for m in MEMBERS))
        jobs = await asyncio.gather(*(ended(h, handle) for handle in handles))
        assert [j.state for j in jobs] == [JobPhase.DONE] * 3
        for done in jobs:
            caption = h.placeholder(done).content
            assert "4 credits, 8 left · paid by wallet Design team" in caption
        for member in MEMBERS:
            assert await h.store.ledger(fake.guild_id, ids[member]) == []

        # A failure gives the wallet its credits back.
        pixeldojo.fail_jobs = "internal_error"
        failed = await ended(h, await h.imagine("a doomed fox", user="bob", n=2))
        assert failed.state is JobPhase.FAILED
        await shown(h, failed, "Your 4 credits are back.")
        pixeldojo.fail_jobs = None

        credits = await answer(await fake.slash("credits", {}, user="carol"))
        assert credits.content.startswith("50 credits · allowance 50 a day")
        assert "Your team wallets pay first" in credits.content
        assert re.search(
            rf"Design team \(<@&{design}>\): 8 credits · refills to 20 a day, next <t:\d+:R>",
            credits.content,
        )

        # The next day, the wallet refills (to 20) before it pays.
        admission = h.bot.services.admission
        admission.clock = lambda: time.time() + DAY_S
        refilled = await ended(h, await h.imagine("a new day", user="carol", n=2))
        assert refilled.state is JobPhase.DONE
        assert "4 credits, 16 left · paid by wallet Design team" in h.placeholder(refilled).content

        granted = await wallet(fake, "grant", name="design TEAM", amount=5)
        assert granted == "Added 5 credits to wallet Design team. It has 21 credits now."
        listed = await wallet(fake, "list")
        assert listed.startswith(f"Design team for <@&{design}>: 21 credits")

        all_jobs = [*jobs, failed, refilled]
        rows = wallet_rows(db_path(tmp_path))
        by_job = {j.id: [r[:4] for r in rows if r[4] == j.id] for j in all_jobs}
        for paid in [*jobs, refilled]:
            assert sorted(by_job[paid.id]) == sorted(
                [
                    ("hold", -4, 4, paid.user_id),
                    ("capture", 0, -4, paid.user_id),
                    ("release", 0, 0, paid.user_id),
                ]
            )
        assert sorted(by_job[failed.id]) == sorted(
            [("hold", -4, 4, ids["bob"]), ("release", 4, -4, ids["bob"])]
        )
        others = [r[:3] for r in rows if r[4] is None]
        assert others == [("refill", 20, 0), ("refill", 12, 0), ("grant", 5, 0)]
        assert sums(rows) == (21, 0)

        # Deleted, it pays for nothing new: the member's own credits do.
        gone = await wallet(fake, "delete", name="Design team")
        assert gone == "Deleted wallet Design team: it pays for no new jobs."
        own = await ended(h, await h.imagine("my own fox", user="alice"))
        assert own.wallet_id is None
        assert "paid by" not in h.placeholder(own).content
        assert await h.store.balance(fake.guild_id, ids["alice"]) == 48
        assert await wallet(fake, "list") == (
            "No team wallets yet. Create one with /admin wallet create."
        )
        assert fake.violations == []


async def test_a_member_short_of_credits_hears_of_the_wallet_too(
    fake: FakeDiscord, tmp_path: Path
) -> None:
    await fake.add_role("Design", members=["alice"])
    async with running_bot(fake, tmp_path, extra_toml="[credits]\nallowance = 0\n") as h:
        await wallet(fake, "create", name="Design team", role="design", amount=3, period="never")
        text = await refusal(await h.imagine("a red fox", n=2))
        assert "You have 0 credits left and this needs 4 (2 per image)." in text
        assert "Your team wallet Design team has 3 credits left." in text
        assert await h.store.jobs_in(list(JobPhase)) == []
        problem = await refusal(
            await fake.slash(
                "admin",
                {"name": "nobody", "amount": 5},
                user="admin",
                group="wallet",
                subcommand="grant",
            )
        )
        assert problem.startswith("There is no wallet called nobody.")
        assert problem.endswith("Nothing was changed.")


# -- a restart of the real bot.py mid-job ---------------------------------------------------------


async def test_a_restart_mid_job_settles_into_the_wallet_once(
    fake: FakeDiscord, tmp_path: Path
) -> None:
    design = await fake.add_role("Design", members=["alice"])
    db = db_path(tmp_path)
    await seed_history(db, provider="pixeldojo", size="2K", seconds=1.0)
    async with FakePixelDojo(job_duration_s=0.2) as pixeldojo:
        pixeldojo.never_finish = True
        config = process_config(tmp_path, fake, pixeldojo.base_url)
        env = {"DISCORD_TOKEN": fake.token, "PIXELDOJO_API_KEY": FakePixelDojo.api_key}
        bot = BotProcess(config, env, tmp_path / "bot.log")
        try:
            await bot.start_connected(fake)
            made = await wallet(
                fake, "create", name="Design team", role="design", amount=20, period="daily"
            )
            assert f"<@&{design}>" in made
            handle = await fake.slash("imagine", {"prompt": "a red fox", "n": 2})
            await handle.wait_acknowledged()

            def running() -> bool:
                row = job_by_token(db, handle.token)
                return bool(row and row["state"] == "running" and row["provider_job_id"])

            await bot.wait_until(running, "the job to run", 20.0)
            row = job_by_token(db, handle.token)
            assert row is not None and row["wallet_id"] is not None
            assert await bot.kill() == -signal.SIGKILL
            assert sums(wallet_rows(db)) == (16, 4)

            await bot.start_connected(fake)
            pixeldojo.never_finish = False

            def finished() -> bool:
                return bool(job(db, str(row["id"]))["state"] == "done")

            await bot.wait_until(finished, "the job to finish after the restart", 20.0)
            assert len(pixeldojo.submissions("/run")) == 1
            rows = [r[:4] for r in wallet_rows(db)]
            alice = fake.users["alice"].id
            assert rows == [
                ("refill", 20, 0, None),
                ("hold", -4, 4, alice),
                ("capture", 0, -4, alice),
                ("release", 0, 0, alice),
            ]
            assert query(db, "SELECT COUNT(*) AS n FROM ledger WHERE user_id = ?", (alice,)) == [
                {"n": 0}
            ]
            placeholder = fake.message(int(row["placeholder_message_id"]))
            assert len(placeholder.attachments) == 2
            assert "4 credits, 16 left · paid by wallet Design team" in placeholder.content
            assert fake.violations == []
            assert await bot.terminate() == 0
        finally:
            bot.close()
