"""A burst of /imagine through the fake Discord: acknowledgement latency, delivery, 429s, memory.

The whole bot (open_bot, real discord.py over HTTP and WebSocket) runs against FakeDiscord with
the mock provider (0.5 s jobs, 1K images). Three phases, each on a fresh fake, bot and database:

  baseline      one /imagine at a time (after a warm-up job): the unloaded ack latency
  burst         200 /imagine from 50 members sent at once, no channel limit
  channel_rate  a smaller burst (30 from 30 members) with a Discord-like per-channel limit

Burst latencies are reported as ratios to the baseline's median. FakeDiscord runs in this same
process (its own thread and loop), so peak memory counts the fake and the bot together.

    .venv/bin/python -m bench.burst [--jobs 200] [--users 50] [--rate-jobs 30] [--skip-burst]
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.botrun import add_members, counting_logs, running_bot
from bench.common import (
    mean,
    peak_rss_mib,
    percentile,
    ratio,
    record,
    reset_peak_rss,
    rss_mib,
    table,
)
from cogs.client import WanBot
from tests.fakes.discord_server import FakeDiscord, InteractionHandle
from wanbot.store.base import Job, JobPhase, token_digest

ACK_DEADLINE_S = 3.0
MOCK_DELAY_S = 0.5
GENERATION = """
max_concurrent_jobs = 16
max_jobs_per_provider = 16
max_running_per_user = 4
max_queued_per_user = 10
"""
CREDITS = "allowance = 1000000"


@dataclass
class Phase:
    name: str
    jobs: int
    users: int
    channel_rate: tuple[int, float] | None = None
    sequential: bool = False
    figures: dict[str, Any] = field(default_factory=dict)


def route_of(method: str, path: str) -> str:
    parts = []
    for part in path.split("/"):
        if part.isdigit():
            parts.append("{id}")
        elif len(part) > 40:
            parts.append("{token}")
        else:
            parts.append(part)
    return f"{method} {'/'.join(parts)}"


async def wait_all_ended(bot: WanBot, count: int, within_s: float) -> tuple[list[Job], bool]:
    deadline = time.monotonic() + within_s
    while True:
        jobs: list[Job] = await bot.store.jobs_in(list(JobPhase))
        ended = [j for j in jobs if j.state.terminal]
        if len(ended) >= count:
            return jobs, True
        if time.monotonic() > deadline:
            return jobs, False
        await asyncio.sleep(0.2)


async def wait_answered(handles: list[InteractionHandle], within_s: float) -> None:
    """Until every interaction got a callback (accepted or refused), or time is up."""
    deadline = time.monotonic() + within_s
    pending = list(handles)
    while pending and time.monotonic() < deadline:
        pending = [h for h in pending if not h.callbacks]
        if pending:
            await asyncio.sleep(0.05)


async def run_phase(phase: Phase, workdir: Path, timeout_s: float) -> dict[str, Any]:
    fake = FakeDiscord(ack_deadline_s=ACK_DEADLINE_S, channel_rate=phase.channel_rate)
    members = add_members(fake, phase.users)
    fake.start()
    tmp = workdir / phase.name
    tmp.mkdir()
    try:
        with counting_logs() as logs:
            async with running_bot(
                fake, tmp, generation=GENERATION, credits=CREDITS, mock_delay=MOCK_DELAY_S
            ) as bot:
                # Warm-up: first-use costs (fonts, imports, connections) out of the figures.
                warm = await fake.slash("imagine", {"prompt": "warm-up", "size": "1K"})
                await warm.wait_acknowledged(10)
                await wait_all_ended(bot, 1, 30)
                fake.clear_violations()
                logs.counts.clear()  # startup notices (disabled providers, no voice) aside
                base_429 = fake.count_429
                base_requests = len(fake.requests)
                rss_before = rss_mib()
                reset_peak_rss()
                sent_at: dict[str, float] = {}
                start = time.monotonic()
                handles: list[InteractionHandle] = []
                if phase.sequential:
                    for i in range(phase.jobs):
                        now = time.time()
                        handle = await fake.slash(
                            "imagine",
                            {"prompt": f"single {i}", "size": "1K"},
                            user=members[i % len(members)],
                        )
                        handles.append(handle)
                        sent_at[handle.token] = now
                        await wait_answered([handle], 10)
                        await wait_all_ended(bot, 2 + i, 30)
                else:
                    now = time.time()
                    handles = list(
                        await asyncio.gather(
                            *(
                                fake.slash(
                                    "imagine",
                                    {"prompt": f"burst {i}", "size": "1K"},
                                    user=members[i % len(members)],
                                )
                                for i in range(phase.jobs)
                            )
                        )
                    )
                    sent_at = {h.token: now for h in handles}
                await wait_answered(handles, 30)
                jobs, finished = await wait_all_ended(bot, phase.jobs + 1, timeout_s)
                wall_s = time.monotonic() - start
                peak = peak_rss_mib()
                figures = collect(phase, fake, handles, jobs, sent_at, base_429, base_requests)
                figures.update(
                    finished_in_time=finished,
                    wall_s=wall_s,
                    rss_before_mib=rss_before,
                    peak_rss_mib=peak,
                )
        figures["warnings"] = dict(logs.counts.most_common(8))
        figures["warning_count"] = sum(logs.counts.values())
    finally:
        fake.stop()
    return figures


def collect(
    phase: Phase,
    fake: FakeDiscord,
    handles: list[InteractionHandle],
    jobs: list[Job],
    sent_at: dict[str, float],
    base_429: int,
    base_requests: int,
) -> dict[str, Any]:
    acks: list[float] = []
    late = 0
    for handle in handles:
        callbacks = handle.callbacks
        if callbacks:
            acks.append(callbacks[0][2])
            if callbacks[0][1] != 200:
                late += 1
    # A finished job keeps only its token's digest.
    token_of = {key: h.token for h in handles for key in (h.token, token_digest(h.token))}
    mine = [j for j in jobs if j.interaction_token in token_of]
    done = [j for j in mine if j.state is JobPhase.DONE]
    delivered = 0
    to_image: list[float] = []
    for job in done:
        if not job.message_ids:
            continue
        message = fake.message(job.message_ids[0])
        if message.attachments:
            delivered += 1
            to_image.append(
                (message.edited_at or message.created_at) - sent_at[token_of[job.interaction_token]]
            )
    requests = fake.requests[base_requests:]
    by_route: collections.Counter[str] = collections.Counter()
    limited: collections.Counter[str] = collections.Counter()
    # Message edits through the interaction webhook: progress (text) or delivery (with files).
    edits: collections.Counter[str] = collections.Counter()
    for req in requests:
        route = route_of(req.method, req.path)
        by_route[route] += 1
        if req.status == 429:
            limited[route] += 1
        if req.method == "PATCH" and req.path.startswith("/webhooks/"):
            kind = "delivery" if req.files else "progress"
            edits[f"{kind}_{'429' if req.status == 429 else req.status}"] += 1
    violations = fake.violations
    return {
        "jobs": phase.jobs,
        "users": phase.users,
        "channel_rate": phase.channel_rate,
        "acks": len(acks),
        "late_or_refused_acks": late,
        "ack_p50_s": percentile(acks, 50),
        "ack_p99_s": percentile(acks, 99),
        "ack_max_s": max(acks, default=float("nan")),
        "ack_mean_s": mean(acks),
        "jobs_done": len(done),
        "jobs_failed": sum(1 for j in mine if j.state is JobPhase.FAILED),
        "jobs_unfinished": sum(1 for j in mine if not j.state.terminal),
        "delivered_with_image": delivered,
        "to_image_p50_s": percentile(to_image, 50),
        "to_image_p99_s": percentile(to_image, 99),
        "to_image_max_s": max(to_image, default=float("nan")),
        "count_429": fake.count_429 - base_429,
        "429_by_route": dict(limited),
        "webhook_edits": dict(edits),
        "requests": len(requests),
        "requests_by_route": dict(by_route.most_common(10)),
        "violations": len(violations),
        "violation_samples": violations[:5],
        "errors": sorted({j.error or "" for j in mine if j.state is JobPhase.FAILED})[:5],
    }


async def main_async(args: argparse.Namespace) -> None:
    phases = [
        Phase("baseline", args.baseline_runs, 1, sequential=True),
        Phase("burst", args.jobs, args.users),
        Phase("channel_rate", args.rate_jobs, args.rate_users, channel_rate=(5, 5.0)),
    ]
    if args.skip_rate:
        phases.pop()
    if args.skip_burst:
        phases.pop(1)
    with tempfile.TemporaryDirectory(prefix="wanbot-bench-") as workdir:
        for phase in phases:
            print(
                f"[{phase.name}] {phase.jobs} /imagine from {phase.users} members ...", flush=True
            )
            phase.figures = await run_phase(phase, Path(workdir), args.timeout)
    base = phases[0].figures
    base_p50 = base["ack_p50_s"]
    rows = []
    for phase in phases:
        f = phase.figures
        f["ack_p50_ratio"] = ratio(f["ack_p50_s"], base_p50)
        f["ack_p99_ratio"] = ratio(f["ack_p99_s"], base_p50)
        rows.append(
            [
                phase.name,
                f"{f['jobs']}/{f['users']}",
                "-" if phase.channel_rate is None else "{} per {:g}s".format(*phase.channel_rate),
                f["ack_p50_s"] * 1000,
                f["ack_p99_s"] * 1000,
                f["ack_p50_ratio"],
                f["ack_p99_ratio"],
                f"{f['delivered_with_image']}/{f['jobs']}",
                f["count_429"],
                f["violations"],
                f["to_image_p50_s"],
                f["to_image_max_s"],
                f["peak_rss_mib"],
                f["wall_s"],
            ]
        )
    print()
    print(
        table(
            [
                "phase",
                "jobs/users",
                "channel limit",
                "ack p50 ms",
                "ack p99 ms",
                "p50 ×base",
                "p99 ×base",
                "delivered",
                "429s",
                "violations",
                "image p50 s",
                "image max s",
                "peak RSS MiB",
                "wall s",
            ],
            rows,
            digits=2,
        )
    )
    for phase in phases:
        f = phase.figures
        extras = {
            "429 by route": f["429_by_route"],
            "webhook edits": f["webhook_edits"],
            "violations": f["violation_samples"],
            "failed": f["jobs_failed"],
            "errors": f["errors"],
            "warnings": f["warnings"],
        }
        print(f"\n[{phase.name}] " + "; ".join(f"{k}: {v}" for k, v in extras.items() if v))
    params = {
        "ack_deadline_s": ACK_DEADLINE_S,
        "mock_delay_s": MOCK_DELAY_S,
        "size": "1K",
        "generation": " ".join(GENERATION.split()),
        "note": "FakeDiscord runs in the same process: peak RSS is bot + fake",
    }
    path = record("burst", params, {p.name: p.figures for p in phases})
    print(f"\nrecorded in {path}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--jobs", type=int, default=200)
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--baseline-runs", type=int, default=10)
    parser.add_argument("--rate-jobs", type=int, default=30)
    parser.add_argument("--rate-users", type=int, default=30)
    parser.add_argument("--skip-rate", action="store_true")
    parser.add_argument("--skip-burst", action="store_true")
    parser.add_argument("--timeout", type=float, default=150.0)
    asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    main()
