"""Hostile input, end to end: hypothesis throws random and extreme /imagine and /edit requests at
one running bot (real discord.py against the fake Discord, mock host) and checks, for each one:

* the fake Discord delivers it exactly when a real Discord would (option types, ranges, choices,
  lengths; a modified client can send anything the fake lets through);
* it is acknowledged in time, and answered either with an ephemeral refusal in plain words (no
  traceback, no "something went wrong (ref …)") and no job, or with a job admitted with the
  options asked for and the right hold;
* where the request is certainly invalid it is refused, and where it is certainly valid admitted;

and at the end: every admitted job finished, the ledger holds only refills and the holds, captures
and releases of admitted jobs (so no refusal cost anything), no message the bot posted pings
@everyone/@here or, apart from the documented channel fallback, anyone at all, the fake saw no
broken rule, nothing was logged at ERROR, and the bot still answers an ordinary /imagine.

The bot runs on its own thread and loop for the whole test; each hypothesis example hops onto that
loop, so one bot (and one database) sees every example, as a real server would.
"""

from __future__ import annotations

import asyncio
import logging
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from cogs.edit import closest_ratio
from tests.e2e.harness import Harness, running_bot
from tests.e2e.hostile.cases import Case, edit_cases, fixed_cases, imagine_cases
from tests.e2e.hostile.prompts import BLOCKED, USERS, Ids, cleaned
from tests.e2e.hostile.running import (
    ALLOWANCE,
    CONFIG,
    GENERATION,
    IMAGE_COST,
    BotThread,
    answer,
    errors_logged,
    job_by_token,
)
from tests.e2e.hostile.uploads import uploads
from tests.fakes.discord_server import FakeDiscord
from wanbot.store.base import Job, JobPhase
from wanbot.text import BIDI_CONTROLS

EXAMPLES = 60

# -- checking one case ---------------------------------------------------------------------------

DISCORD_REFUSALS = (ValueError, TypeError, LookupError)
MASS_MENTION = re.compile(r"@(everyone|here)")
UNEXPECTED = ("something went wrong", "(ref ", "traceback", "exception", "error:")


@dataclass
class Record:
    """What the test learnt, for the checks at the end."""

    admitted: dict[str, str] = field(default_factory=dict)  # job id → what made it
    refused: int = 0
    undelivered: int = 0


async def exercise(h: Harness, case: Case, record: Record) -> None:
    fake = h.fake
    try:
        handle = await fake.slash(
            case.command, case.options, user=case.user, attachments=case.attachments
        )
    except DISCORD_REFUSALS as e:
        assert not case.delivered, f"Discord refused a request it would deliver: {e}"
        record.undelivered += 1
        return
    assert case.delivered, "Discord delivered a request its own checks refuse"
    await handle.wait_acknowledged(timeout=5)
    latency = handle.ack_latency_s
    assert latency is not None and latency < fake.ack_deadline_s, latency
    reply = await answer(handle)
    job = await job_by_token(h, handle.token)
    if job is None:
        text = reply.content
        assert case.verdict != "ok", f"a valid request was refused: {text!r}"
        assert reply.ephemeral and reply.visible_to == h.user_id(case.user), reply
        assert text.strip() and not any(w in text.lower() for w in UNEXPECTED), text
        assert not reply.attachments and not reply.components, reply
        record.refused += 1
        return
    assert case.verdict != "bad", f"an invalid request was admitted as job {job.id}"
    check_admitted(h, case, job)
    rows = await h.store.ledger(fake.guild_id, job.user_id, 1000)
    holds = [(r.held, r.available) for r in rows if r.job_id == job.id and r.kind == "hold"]
    assert holds == [(job.hold_amount, -job.hold_amount)], holds
    assert reply.ephemeral == job.private and reply.content.startswith("🎨")
    record.admitted[job.id] = repr(case)


def check_admitted(h: Harness, case: Case, job: Job) -> None:
    options, request = case.options, job.request
    assert job.kind == case.command and job.user_id == h.user_id(case.user)
    assert job.provider == "mock" and job.image_cost == IMAGE_COST
    assert request.prompt == cleaned(case.prompt)
    assert request.n == options.get("n", 1)
    assert job.hold_amount == IMAGE_COST * request.n
    assert job.private == bool(options.get("private"))
    if "seed" in options:
        assert request.seed == options["seed"]
    assert request.size == options.get("size", "1K")  # 1K is the members' saved default
    if case.command == "imagine":
        assert request.aspect_ratio == options.get("aspect_ratio", "1:1")
        assert request.image_set == bool(options.get("image_set"))
        assert request.thinking == options.get("thinking")
        assert (request.palette is not None) == bool(options.get("palette"))
        negative = options.get("negative_prompt")
        assert request.negative_prompt == (cleaned(negative) if negative else None)
        assert not request.input_images
    else:
        first = case.images[0].size
        assert first is not None
        assert request.aspect_ratio == closest_ratio(*first)
        assert [(i.width, i.height) for i in request.input_images] == [u.size for u in case.images]


# -- the end of the run --------------------------------------------------------------------------


async def settle(h: Harness, record: Record) -> list[Job]:
    for job_id in record.admitted:
        job = await h.wait_job(job_id, within_s=60)
        assert job.state is JobPhase.DONE, (job.id, job.state, job.error)
    jobs = {job.id: job for job in await h.store.jobs_in(list(JobPhase))}
    assert set(jobs) == set(record.admitted), "a job exists that no admitted case accounts for"
    for user in USERS:
        user_id = h.user_id(user)
        rows = await h.store.ledger(h.fake.guild_id, user_id, 100_000)
        spent = 0
        for row in rows:
            if row.job_id is None:
                assert row.kind == "refill", row
                continue
            job = jobs[row.job_id]
            assert job.user_id == user_id
        for job in (j for j in jobs.values() if j.user_id == user_id):
            mine = [r for r in rows if r.job_id == job.id]
            kinds = sorted(r.kind for r in mine)
            delivered = job.images_delivered or 0
            captured = sum(r.held for r in mine if r.kind == "capture")
            assert kinds in (["capture", "hold"], ["capture", "hold", "release"]), kinds
            assert -captured == delivered * IMAGE_COST, (job.id, mine)
            assert sum(r.available for r in mine) == -delivered * IMAGE_COST, mine
            assert sum(r.held for r in mine) == 0, mine
            spent += delivered * IMAGE_COST
        if rows:
            assert await h.store.balance(h.fake.guild_id, user_id) == ALLOWANCE - spent
    return list(jobs.values())


def check_messages(h: Harness, jobs: list[Job]) -> None:
    fake = h.fake
    owner = {m: job.user_id for job in jobs for m in job.message_ids}
    results = 0
    for message in fake.messages(include_deleted=True):
        if message.author_id != fake.bot_user_id:
            continue
        assert not message.mentions_everyone, message
        if not message.ephemeral:  # and what others see stays inert if ever reposted
            assert not MASS_MENTION.search(message.content), message.content
        # No echo carries a direction control that could reorder what the bot wrote after it.
        assert not BIDI_CONTROLS & {ord(c) for c in message.content}, ascii(message.content)
        results += message.id in owner
        if message.mentioned_user_ids:
            # The documented fallback: a result posted to the channel pings its member only.
            assert message.interaction_id is None and message.webhook_id is None, message
            assert message.mentioned_user_ids == [owner.get(message.id)], message
    assert results >= len(jobs)
    assert fake.violations == []


def test_hostile_requests_are_refused_or_admitted_cleanly(make_fake: Any, tmp_path: Path) -> None:
    fake: FakeDiscord = make_fake()
    ids = Ids(
        alice=fake.users["alice"].id,
        bob=fake.users["bob"].id,
        role=fake.admin_role_id,
        channel=fake.channel_id,
    )
    files = uploads()
    record = Record()
    with errors_logged() as errors, BotThread(fake, tmp_path) as bot:
        h = bot.harness
        assert h is not None

        async def prepare() -> None:
            for user in USERS:
                saved = await answer(await fake.slash("set", {"size": "1K"}, user=user))
                assert saved.content.startswith("Saved."), saved.content
            for sub, options in (
                ("audit-channel", {"channel": "nsfw-art"}),
                ("blocklist", {"action": "add", "term": BLOCKED}),
            ):
                done = await answer(
                    await fake.slash("admin", options, user="admin", subcommand=sub)
                )
                assert done.ephemeral and "Nothing" not in done.content, done.content

        bot.run(prepare())

        def hostile(case: Case) -> None:
            bot.run(exercise(h, case, record), timeout=30)

        run = given(case=st.one_of(imagine_cases(ids), edit_cases(ids, files)))(hostile)
        for case in fixed_cases(ids, files):
            run = example(case=case)(run)
        settings(
            max_examples=EXAMPLES,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )(run)()

        async def context_menu() -> None:
            """The only way to hand the bot more than four images: a message with six."""
            photo = next(f for f in files if f.label == "png")
            six = [(f"@everyone{i}.png", photo.data, "image/png") for i in range(6)]
            message_id = await fake.post_user_message("@everyone look", six, user="bob")
            for prompt, count, admitted in (
                (f"<@{ids.alice}> @here **in a hat**", "2", True),
                ("\u200b\u2060", "1", False),
                ("in a hat", "0", False),
                ("in a hat", "x", False),
            ):
                menu = await fake.message_command("Edit image", message_id, user="bob")
                await menu.wait_acknowledged()
                assert menu.modal is not None
                values = {"wanbot:edit-modal:prompt": prompt, "wanbot:edit-modal:n": count}
                submitted = await fake.submit_modal(menu, values, user="bob")
                await submitted.wait_acknowledged()
                reply = await answer(submitted)
                job = await job_by_token(h, submitted.token)
                if not admitted:
                    assert job is None and reply.ephemeral, reply
                    assert not any(w in reply.content.lower() for w in UNEXPECTED), reply
                    record.refused += 1
                    continue
                assert job is not None, reply.content
                assert len(job.request.input_images) == 4 and job.request.n == 2
                record.admitted[job.id] = "context menu on six images"

        jobs: list[Job] = []

        async def finish() -> None:
            handle = await h.imagine("a calm lake at dawn", size="1K")
            await handle.wait_acknowledged()
            job = await job_by_token(h, handle.token)
            assert job is not None, (await answer(handle)).content
            record.admitted[job.id] = "the last, ordinary /imagine"
            jobs.extend(await settle(h, record))

        bot.run(context_menu())
        bot.run(finish(), timeout=120)
        check_messages(h, jobs)
    assert errors.lines == []
    assert record.refused and record.admitted and record.undelivered, record


async def test_private_result_in_several_messages(
    fake: FakeDiscord, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Over ten images make two messages; a private result's second is an ephemeral followup."""
    caplog.set_level(logging.WARNING, logger="wanbot.jobs.service")
    async with running_bot(
        fake,
        tmp_path,
        extra_toml=CONFIG,
        generation=GENERATION,
        mock_delay=0.05,
        mock_cost=IMAGE_COST,
    ) as h:
        handle = await h.imagine("a fox family", n=12, image_set=True, seed=2, private=True)
        job_id = (await h.job_for(handle)).id

        async def ended_or_failed_once() -> bool:
            job = await h.store.get_job(job_id)
            failed = any("delivery attempt" in r.getMessage() for r in caplog.records)
            return failed or (job is not None and job.state.terminal)

        deadline = asyncio.get_running_loop().time() + 20
        while not await ended_or_failed_once():
            assert asyncio.get_running_loop().time() < deadline, "the job never finished"
            await asyncio.sleep(0.05)
        job = await h.wait_job(job_id, within_s=0.5)  # raises if still retrying
        assert job.state is JobPhase.DONE, job.error
        assert job.images_delivered == 12 and len(job.message_ids) == 2
        assert all(fake.message(m).ephemeral for m in job.message_ids)
