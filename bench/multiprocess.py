"""Jobs per second through 1, 2 and 4 real bot.py processes on one PostgreSQL database.

Each phase: a fresh PostgreSQL schema; the fake Discord in a process of its own
(tests/fakes/discord_runner.RemoteDiscord) with 4 servers on `n` shards (server i on shard i % n);
`n` bot.py subprocesses, process i running shard i of n; the fake PixelDojo, in a thread of the
benchmark's process, with a FIXED RATE LIMIT (at most --host-rate accepted submissions per
second, 429 with Retry-After above that) and jobs of --job-seconds. After one warm-up job per
server, --jobs /imagine are sent at once, spread over --users members and the 4 servers.
Throughput = jobs / (last image posted - first send). Then the phase is checked: each job
submitted once, delivered once, one hold, one capture, one release, every member's balance exact.

    .venv/bin/python -m bench.multiprocess [--processes 1 2 4] [--jobs 120] [--host-rate 3]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.common import load_average, ratio, record, table
from bench.mp_checks import check_phase
from bench.rate_host import RateLimitedHost
from tests import pg
from tests.e2e.harness import write_config
from tests.e2e.pg_processes import real_jobs, seed_history
from tests.e2e.subprocess_bot import BotProcess
from tests.fakes.discord_runner import RemoteDiscord, SlashCall
from tests.fakes.pixeldojo_server import FakePixelDojo
from tests.store.backends import PostgresPlace

SERVERS = 4  # server i sits on shard i % n for n = 1, 2, 4
ALLOWANCE = 1000
IMAGE_COST = 2
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Settings:
    jobs: int
    users: int
    host_rate: int
    job_seconds: float
    per_process: int
    timeout_s: float

    def generation(self) -> str:
        return (
            'provider = "pixeldojo"\n'
            f"max_concurrent_jobs = {self.per_process}\n"
            f"max_jobs_per_provider = {self.per_process}\n"
            "max_running_per_user = 2\nmax_queued_per_user = 10\n"
        )


def process_config(
    tmp: Path,
    remote: RemoteDiscord,
    host_url: str,
    url: str,
    shard: int,
    settings: Settings,
    count: int,
) -> Path:
    extra = (
        f'[providers.pixeldojo]\nbase_url = "{host_url}"\n\n[logging]\nlevel = "INFO"\n\n'
        f"[credits]\nallowance = {ALLOWANCE}\nimage_cost = {IMAGE_COST}\n"
    )
    folder = tmp / f"shard{shard}"
    folder.mkdir()
    text = write_config(folder, remote, extra, generation=settings.generation()).read_text()
    text, found = re.subn(r'url = "sqlite:///[^"]*"', lambda _: f'url = "{url}"', text)
    assert found == 1, text
    shards = f"shard_count = {count}\nshard_ids = [{shard}]\n"
    return _written(folder / "bot.toml", text.replace("[discord]\n", f"[discord]\n{shards}", 1))


def _written(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (0 once it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


async def wait_until(check: Any, what: str, within_s: float, bots: list[BotProcess]) -> None:
    deadline = time.monotonic() + within_s
    while not await check():
        dead = [b for b in bots if b.proc is not None and not b.running]
        if dead:
            raise RuntimeError(f"a bot process exited before {what}\n{dead[0].tail()}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out waiting for {what}\n{bots[0].tail()}")
        await asyncio.sleep(0.2)


async def start_bots(remote: RemoteDiscord, bots: list[BotProcess]) -> None:
    """Shard 0's process first (it syncs the commands), then the others together."""
    for group in (bots[:1], bots[1:]):
        before = await remote.identify_count()
        for bot in group:
            bot.start()

        async def connected(group: list[BotProcess] = group, before: int = before) -> bool:
            return (
                await remote.identify_count() >= before + len(group)
                and "imagine" in await remote.command_names()
                and all("has connected to Gateway" in b.current_log() for b in group)
            )

        await wait_until(connected, "the processes to connect", 60, bots)
    await asyncio.sleep(0.5)  # READY is followed by GUILD_CREATE: let each handle it


async def wait_finished(place: PostgresPlace, count: int, within_s: float) -> bool:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        jobs = await real_jobs(place)
        if len(jobs) >= count and all(j["state"] in ("done", "failed", "cancelled") for j in jobs):
            return True
        await asyncio.sleep(0.25)
    return False


async def run_phase(n: int, settings: Settings, dsn: str, workdir: Path) -> dict[str, Any]:
    tmp = workdir / f"p{n}"
    tmp.mkdir()
    remote = RemoteDiscord(members=settings.users, shard_count=n, guilds=SERVERS)
    host = RateLimitedHost(
        rate=settings.host_rate, window_s=1.0, job_duration_s=settings.job_seconds
    )
    place = await PostgresPlace.create(dsn)
    bots: list[BotProcess] = []
    try:
        remote.start()
        host.start()
        await seed_history(place, seconds=settings.job_seconds)
        env = {"DISCORD_TOKEN": remote.token, "PIXELDOJO_API_KEY": FakePixelDojo.api_key}
        for shard in range(n):
            config = process_config(tmp, remote, host.base_url, place.url, shard, settings, n)
            bots.append(BotProcess(config, env, tmp / f"shard{shard}.log"))
        await start_bots(remote, bots)
        channels = list(remote.info.guild_channels.values())
        warm: list[SlashCall] = [
            ("imagine", {"prompt": f"warm-up {i}", "size": "2K"}, "alice", c)
            for i, c in enumerate(channels)
        ]
        await remote.slash_many(warm)
        if not await wait_finished(place, len(warm), 60):
            raise RuntimeError(f"the warm-up jobs did not finish\n{bots[0].tail()}")
        calls: list[SlashCall] = [
            (
                "imagine",
                {"prompt": f"burst job {i}", "size": "2K"},
                f"member{i % settings.users}",
                channels[i % len(channels)],
            )
            for i in range(settings.jobs)
        ]
        cpu_before = [cpu_seconds(b.pid) for b in bots]
        load_before = load_average()
        first_send = time.time()
        await remote.slash_many(calls)
        finished = await wait_finished(place, len(warm) + settings.jobs, settings.timeout_s)
        wall_s = time.time() - first_send
        cpu = [cpu_seconds(b.pid) - c for b, c in zip(bots, cpu_before, strict=True)]
        figures = await measure(place, remote, first_send, settings)
        tally = host.tally()
        check = await check_phase(place, await remote.requests(), tally, allowance=ALLOWANCE)
        pids = {b.pid: i for i, b in enumerate(bots)}
        by_process = [0] * n
        for job in await real_jobs(place):
            worker = re.search(r":(\d+):", str(job["worker_id"]))
            if worker and int(worker[1]) in pids:
                by_process[pids[int(worker[1])]] += 1
        in_burst = tally.accepted_at[len(warm) :]
        host_rate = (len(in_burst) - 1) / (in_burst[-1] - in_burst[0]) if len(in_burst) > 1 else 0.0
        figures.update(
            processes=n,
            finished_in_time=finished,
            wall_s=wall_s,
            bot_cpu_s=cpu,
            bot_cores_used=sum(cpu) / wall_s,
            host_429=tally.rate_limited,
            host_run_requests=tally.run_requests,
            host_status_requests=tally.status_requests,
            host_accepted_per_s=host_rate,
            jobs_by_finishing_process=by_process,
            shard_sessions=await remote.shard_sessions(),
            load_average_before=load_before,
            load_average_after=load_average(),
            ledger=check.summary(),
        )
        for bot in bots:
            figures.setdefault("exit_codes", []).append(await bot.terminate(20))
        return figures
    finally:
        for bot in bots:
            bot.close()
        remote.stop()
        host.stop()
        await place.drop()


async def measure(
    place: PostgresPlace, remote: RemoteDiscord, first_send: float, settings: Settings
) -> dict[str, Any]:
    jobs = [j for j in await real_jobs(place) if "burst job" in j["request_json"]]
    done = [j for j in jobs if j["state"] == "done" and j["message_ids_json"]]
    messages = await remote.messages([json.loads(j["message_ids_json"])[0] for j in done])
    posted = sorted(
        (m.edited_at or m.filled_at or m.created_at) - first_send for m in messages if m.attachments
    )
    last = posted[-1] if posted else float("nan")
    return {
        "jobs": settings.jobs,
        "delivered": len(posted),
        "failed": sum(1 for j in jobs if j["state"] == "failed"),
        "first_image_s": posted[0] if posted else float("nan"),
        "last_image_s": last,
        "jobs_per_s": len(posted) / last if posted else 0.0,
    }


def report(results: list[dict[str, Any]], settings: Settings) -> str:
    base = results[0]["jobs_per_s"]
    rows = []
    for f in results:
        f["ratio"] = ratio(f["jobs_per_s"], base)
        f["share_of_host_limit"] = f["jobs_per_s"] / settings.host_rate
        ledger = f["ledger"]
        rows.append(
            [
                f["processes"],
                f"{f['delivered']}/{f['jobs']}",
                f["failed"],
                f["last_image_s"],
                f["jobs_per_s"],
                f["ratio"],
                f["share_of_host_limit"],
                f["host_429"],
                f["bot_cores_used"],
                "/".join(str(x) for x in f["jobs_by_finishing_process"]),
                "exact" if ledger["exact"] else "WRONG",
                f"{f['load_average_before'][0]:.1f}" if f["load_average_before"] else "-",
            ]
        )
    headers = [
        "processes",
        "delivered",
        "failed",
        "last image s",
        "jobs/s",
        "× 1 process",
        "× host limit",
        "host 429s",
        "bot cores",
        "jobs per process",
        "ledger",
        "load",
    ]
    lines = [table(headers, rows, digits=2)]
    for f in results:
        lines.append(f"[{f['processes']} processes] ledger: {json.dumps(f['ledger'])}")
    return "\n".join(lines)


async def main_async(args: argparse.Namespace) -> None:
    settings = Settings(
        jobs=args.jobs,
        users=args.users,
        host_rate=args.host_rate,
        job_seconds=args.job_seconds,
        per_process=args.per_process,
        timeout_s=args.timeout,
    )
    dsn = await pg.create_database(pg.ensure_server(), prefix="wanbot_bench")
    results = []
    try:
        with tempfile.TemporaryDirectory(prefix="wanbot-bench-") as workdir:
            for n in args.processes:
                print(
                    f"[{n} processes] {settings.jobs} /imagine over {SERVERS} servers", flush=True
                )
                results.append(await run_phase(n, settings, dsn, Path(workdir)))
                print(f"  {results[-1]['jobs_per_s']:.2f} jobs/s", flush=True)
    finally:
        await pg.drop_database(pg.server_dsn(), dsn)
    print()
    print(report(results, settings))
    if args.no_record:
        return
    params = {
        **vars(settings),
        "servers": SERVERS,
        "host_window_s": 1.0,
        "allowance": ALLOWANCE,
        "image_cost": IMAGE_COST,
        "note": "bot.py subprocesses on one PostgreSQL, fake Discord in its own process,"
        " rate-limited fake PixelDojo in a thread of the benchmark",
    }
    path = record("multiprocess", params, {f"{r['processes']}p": r for r in results})
    print(f"\nrecorded in {path}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--processes", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--jobs", type=int, default=120, help="jobs per phase (after warm-up)")
    parser.add_argument("--users", type=int, default=40, help="members sending them")
    parser.add_argument(
        "--host-rate", type=int, default=3, help="the host's limit: submissions per second"
    )
    parser.add_argument("--job-seconds", type=float, default=1.5, help="each job on the host")
    parser.add_argument(
        "--per-process", type=int, default=4, help="max_concurrent_jobs of each process"
    )
    parser.add_argument("--timeout", type=float, default=120.0, help="per phase, after sending")
    parser.add_argument("--no-record", action="store_true", help="print only")
    asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    main()
