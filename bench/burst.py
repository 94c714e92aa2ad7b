"""A burst of /imagine in one busy channel: acknowledgements, delivery, lag, 429s, host limits.

The whole bot (open_bot, real discord.py over HTTP and WebSocket) runs against FakeDiscord in a
process of its own (tests/fakes/discord_runner.py), so the acknowledgement latencies the fake
times are the bot's, not the GIL's. Mock provider at 3 s a job, 1K images. Phases, each on a
fresh fake, bot and database, after one warm-up job:

  baseline      one /imagine at a time: the unloaded ack latency
  burst         200 /imagine from 50 members in one channel, no channel limit
  channel_rate  the same, with a hidden per-channel limit of 5 per 5 s in the fake
  host_cap      the same, against a host that answers 429 above 8 jobs in flight

    .venv/bin/python -m bench.burst [--jobs 200] [--users 50] [--only burst,host_cap]
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.botrun import counting_logs, running_remote_bot
from bench.capped_host import CappedMock, sample_window, window_figures
from bench.common import peak_rss_mib, percentile, ratio, record, reset_peak_rss, table
from cogs.client import WanBot
from tests.fakes.discord_runner import RemoteDiscord, RemoteHandle
from tests.fakes.discord_server import RecordedRequest
from wanbot.config import MockConfig
from wanbot.store.base import Job, JobPhase, token_digest
from wanbot.store.database import Connection
from wanbot.store.sqlite import SQLiteStore

ACK_DEADLINE_S = 3.0
MOCK_DELAY_S = 3.0
HOST_CAP = 8
GENERATION = """
max_concurrent_jobs = 64
max_jobs_per_provider = 16
max_running_per_user = 4
max_queued_per_user = 10
"""
# The host_cap phase lets the bot try more than the host takes: finding 8 is the bot's job.
GENERATION_UNCAPPED = GENERATION.replace("max_jobs_per_provider = 16", "max_jobs_per_provider = 32")
CREDITS = "allowance = 1000000"


@dataclass
class Phase:
    name: str
    jobs: int
    users: int
    timeout_s: float
    channel_rate: tuple[int, float] | None = None
    host_cap: int | None = None
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


async def _count_ended(connection: Connection) -> int:
    row = await connection.fetchone(
        "SELECT COUNT(*) AS n FROM jobs WHERE state IN ('done', 'failed', 'cancelled')", ()
    )
    return 0 if row is None else int(row["n"])


async def wait_all_ended(bot: WanBot, count: int, within_s: float) -> tuple[list[Job], bool]:
    """Every job, once `count` have ended (or the time is up). The bench looks with a COUNT:
    reading every job five times a second while they run would load the loop it measures."""
    store = bot.store
    assert isinstance(store, SQLiteStore)
    deadline = time.monotonic() + within_s
    while True:
        ended = await store.database.read(_count_ended)
        if ended >= count or time.monotonic() > deadline:
            jobs: list[Job] = await store.jobs_in(list(JobPhase))
            return jobs, ended >= count
        await asyncio.sleep(0.2)


def host_done_at(data_dir: Path, job: Job, delay_s: float) -> float | None:
    """When the mock host finished the job (its submission plus its drawing time)."""
    if not job.provider_job_id:
        return None
    try:
        record_ = json.loads((data_dir / "mock" / f"{job.provider_job_id}.json").read_text())
    except (OSError, ValueError):
        return None
    return float(record_["submitted_at"]) + delay_s


def cap_host(bot: WanBot, cap: int, data_dir: Path, capped: list[CappedMock]) -> None:
    host = CappedMock(MockConfig(delay_s=MOCK_DELAY_S), data_dir=data_dir, cap=cap)
    bot.services.providers.providers["mock"] = host
    capped.append(host)


async def run_phase(phase: Phase, workdir: Path) -> dict[str, Any]:
    remote = RemoteDiscord(
        members=phase.users, ack_deadline_s=ACK_DEADLINE_S, channel_rate=phase.channel_rate
    )
    remote.start()
    tmp = workdir / phase.name
    tmp.mkdir()
    data_dir = tmp / "data"
    capped: list[CappedMock] = []
    configure: Callable[[WanBot], None] | None = None
    if phase.host_cap is not None:
        cap = phase.host_cap
        configure = lambda bot: cap_host(bot, cap, data_dir, capped)  # noqa: E731
    members = [f"member{i}" for i in range(phase.users)]
    generation = GENERATION if phase.host_cap is None else GENERATION_UNCAPPED
    try:
        with counting_logs() as logs:
            async with running_remote_bot(
                remote,
                tmp,
                generation=generation,
                credits=CREDITS,
                mock_delay=MOCK_DELAY_S,
                configure=configure,
            ) as bot:
                await remote.slash("imagine", {"prompt": "warm-up", "size": "1K"})
                await wait_all_ended(bot, 1, 60)
                await remote.clear_violations()
                logs.counts.clear()
                base_429 = await remote.count_429()
                base_requests = await remote.request_count()
                host_429_before = capped[0].count_429 if capped else 0
                reset_peak_rss()
                start = time.monotonic()
                windows: list[tuple[int, int, int]] = []  # (cuts, window, in flight) over time
                sampler = asyncio.create_task(sample_window(bot, windows))
                sent_at: dict[str, float] = {}
                handles: list[RemoteHandle] = []
                if phase.sequential:
                    for i in range(phase.jobs):
                        now = time.time()
                        handle = await remote.slash(
                            "imagine", {"prompt": f"single {i}", "size": "1K"}, members[0]
                        )
                        handles.append(handle)
                        sent_at[handle.token] = now
                        await wait_all_ended(bot, 2 + i, 60)
                else:
                    calls = [
                        (
                            "imagine",
                            {"prompt": f"burst {i}", "size": "1K"},
                            members[i % phase.users],
                        )
                        for i in range(phase.jobs)
                    ]
                    now = time.time()
                    handles = await remote.slash_many(calls)
                    sent_at = {h.token: now for h in handles}
                jobs, finished = await wait_all_ended(bot, phase.jobs + 1, phase.timeout_s)
                sampler.cancel()
                wall_s = time.monotonic() - start
                figures = await collect(
                    phase, remote, handles, jobs, sent_at, data_dir, base_requests
                )
                figures.update(
                    count_429=await remote.count_429() - base_429,
                    violations=len(await remote.violations()),
                    finished_in_time=finished,
                    wall_s=wall_s,
                    peak_rss_mib=peak_rss_mib(),
                )
                figures.update(window_figures(windows))
                if capped:
                    host = capped[0]
                    figures.update(
                        host_429=host.count_429 - host_429_before,
                        host_peak_in_flight=host.peak_in_flight,
                        host_cap=host.cap,
                    )
        figures["warnings"] = dict(logs.counts.most_common(8))
    finally:
        remote.stop()
    return figures


async def collect(
    phase: Phase,
    remote: RemoteDiscord,
    handles: list[RemoteHandle],
    jobs: list[Job],
    sent_at: dict[str, float],
    data_dir: Path,
    base_requests: int,
) -> dict[str, Any]:
    callbacks = await remote.callbacks([h.id for h in handles])
    acks = [c[0][2] for c in callbacks if c]
    late = sum(1 for c in callbacks if not c or c[0][1] != 200)
    # A finished job keeps only its token's digest.
    token_of = {key: h.token for h in handles for key in (h.token, token_digest(h.token))}
    mine = [j for j in jobs if j.interaction_token in token_of]
    done = [j for j in mine if j.state is JobPhase.DONE and j.message_ids]
    messages = await remote.messages([j.message_ids[0] for j in done])
    to_image: list[float] = []
    lags: list[float] = []
    image_times: list[float] = []
    host_times: list[float] = []
    for job, message in zip(done, messages, strict=True):
        if not message.attachments:
            continue
        # A result may fill a deferred "thinking…" message (no edit) or edit a placeholder.
        posted = message.edited_at or message.filled_at or message.created_at
        image_times.append(posted)
        to_image.append(posted - sent_at[token_of[job.interaction_token]])
        host_done = host_done_at(data_dir, job, MOCK_DELAY_S)
        if host_done is not None:
            host_times.append(host_done)
            lags.append(posted - host_done)
    burst_at = min(sent_at.values(), default=0.0)
    requests: list[RecordedRequest] = await remote.requests(base_requests)
    limited: collections.Counter[str] = collections.Counter()
    edits: collections.Counter[str] = collections.Counter()
    for req in requests:
        if req.status == 429:
            limited[route_of(req.method, req.path)] += 1
        if req.method == "PATCH" and req.path.startswith("/webhooks/"):
            kind = "delivery" if req.files else "progress"
            edits[f"{kind}_{req.status}"] += 1
    last_image = max(image_times, default=float("nan")) - burst_at
    last_host = max(host_times, default=float("nan")) - burst_at
    return {
        "jobs": phase.jobs,
        "users": phase.users,
        "channel_rate": phase.channel_rate,
        "acks": len(acks),
        "late_or_refused_acks": late,
        "ack_p50_s": percentile(acks, 50),
        "ack_p99_s": percentile(acks, 99),
        "ack_max_s": max(acks, default=float("nan")),
        "jobs_done": sum(1 for j in mine if j.state is JobPhase.DONE),
        "jobs_failed": sum(1 for j in mine if j.state is JobPhase.FAILED),
        "jobs_unfinished": sum(1 for j in mine if not j.state.terminal),
        "delivered_with_image": len(image_times),
        "to_image_p50_s": percentile(to_image, 50),
        "to_image_max_s": max(to_image, default=float("nan")),
        "last_image_s": last_image,
        "last_host_done_s": last_host,
        "last_image_minus_host_s": last_image - last_host,
        "lag_p50_s": percentile(lags, 50),
        "lag_p95_s": percentile(lags, 95),
        "lag_max_s": max(lags, default=float("nan")),
        "429_by_route": dict(limited),
        "webhook_edits": dict(edits),
        "requests": len(requests),
        "errors": sorted({j.error or "" for j in mine if j.state is JobPhase.FAILED})[:5],
    }


def phases_for(args: argparse.Namespace) -> list[Phase]:
    every = [
        Phase("baseline", args.baseline_runs, 1, 60.0 * args.baseline_runs, sequential=True),
        Phase("burst", args.jobs, args.users, args.timeout),
        Phase("channel_rate", args.jobs, args.users, args.rate_timeout, channel_rate=(5, 5.0)),
        Phase("host_cap", args.jobs, args.users, args.timeout, host_cap=HOST_CAP),
    ]
    wanted = set(args.only.split(",")) if args.only else {p.name for p in every}
    return [p for p in every if p.name in wanted]


def report(phases: list[Phase]) -> str:
    base = next((p.figures for p in phases if p.name == "baseline"), None)
    base_p50 = base["ack_p50_s"] if base else float("nan")
    rows = []
    for phase in phases:
        f = phase.figures
        f["ack_p99_ratio"] = ratio(f["ack_p99_s"], base_p50)
        rows.append(
            [
                phase.name,
                f"{f['jobs']}/{f['users']}",
                "-" if phase.channel_rate is None else "{} per {:g}s".format(*phase.channel_rate),
                "-" if phase.host_cap is None else f"429 above {phase.host_cap}",
                f["ack_p50_s"] * 1000,
                f["ack_p99_s"] * 1000,
                f"{f['delivered_with_image']}/{f['jobs']}",
                f["jobs_failed"],
                f["count_429"],
                f.get("host_429", "-"),
                f.get("host_peak_in_flight", "-"),
                f["last_image_s"],
                f["last_image_minus_host_s"],
                f["lag_p95_s"],
                f["wall_s"],
            ]
        )
    headers = [
        "phase",
        "jobs/users",
        "channel limit",
        "host",
        "ack p50 ms",
        "ack p99 ms",
        "delivered",
        "failed",
        "discord 429s",
        "host 429s",
        "host peak",
        "last image s",
        "last − host s",
        "lag p95 s",
        "wall s",
    ]
    lines = [table(headers, rows, digits=2)]
    for phase in phases:
        f = phase.figures
        window = (
            f"cut {f['window_cuts']}x, then {f['window_after_first_cut']}, last"
            f" {f['window_last']}, in flight {f['in_flight_mean_after_first_cut']} on average"
            if f.get("window_after_first_cut")
            else None
        )
        extras = {
            "host window": window,
            "429 by route": f["429_by_route"],
            "webhook edits": f["webhook_edits"],
            "errors": f["errors"],
            "warnings": f["warnings"],
        }
        lines.append(f"[{phase.name}] " + "; ".join(f"{k}: {v}" for k, v in extras.items() if v))
    return "\n".join(lines)


async def main_async(args: argparse.Namespace) -> None:
    phases = phases_for(args)
    with tempfile.TemporaryDirectory(prefix="wanbot-bench-") as workdir:
        for phase in phases:
            print(f"[{phase.name}] {phase.jobs} /imagine from {phase.users} members", flush=True)
            phase.figures = await run_phase(phase, Path(workdir))
    print()
    print(report(phases))
    params = {
        "ack_deadline_s": ACK_DEADLINE_S,
        "mock_delay_s": MOCK_DELAY_S,
        "size": "1K",
        "generation": " ".join(GENERATION.split()),
        "host_cap": HOST_CAP,
        "note": "FakeDiscord in its own process: acks are timed there; peak RSS is the bot's",
        "label": args.label,
    }
    if args.no_record:
        return
    path = record("burst", params, {p.name: p.figures for p in phases})
    print(f"\nrecorded in {path}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--jobs", type=int, default=200)
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--baseline-runs", type=int, default=10)
    parser.add_argument("--only", default="", help="comma-separated phase names")
    parser.add_argument("--timeout", type=float, default=150.0)
    parser.add_argument("--rate-timeout", type=float, default=330.0)
    parser.add_argument("--no-record", action="store_true", help="print only (smoke runs)")
    parser.add_argument("--label", default="", help="a note kept with the record (before/after)")
    asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    main()
