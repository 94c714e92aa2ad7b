"""Soak: thousands of /imagine through the whole bot; memory, fds, threads and tasks stay flat.

The whole bot (open_bot, real discord.py over HTTP and WebSocket) runs against FakeDiscord with
the mock provider (0.05 s jobs, 1K images: each job draws and uploads a real ~85 KB PNG). Jobs
come from many members in many channels through a sliding window (`--in-flight` sent and not yet
finished), so the queue never simply fills. After a warm-up, the process is sampled at the
start, every few seconds, and at the end (all jobs finished, gc.collect()): RSS, open file
descriptors, threads, asyncio tasks, and the sizes of every per-job structure the bot keeps
(JobService._live, ChannelPressure dicts, the scheduler, discord.py's view store and caches).

FakeDiscord runs in this same process (its own thread and loop) and keeps every message, upload,
request and gateway event; so that it does not show as growth, each job's interaction, messages
and uploads are dropped from it once its delivery has been checked, its request log is tallied
and cleared, and its RESUME buffer keeps only the latest events. The bot paces itself only by
what Discord answers (ChannelPressure): there is no budget of its own to raise.

    .venv/bin/python -m bench.soak [--jobs 3000] [--in-flight 50] [--users 100] [--channels 10]
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import ctypes
import ctypes.util
import gc
import logging
import os
import sqlite3
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.botrun import add_members, counting_logs, running_bot
from bench.common import peak_rss_mib, ratio, record, reset_peak_rss, rss_mib, table
from cogs.client import WanBot
from tests.fakes.discord_server import FakeDiscord
from wanbot.store.base import JobPhase

MOCK_DELAY_S = 0.05
IMAGE_COST = 2
GENERATION = """
max_concurrent_jobs = 32
max_jobs_per_provider = 32
max_running_per_user = 4
max_queued_per_user = 10
"""
CREDITS = f"allowance = 100000000\nimage_cost = {IMAGE_COST}"
ACTIVE = [JobPhase.QUEUED, JobPhase.SUBMITTING, JobPhase.RUNNING, JobPhase.DELIVERING]
STUCK_AFTER_S = 90.0
GATEWAY_BUFFER_KEPT = 200
# Figures whose end/start ratio is reported; each must stay flat.
FLAT = ("rss_mib", "rss_trimmed_mib", "fds", "threads", "tasks", "py_blocks", "gc_objects")


def add_channels(fake: FakeDiscord, count: int) -> list[int]:
    """Give the fake guild `count` more text channels; call before start() (private tables)."""
    ids = []
    for i in range(count):
        cid = fake._next_id()
        fake._channels[cid] = {"name": f"soak-{i}", "nsfw": False, "position": 2 + i}
        fake._channel_guild[cid] = fake.guild_id  # the fake serves several servers now
        ids.append(cid)
    return ids


def malloc_trim() -> bool:
    """Hand free heap memory back to the OS (glibc malloc_trim); False where unavailable."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.malloc_trim(0)
    except (OSError, AttributeError):
        return False
    return True


def dir_stats(path: Path) -> tuple[int, int]:
    """(files, bytes) under path, recursively."""
    files = size = 0
    for root, _, names in os.walk(path):
        for name in names:
            files += 1
            size += file_size(Path(root) / name)
    return files, size


def file_size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


# -- the fake's side (run on its loop) ------------------------------------------------------------


@dataclass
class FakeTally:
    """What the soak learned from the fake before dropping it."""

    requests: int = 0
    by_status: collections.Counter[int] = field(default_factory=collections.Counter)
    dropped_messages: int = 0
    dropped_upload_bytes: int = 0
    dropped_gateway_events: int = 0


async def reap_on_fake(fake: FakeDiscord, tokens: list[str], tally: FakeTally) -> dict[str, int]:
    """Delivered jobs among `tokens` (token -> images on its messages); drop them from the fake.

    Also tallies and clears the request log and drops spent rate-limit buckets (a bucket past
    its reset starts from zero anyway), so the fake's own bookkeeping stays bounded.
    """
    delivered: dict[str, int] = {}
    for token in tokens:
        iid = fake._tokens.get(token)
        if iid is None:
            continue
        it = fake._interactions[iid]
        mids = [m for m in (it.response_message_id, *it.followup_ids) if m is not None]
        images = 0
        for mid in mids:
            msg = fake._messages.get(mid)
            if msg is not None and not msg.deleted:
                images += sum(
                    1 for a in msg.attachments if (a.content_type or "").startswith("image/")
                )
        if not images:
            continue
        delivered[token] = images
        for mid in mids:
            msg = fake._messages.pop(mid, None)
            if msg is None:
                continue
            tally.dropped_messages += 1
            for att in msg.attachments:
                tally.dropped_upload_bytes += len(att.data)
                fake._attachments.pop(att.id, None)
        del fake._interactions[iid]
        del fake._tokens[token]
    # The gateway session keeps every event it sent, for a RESUME; keep only the latest few.
    for session in fake._sessions:
        if len(session.buffer) > GATEWAY_BUFFER_KEPT:
            tally.dropped_gateway_events += len(session.buffer) - GATEWAY_BUFFER_KEPT
            del session.buffer[:-GATEWAY_BUFFER_KEPT]
    for events in fake._shard_events.values():  # the per-shard record, likewise
        del events[:-GATEWAY_BUFFER_KEPT]
    tally.requests += len(fake._requests)
    tally.by_status.update(r.status for r in fake._requests)
    fake._requests.clear()
    now = time.monotonic()
    for key in [k for k, b in fake._buckets.items() if now >= b.reset_at]:
        del fake._buckets[key]
    return delivered


async def fake_sizes(fake: FakeDiscord) -> dict[str, int]:
    return {
        "fake_messages": len(fake._messages),
        "fake_uploads": len(fake._attachments),
        "fake_upload_bytes": sum(len(a.data) for a in fake._attachments.values()),
        "fake_interactions": len(fake._interactions),
        "fake_requests_log": len(fake._requests),
        "fake_buckets": len(fake._buckets),
        "fake_gateway_buffer": sum(len(s.buffer) for s in fake._sessions),
        "fake_tasks": len(asyncio.all_tasks()),
    }


# -- the driver -----------------------------------------------------------------------------------


@dataclass
class Driver:
    bot: WanBot
    fake: FakeDiscord
    members: list[str]
    channels: list[int]
    in_flight: int
    tally: FakeTally = field(default_factory=FakeTally)
    sent: int = 0
    outstanding: dict[str, float] = field(default_factory=dict)  # token -> sent at (monotonic)
    delivered_jobs: int = 0
    delivered_images: int = 0
    failed: int = 0
    stuck: int = 0
    send_errors: int = 0
    _seen_failed: set[str] = field(default_factory=set)
    _sending: int = 0

    @property
    def finished(self) -> int:
        return self.delivered_jobs + self.failed + self.stuck + self.send_errors

    async def _send(self, i: int) -> None:
        try:
            handle = await self.fake.slash(
                "imagine",
                {"prompt": f"soak job {i}: a lighthouse at dusk", "size": "1K"},
                user=self.members[i % len(self.members)],
                channel=self.channels[i % len(self.channels)],
            )
            self.outstanding[handle.token] = time.monotonic()
        except Exception:
            self.send_errors += 1
        finally:
            self._sending -= 1

    async def _reap(self) -> None:
        delivered = await self.fake._on_loop(
            reap_on_fake(self.fake, list(self.outstanding), self.tally)
        )
        for token, images in delivered.items():
            del self.outstanding[token]
            self.delivered_jobs += 1
            self.delivered_images += images

    async def _reap_failed(self) -> None:
        ended = await self.bot.store.jobs_in([JobPhase.FAILED, JobPhase.CANCELLED])
        for job in ended:
            token = next((t for t in self.outstanding if job.for_interaction(t)), "")
            if token in self.outstanding and token not in self._seen_failed:
                self._seen_failed.add(token)
                del self.outstanding[token]
                self.failed += 1
        now = time.monotonic()
        for token, at in list(self.outstanding.items()):
            if now - at > STUCK_AFTER_S:
                del self.outstanding[token]
                self.stuck += 1

    async def run(self, jobs: int, on_tick: Any = None) -> None:
        """Send `jobs` more /imagine, never more than `in_flight` unfinished; until all end."""
        target_finished = self.finished + jobs
        last_send = self.sent + jobs
        tasks: set[asyncio.Task[None]] = set()
        last_fail_check = time.monotonic()
        while self.finished < target_finished:
            pending = len(self.outstanding) + self._sending
            while self.sent < last_send and pending < self.in_flight:
                self._sending += 1
                task = asyncio.create_task(self._send(self.sent))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
                self.sent += 1
                pending += 1
            await asyncio.sleep(0.05)
            await self._reap()
            if time.monotonic() - last_fail_check >= 1.0:
                last_fail_check = time.monotonic()
                await self._reap_failed()
            if on_tick is not None:
                await on_tick()


# -- sampling -------------------------------------------------------------------------------------


@dataclass
class Sampler:
    bot: WanBot
    fake: FakeDiscord
    driver: Driver
    data_dir: Path
    db_path: Path
    t0: float = 0.0
    samples: list[dict[str, Any]] = field(default_factory=list)
    every_s: float = 5.0
    _next_at: float = 0.0
    types: list[collections.Counter[str]] = field(default_factory=list)

    async def sample(self, label: str, *, collect: bool = False) -> dict[str, Any]:
        if collect:
            gc.collect()
            self.types.append(collections.Counter(type(o).__qualname__ for o in gc.get_objects()))
        bot = self.bot
        jobs = bot.jobs
        state = bot._connection
        views = state._view_store
        results_files, _ = dir_stats(self.data_dir / "results")
        mock_files, mock_bytes = dir_stats(self.data_dir / "mock")
        row: dict[str, Any] = {
            "label": label,
            "t_s": round(time.monotonic() - self.t0, 1),
            "jobs_finished": self.driver.finished,
            "in_flight": len(self.driver.outstanding),
            "rss_mib": round(rss_mib(), 1),
            "fds": len(os.listdir("/proc/self/fd")),
            "threads": threading.active_count(),
            "tasks": len(asyncio.all_tasks()),
            "py_blocks": sys.getallocatedblocks(),
            "gc_objects": len(gc.get_objects()),
            "jobs_live": len(jobs.live),
            "pressure_jobs": len(jobs.pressure._last_edit),
            "pressure_tokens": len(jobs.pressure._token_of_job),
            "pressure_channels": len(jobs.pressure._channels),
            "scheduler_queued": len(jobs.scheduler),
            "scheduler_running": jobs.scheduler.running_count,
            "scheduler_member_queues": len(jobs.scheduler._queues),
            "dpy_view_store_views": len(views._views),
            "dpy_view_store_synced": len(views._synced_message_views),
            "dpy_view_store_modals": len(views._modals),
            "dpy_message_cache": len(state._messages or ()),
            "dpy_http_buckets": len(bot.http._buckets),
            "admission_locks": len(bot.services.admission._admitting),
            "results_entries": results_files,
            "mock_files": mock_files,
            "mock_bytes": mock_bytes,
            "db_bytes": file_size(self.db_path),
            "db_wal_bytes": file_size(self.db_path.with_name(self.db_path.name + "-wal")),
        }
        row.update(await self.fake._on_loop(fake_sizes(self.fake)))
        if collect:
            # RSS once free heap pages are returned: what is still in use, fragmentation aside.
            row["rss_trimmed_mib"] = round(rss_mib(), 1) if malloc_trim() else float("nan")
        self.samples.append(row)
        return row

    async def tick(self) -> None:
        now = time.monotonic()
        if now >= self._next_at:
            self._next_at = now + self.every_s
            row = await self.sample("during")
            print(
                f"  t={row['t_s']:6.1f}s finished={row['jobs_finished']:5d} "
                f"rss={row['rss_mib']:.0f}MiB fds={row['fds']} threads={row['threads']} "
                f"tasks={row['tasks']} live={row['jobs_live']}",
                flush=True,
            )


class GatewayLag(logging.Filter):
    """Keeps the figures of discord.py's "Can't keep up ... behind" heartbeat warnings."""

    def __init__(self) -> None:
        super().__init__()
        self.behind_s: list[float] = []

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if "behind" in str(record.msg) and isinstance(args, tuple) and args:
            value = args[-1]
            if isinstance(value, int | float):
                self.behind_s.append(round(float(value), 1))
        return True


def growing_types(
    before: collections.Counter[str], after: collections.Counter[str], top: int = 10
) -> dict[str, int]:
    """The object types (gc-tracked) whose count grew most between two samples."""
    delta = after.copy()
    delta.subtract(before)
    return {k: v for k, v in delta.most_common(top) if v > 0}


async def wait_quiet(bot: WanBot, within_s: float) -> bool:
    """Until no job is active in the store and JobService holds none live."""
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        if not await bot.store.jobs_in(ACTIVE) and not bot.jobs.live:
            return True
        await asyncio.sleep(0.2)
    return False


def ledger_check(db_path: Path) -> dict[str, Any]:
    """From the SQLite file: states, images, and that every capture is image_cost × images."""
    with sqlite3.connect(f"file:{db_path}?mode=ro", uri=True) as db:
        states = dict(db.execute("SELECT state, COUNT(*) FROM jobs GROUP BY state").fetchall())
        images = db.execute(
            "SELECT COALESCE(SUM(images_delivered), 0) FROM jobs WHERE state = 'done'"
        ).fetchone()[0]
        captured = db.execute(
            "SELECT COALESCE(-SUM(held), 0) FROM ledger WHERE kind = 'capture'"
        ).fetchone()[0]
        held = db.execute("SELECT COALESCE(SUM(held), 0) FROM ledger").fetchone()[0]
        wrong = db.execute(
            "SELECT COUNT(*) FROM jobs j LEFT JOIN ledger l ON l.job_id = j.id AND l.kind ="
            " 'capture' WHERE j.state = 'done' AND COALESCE(-l.held, -1) != j.image_cost *"
            " j.images_delivered"
        ).fetchone()[0]
        ledger_rows = db.execute("SELECT COUNT(*) FROM ledger").fetchone()[0]
    return {
        "states": states,
        "images_delivered": images,
        "captured": captured,
        "captured_equals_cost_x_images": captured == IMAGE_COST * images,
        "jobs_with_wrong_capture": wrong,
        "held_outstanding": held,
        "ledger_rows": ledger_rows,
    }


async def soak(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    fake = FakeDiscord(ack_deadline_s=3.0)
    members = add_members(fake, args.users)
    channels = [fake.channel_id, *add_channels(fake, args.channels - 1)]
    fake.start()
    figures: dict[str, Any] = {}
    lag = GatewayLag()
    gateway_log = logging.getLogger("discord.gateway")
    gateway_log.addFilter(lag)
    try:
        with counting_logs() as logs:
            async with running_bot(
                fake, workdir, generation=GENERATION, credits=CREDITS, mock_delay=MOCK_DELAY_S
            ) as bot:
                data_dir = workdir / "data"
                db_path = workdir / "wanbot.db"
                driver = Driver(bot, fake, members, channels, args.in_flight)
                sampler = Sampler(bot, fake, driver, data_dir, db_path, every_s=args.sample_every)
                print(f"[warm-up] {args.warmup} jobs ...", flush=True)
                await driver.run(args.warmup)
                await wait_quiet(bot, 60)
                await asyncio.sleep(args.settle)
                warm_finished = driver.finished
                warm_delivered = driver.delivered_jobs, driver.delivered_images
                logs.counts.clear()
                fake.clear_violations()
                base_429 = fake.count_429
                sampler.t0 = time.monotonic()
                start = await sampler.sample("start", collect=True)
                reset_peak_rss()
                print(
                    f"[soak] {args.jobs} jobs, {args.in_flight} in flight, {args.users} members,"
                    f" {args.channels} channels ...",
                    flush=True,
                )
                t_start = time.monotonic()
                await driver.run(args.jobs, sampler.tick)
                wall = time.monotonic() - t_start
                quiet = await wait_quiet(bot, 60)
                await asyncio.sleep(args.settle)
                await driver._reap()  # tallies the last requests
                peak_rss = peak_rss_mib()
                end = await sampler.sample("end", collect=True)
                soak_done = driver.finished - warm_finished
                figures = {
                    "jobs": args.jobs,
                    "in_flight": args.in_flight,
                    "jobs_finished": soak_done,
                    "delivered_jobs": driver.delivered_jobs - warm_delivered[0],
                    "delivered_images": driver.delivered_images - warm_delivered[1],
                    "failed": driver.failed,
                    "stuck": driver.stuck,
                    "send_errors": driver.send_errors,
                    "quiet_at_end": quiet,
                    "wall_s": wall,
                    "jobs_per_s": args.jobs / wall,
                    "start": start,
                    "end": end,
                    "peak_rss_mib_vmhwm": peak_rss,
                    "count_429": fake.count_429 - base_429,
                    "violations": len(fake.violations),
                    "violation_samples": fake.violations[:5],
                    "fake_requests": driver.tally.requests,
                    "fake_requests_by_status": dict(driver.tally.by_status),
                    "fake_dropped_messages": driver.tally.dropped_messages,
                    "fake_dropped_upload_mib": driver.tally.dropped_upload_bytes / 2**20,
                    "fake_dropped_gateway_events": driver.tally.dropped_gateway_events,
                    "growing_types": growing_types(sampler.types[0], sampler.types[-1]),
                }
                figures["samples"] = sampler.samples
        figures["warnings"] = dict(logs.counts.most_common(8))
        figures["warning_count"] = sum(logs.counts.values())
    finally:
        gateway_log.removeFilter(lag)
        fake.stop()
    figures["gateway_behind_s"] = lag.behind_s
    figures["ledger"] = ledger_check(workdir / "wanbot.db")
    return figures


def slope(xs: list[float], ys: list[float]) -> float:
    """Least-squares slope of ys on xs; NaN with fewer than 3 points."""
    if len(xs) < 3:
        return float("nan")
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    sxx = sum((x - mx) ** 2 for x in xs)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sxx if sxx else 0.0


def summarise(figures: dict[str, Any]) -> None:
    samples = figures["samples"]
    start, end = figures["start"], figures["end"]
    peak = {
        k: max(s[k] for s in samples if k in s) for k in start if isinstance(start[k], int | float)
    }
    peak["rss_mib"] = max(peak["rss_mib"], figures["peak_rss_mib_vmhwm"])
    peak["rss_trimmed_mib"] = float("nan")  # measured at start and end only
    figures["peak"] = peak
    figures["end_over_start"] = {k: ratio(end[k], start[k]) for k in FLAT}
    # Growth while loaded: least-squares slope per 1000 jobs over the samples taken after the
    # first third of the soak (in flight ~constant there), for what should not grow with jobs.
    later = [
        s
        for s in samples
        if s["label"] == "during"
        and s["in_flight"] >= 0.8 * figures["in_flight"]
        and s["jobs_finished"] >= start["jobs_finished"] + figures["jobs"] / 3
    ]
    figures["slope_per_1000_jobs"] = {
        k: slope([s["jobs_finished"] for s in later], [s[k] for s in later]) * 1000
        for k in (*FLAT, "fake_tasks")
        if k != "rss_trimmed_mib"
    }
    rows = [
        [k, start[k], peak[k], end[k], figures["end_over_start"][k] if k in FLAT else "-"]
        for k in start
        if k not in ("label", "t_s")
    ]
    print()
    print(table(["figure", "start", "peak", "end", "end/start"], rows, digits=2))
    print(
        "\nslope per 1000 jobs (later samples, under load): "
        + ", ".join(f"{k} {v:+.2f}" for k, v in figures["slope_per_1000_jobs"].items())
    )
    ledger = figures["ledger"]
    jobs = figures["jobs"]
    print(
        f"\n{jobs} jobs in {figures['wall_s']:.1f} s = {figures['jobs_per_s']:.1f} jobs/s;"
        f" delivered {figures['delivered_jobs']} (images {figures['delivered_images']}),"
        f" failed {figures['failed']}, stuck {figures['stuck']},"
        f" send errors {figures['send_errors']}; 429s {figures['count_429']},"
        f" violations {figures['violations']}, warnings {figures['warning_count']}"
    )
    print(
        f"ledger (all jobs, warm-up included): states {ledger['states']}, images"
        f" {ledger['images_delivered']}, captured {ledger['captured']}"
        f" (= {IMAGE_COST} x images: {ledger['captured_equals_cost_x_images']}), jobs with a"
        f" wrong capture {ledger['jobs_with_wrong_capture']}, held {ledger['held_outstanding']}"
    )
    print(f"gc-tracked types grown most, end vs start: {figures['growing_types']}")
    if figures["warnings"]:
        print(f"warnings: {figures['warnings']}")
    if figures["gateway_behind_s"]:
        print(f"discord.py heartbeat 'behind' figures (s): {figures['gateway_behind_s']}")


async def main_async(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix="wanbot-soak-") as workdir:
        figures = await soak(args, Path(workdir))
    summarise(figures)
    params = {
        "jobs": args.jobs,
        "warmup": args.warmup,
        "in_flight": args.in_flight,
        "users": args.users,
        "channels": args.channels,
        "mock_delay_s": MOCK_DELAY_S,
        "size": "1K",
        "images_per_job": 1,
        "image_cost": IMAGE_COST,
        "generation": " ".join(GENERATION.split()),
        "pacing": "ChannelPressure (no budget of the bot's own)",
        "settle_s": args.settle,
        "note": (
            "FakeDiscord runs in the same process: RSS, fds, threads are bot + fake; the fake's"
            " per-job state is dropped once each delivery is checked"
        ),
    }
    path = record("soak", params, figures)
    print(f"\nrecorded in {path}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--jobs", type=int, default=3000)
    parser.add_argument("--warmup", type=int, default=200)
    parser.add_argument("--in-flight", type=int, default=50)
    parser.add_argument("--users", type=int, default=100)
    parser.add_argument("--channels", type=int, default=10)
    parser.add_argument("--sample-every", type=float, default=5.0)
    parser.add_argument("--settle", type=float, default=2.0, help="idle seconds before the end")
    asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    main()
