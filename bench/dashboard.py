"""The dashboard picture from real data: drive the bot through a few minutes of varied load, scrape
its /metrics every second, and draw the Grafana dashboard's panels into docs/dashboard.png.

The whole bot (`open_bot`, real discord.py, its real HTTP server) runs against the fake Discord
and the fake PixelDojo (the real PixelDojo client, so the host balance comes from each
submission's `creditsRemaining`). Each fake job takes its own time, drawn from a long-tailed
distribution. The load, in phases:

    steady      members ask for 1-2 images now and then; a few ask for what PixelDojo refuses
    burst       many at once: the queue builds and drains
    429s        Discord answers some message requests with 429 for a while
    host down   every job fails at the host (credits given back)
    cancels     members cancel a share of their jobs while they run
    top-up      the operator tops the host balance up again; steady load
    quiet       nothing new; the last jobs finish

    .venv/bin/python -m bench.dashboard                # about 4 minutes
    .venv/bin/python -m bench.dashboard --scale 0.5    # the same phases, half as long
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import json
import random
import re
import tempfile
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
from aiohttp import web

from bench.botrun import add_members, counting_logs
from bench.common import git_commit, tree_changes
from bench.panels import Scrape, parse, render
from cogs.client import WanBot
from tests.e2e.harness import running_bot
from tests.fakes.discord_server import FakeDiscord
from tests.fakes.pixeldojo_server import FakePixelDojo
from wanbot.store.base import JobPhase

ROOT = Path(__file__).resolve().parent.parent
HOST_CREDITS = 500
LOW_BALANCE = 250
TOP_UP = 600
MEMBERS = 30
SCRAPE_EVERY_S = 1.0
RATE_WINDOW_S = 30.0
SHOWN = re.compile(r"wanbot_(jobs_total|credits_spent_total|discord_429_total|host_balance)$")


@dataclass(frozen=True)
class Phase:
    name: str
    seconds: float
    jobs_per_s: float
    cancel_share: float = 0.0


PHASES = (
    Phase("steady", 30, 0.5),
    Phase("burst", 30, 2.2),
    Phase("429s", 30, 0.6),
    Phase("host down", 30, 0.6),
    Phase("cancels", 30, 0.6, cancel_share=0.35),
    Phase("top-up", 30, 0.6),
    Phase("quiet", 35, 0.0),
)


class VariedPixelDojo(FakePixelDojo):
    """Each job takes its own time (median ~6 s, a long tail), like a real host's queue."""

    def __init__(self) -> None:
        super().__init__(credits=HOST_CREDITS, credit_cost=2)
        self.durations: dict[str, float] = {}

    async def _job(self, request: web.Request) -> web.Response:
        job_id = request.match_info["job_id"]
        # Read synchronously by the base handler before its first await.
        self.job_duration_s = self.durations.setdefault(job_id, random.lognormvariate(1.8, 0.45))
        return await super()._job(request)


class Load:
    """Sends /imagine through the fake Discord as the phases say, and acts as members would."""

    def __init__(self, fake: FakeDiscord, bot: WanBot, members: list[str]) -> None:
        self.fake = fake
        self.bot = bot
        self.members = members
        self.sent = 0
        self._tasks: set[asyncio.Task[None]] = set()

    def imagine(self, cancel: bool) -> None:
        task = asyncio.create_task(self._one(cancel))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _one(self, cancel: bool) -> None:
        self.sent += 1
        options: dict[str, object] = {
            "prompt": f"load {self.sent}",
            "size": "1K",
            "n": random.choice((1, 1, 2)),
        }
        if random.random() < 0.07:
            options["negative_prompt"] = "blur"  # PixelDojo can't: refused, nothing charged
        member = random.choice(self.members)
        handle = await self.fake.slash("imagine", options, user=member)
        if not cancel:
            return
        await asyncio.sleep(random.uniform(1.0, 3.0))
        for job in await self.bot.store.jobs_in([JobPhase.QUEUED, JobPhase.RUNNING]):
            if job.for_interaction(handle.token) and job.placeholder_message_id is not None:
                custom_id = f"wanbot:cancel:{job.id}"
                await self.fake.click(job.placeholder_message_id, custom_id, user=member)

    async def drain(self) -> None:
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)


async def scrape_forever(url: str, started: float, into: list[Scrape]) -> None:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as session:
        while True:
            at = time.monotonic() - started
            async with session.get(url) as resp:
                into.append(Scrape(at, parse(await resp.text())))
            await asyncio.sleep(max(0.0, SCRAPE_EVERY_S - (time.monotonic() - started - at)))


@dataclass
class Rig:
    fake: FakeDiscord
    pixeldojo: VariedPixelDojo
    metrics_url: str
    load: Load


@contextlib.asynccontextmanager
async def bot_under_load(workdir: Path) -> AsyncIterator[Rig]:
    fake = FakeDiscord()
    members = add_members(fake, MEMBERS)
    fake.start()
    try:
        async with VariedPixelDojo() as pixeldojo:
            toml = f"""
[http]
listen = "127.0.0.1:0"

[providers.pixeldojo]
base_url = "{pixeldojo.base_url}"
low_balance = {LOW_BALANCE}

[credits]
allowance = 1000
"""
            async with running_bot(
                fake,
                workdir,
                extra_toml=toml,
                env={"PIXELDOJO_API_KEY": pixeldojo.api_key},
                generation='provider = "pixeldojo"\nmax_jobs_per_provider = 8',
            ) as h:
                server = h.bot.operations.server
                assert server is not None
                load = Load(fake, h.bot, members)
                yield Rig(fake, pixeldojo, server.base_url + "/metrics", load)
    finally:
        fake.stop()


async def drive(scale: float) -> tuple[list[Scrape], list[tuple[float, float, str]]]:
    scrapes: list[Scrape] = []
    timeline: list[tuple[float, float, str]] = []
    with tempfile.TemporaryDirectory() as tmp, counting_logs():
        async with bot_under_load(Path(tmp)) as rig:
            started = time.monotonic()
            scraper = asyncio.create_task(scrape_forever(rig.metrics_url, started, scrapes))
            for phase in PHASES:
                begin = time.monotonic() - started
                await run_phase(phase, scale, rig)
                timeline.append((begin, time.monotonic() - started, phase.name))
            await rig.load.drain()
            scraper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await scraper
    return scrapes, timeline


async def run_phase(phase: Phase, scale: float, rig: Rig) -> None:
    fake, pixeldojo, load = rig.fake, rig.pixeldojo, rig.load
    seconds = phase.seconds * scale
    if phase.name == "host down":
        pixeldojo.fail_jobs = "generation_failed"
    if phase.name == "429s":
        # Some message requests answered 429 with a short Retry-After (discord.py waits it out).
        for _ in range(int(40 * scale)):
            fake.rest_faults.append(("/messages/", 429, random.uniform(0.2, 1.0)))
    if phase.name == "top-up":
        pixeldojo.credits += TOP_UP
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if phase.jobs_per_s <= 0:
            await asyncio.sleep(min(1.0, end - time.monotonic()))
            continue
        load.imagine(cancel=random.random() < phase.cancel_share)
        await asyncio.sleep(
            min(random.expovariate(phase.jobs_per_s), max(0.0, end - time.monotonic()))
        )
    if phase.name == "host down":
        pixeldojo.fail_jobs = None
    if phase.name == "429s":
        fake.rest_faults.clear()


def save(path: Path, run: Run) -> None:
    record = {
        "meta": run.meta,
        "timeline": run.timeline,
        "scrapes": [
            {
                "t": s.t,
                "values": [[name, list(labels), v] for (name, labels), v in s.values.items()],
            }
            for s in run.scrapes
        ],
    }
    path.write_text(json.dumps(record))


def load(path: Path) -> Run:
    record = json.loads(path.read_text())
    scrapes = [
        Scrape(
            s["t"],
            {
                (name, tuple((k, v) for k, v in labels)): value
                for name, labels, value in s["values"]
            },
        )
        for s in record["scrapes"]
    ]
    timeline = [(float(a), float(b), str(c)) for a, b, c in record["timeline"]]
    return Run(scrapes, timeline, record["meta"])


@dataclass
class Run:
    scrapes: list[Scrape]
    timeline: list[tuple[float, float, str]]
    meta: dict[str, str]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scale", type=float, default=1.0, help="phase lengths x this")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "dashboard.png")
    parser.add_argument("--seed", type=int, default=12, help="random seed for the load")
    parser.add_argument("--save", type=Path, help="also keep the scrapes in this JSON file")
    parser.add_argument("--from", dest="source", type=Path, help="draw saved scrapes; no run")
    args = parser.parse_args()
    if args.source is not None:
        run = load(args.source)
    else:
        random.seed(args.seed)
        scrapes, timeline = asyncio.run(drive(args.scale))
        changed = " with uncommitted changes" if tree_changes() else ""
        run = Run(
            scrapes,
            timeline,
            {
                "when": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
                "commit": f"{git_commit()}{changed}",
            },
        )
        if args.save is not None:
            save(args.save, run)
    minutes = run.timeline[-1][1] / 60
    subtitle = (
        f"Drawn by bench/dashboard.py from {len(run.scrapes)} scrapes of the bot's own /metrics "
        f"(one a second), {run.meta['when']}, commit {run.meta['commit']}: the whole bot against "
        f"the fake Discord and fake PixelDojo, {MEMBERS} members. The queries of "
        f"deploy/grafana/wanbot.json, with rates over {RATE_WINDOW_S:g} s rather than 5 min "
        f"to fit a {minutes:.0f}-minute run."
    )
    render(
        run.scrapes,
        args.out,
        window_s=RATE_WINDOW_S,
        phases=run.timeline,
        low_balance=LOW_BALANCE,
        subtitle=subtitle,
    )
    print(f"{len(run.scrapes)} scrapes; wrote {args.out}")
    last = run.scrapes[-1].values
    for key in sorted(last):
        if SHOWN.match(key[0]):
            print(f"  {key[0]}{dict(key[1])} = {last[key]:g}")


if __name__ == "__main__":
    main()
