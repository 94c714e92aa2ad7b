"""How soon the bot learns a job finished, and how many status requests it spends finding out.

The real JobService (real SQLiteStore, real PixelDojoProvider client, a stub Notifier) tracks
jobs on the fake PixelDojo host. Each fake job takes its own time: three classes of nominal
3 s, 8 s and 20 s, each job's time jittered ×0.8-1.2 (seeded, the same jobs in every scenario),
all submitted at once. Scenarios, each on a fresh fake host and database:

  fixed_2s          baseline: sleep 2 s, ask, repeat (the loop in the hosts' examples), done by
                    overriding JobService._poll; everything else is the bot's own path
  adaptive_cold     the bot's loop (_poll with eta.poll_interval), no history: the 40 s first guess
  adaptive_mixed    history of 20 earlier jobs of the same size and the same mix of durations:
                    the expectation is their median (about 8 s) for every job
  adaptive_matched  history per size, and each class has its own size (1K 3 s, 2K 8 s, 4K 20 s):
                    the expectation fits each job

History is written as finished jobs into the store (through its own methods, with a clock set
back), which is what JobService reads (`recent_durations`) to form its expectation.

Lag = when the bot's status request came back saying "completed" minus when the fake's job
completed (its submission time plus its duration; one process, one monotonic clock).

  webhook           the bot's loop with `http.public_url` set: every run carries a webhook_url on
                    the bot's own HTTP listener (HttpServer + WebhookRegistry, as in the bot), the
                    fake calls it when the job ends, the job looks once; no history
  matched_budget_1  adaptive_matched under PixelDojo's default status budget (1 request a
                    second for all jobs together), to show what the budget costs in lag

Every adaptive scenario except the last runs with a status budget of POLL_RATE a second for the
host, above what any scenario asks for, so the budget does not shape the comparison with the
fixed loop (which has no budget).

Targets (issue 11), checked and printed after the table: polled tracking, cold and matched, at
a lag mean <= 0.25x the fixed poller's for <= 1.0x its requests; with webhooks, <= 0.05x the lag
for <= 0.2x the requests.

    .venv/bin/python -m bench.tracking [--per-class 5] [--seed 7]
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import random
import re
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from bench.common import mean, percentile, ratio, record, table
from bench.tracking_bound import report as bound_report
from tests.fakes.pixeldojo_server import FakeJob, FakePixelDojo
from wanbot.config import CreditsConfig, PixelDojoConfig
from wanbot.credits import CreditPolicy
from wanbot.http.hooks import WebhookRegistry
from wanbot.http.server import CallableProbe, HttpServer
from wanbot.jobs.fitting import Downloader
from wanbot.jobs.polling import PollBudget
from wanbot.jobs.ports import Delivery, JobOutcome, Progress
from wanbot.jobs.run import JobRun
from wanbot.jobs.scheduler import Limits
from wanbot.jobs.service import JobService
from wanbot.metrics import Metrics
from wanbot.providers.base import Provider
from wanbot.providers.models import GenerationRequest, JobStatus
from wanbot.providers.pixeldojo import PixelDojoProvider
from wanbot.providers.registry import FIRST_GUESS_S, ProviderSet
from wanbot.store.base import Budget, Job, NewJob, SpendCaps
from wanbot.store.sqlite import SQLiteStore

CLASSES = (("1K", 3.0), ("2K", 8.0), ("4K", 20.0))  # (size in 'matched', nominal seconds)
FIXED_INTERVAL_S = 2.0
POLL_RATE = 50.0  # status requests a second: more than any scenario asks for
HISTORY_JOBS = 20
_DURATION = re.compile(r"dur=([0-9.]+)")


class TimedPixelDojo(FakePixelDojo):
    """The fake host; each job's duration comes from its prompt, its status calls are counted."""

    def __init__(self) -> None:
        super().__init__(result_size=(64, 64))
        self.durations: dict[str, float] = {}
        self.status_calls: collections.Counter[str] = collections.Counter()

    async def _run(self, request: web.Request) -> web.Response:
        response = await super()._run(request)
        if response.status < 300 and isinstance(response.body, bytes):
            job_id = json.loads(response.body)["jobId"]
            match = _DURATION.search(self.jobs[job_id].body["prompt"])
            self.durations[job_id] = float(match[1]) if match else 0.2
        return response

    async def _job(self, request: web.Request) -> web.Response:
        self.status_calls[request.match_info["job_id"]] += 1
        return await super()._job(request)

    def duration_of(self, job: FakeJob) -> float:
        return self.durations.get(job.id, 0.2)

    def completed_at(self, job_id: str) -> float:
        return self.jobs[job_id].created + self.durations[job_id]


class LearningPixelDojo(PixelDojoProvider):
    """The real client; notes when a status request first came back terminal."""

    learned: dict[str, float]

    async def get_status(self, job_id: str) -> JobStatus:
        status = await super().get_status(job_id)
        if status.state.terminal:
            self.learned.setdefault(job_id, time.monotonic())
        return status


class StubNotifier:
    """The Notifier port without Discord: notes deliveries and failures."""

    def __init__(self) -> None:
        self.delivered: dict[str, float] = {}
        self.failed: dict[str, str] = {}
        self.progress_edits = 0

    async def show_progress(self, job: Job, progress: Progress) -> None:
        self.progress_edits += 1

    async def deliver(self, job: Job, delivery: Delivery) -> list[int]:
        self.delivered[job.id] = time.monotonic()
        return [1]

    async def show_failure(self, job: Job, outcome: JobOutcome) -> None:
        self.failed[job.id] = outcome.log_text


class FixedPollRun(JobRun):
    """The baseline tracking loop: a fixed 2 s poll."""

    async def _poll(self, provider: Provider, provider_job_id: str) -> JobStatus:
        while True:
            await asyncio.sleep(FIXED_INTERVAL_S)
            status = await provider.get_status(provider_job_id)
            if status.state.terminal:
                return status


class FixedPollService(JobService):
    """The baseline: JobService with each job's tracking loop replaced by a fixed 2 s poll."""

    run_class = FixedPollRun


@dataclass
class Scenario:
    name: str
    service: type[JobService]
    history: str  # none, mixed, matched
    matched_sizes: bool
    poll_rate: float = 0.0  # the host's status budget (0: POLL_RATE)
    webhook: bool = False
    figures: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Plan:
    cls: int  # index into CLASSES
    seconds: float


def new_job(index: int, request: GenerationRequest, now: float) -> NewJob:
    return NewJob(
        id=uuid.uuid4().hex,
        kind="imagine",
        guild_id=1,
        channel_id=2,
        user_id=1000 + index,
        application_id=3,
        interaction_token=f"token-{index}",
        token_expires_at=now + 900,
        request=request,
        provider="pixeldojo",
        image_cost=2,
        deadline_at=now + 600,
    )


async def seed_history(path: Path, durations: list[tuple[str, float]]) -> None:
    """Write finished jobs (size, seconds from submission to result) as the bot would have."""
    clock = [time.time() - 3600.0]
    store = await SQLiteStore.open(path, clock=lambda: clock[0])
    budget = Budget(allowance=1_000_000, period_key="bench")
    try:
        for i, (size, seconds) in enumerate(durations):
            request = GenerationRequest(prompt=f"earlier {i}", size=size, seed=i)
            job = new_job(10_000 + i, request, clock[0])
            await store.admit_job(job, budget, SpendCaps(day_start=0.0), 100)
            await store.mark_submitting(job.id)
            await store.mark_running(job.id, "pixeldojo", f"old-{i}")
            clock[0] += seconds
            await store.mark_delivering(job.id, ["https://example.invalid/x.png"], 2.0)
            await store.settle_delivered(job.id, [1], 1)
            clock[0] += 60.0
    finally:
        await store.close()


async def run_scenario(
    scenario: Scenario, plans: list[Plan], history_rng: random.Random, workdir: Path
) -> dict[str, Any]:
    folder = workdir / scenario.name
    folder.mkdir()
    db = folder / "wanbot.db"

    def size_of(cls: int) -> str:
        return CLASSES[cls][0] if scenario.matched_sizes else "2K"

    if scenario.history != "none":
        if scenario.history == "matched":  # a full history for each size on its own
            classes = [cls for cls in range(len(CLASSES)) for _ in range(HISTORY_JOBS)]
        else:  # one size, the three classes in turn
            classes = [i % len(CLASSES) for i in range(HISTORY_JOBS)]
        past = [(size_of(cls), CLASSES[cls][1] * history_rng.uniform(0.8, 1.2)) for cls in classes]
        await seed_history(db, past)

    host = TimedPixelDojo()
    await host.start()
    store = await SQLiteStore.open(db)
    notifier = StubNotifier()
    hooks = WebhookRegistry()
    probe = CallableProbe(lambda: True, lambda: True, lambda: True)
    listener = HttpServer("127.0.0.1", 0, metrics=Metrics(), probe=probe, hooks=hooks)
    await listener.start()
    try:
        async with aiohttp.ClientSession() as session:
            provider = LearningPixelDojo(
                PixelDojoConfig(base_url=host.base_url), api_key=host.api_key, session=session
            )
            provider.learned = {}
            service = scenario.service(
                store=store,
                providers=ProviderSet(
                    providers={"pixeldojo": provider},
                    default="pixeldojo",
                    expected_s=dict(FIRST_GUESS_S),
                ),
                notifier=notifier,
                downloader=Downloader(session),
                credits=CreditPolicy(CreditsConfig(allowance=1_000_000)),
                limits=Limits(total=64, per_provider=64, per_user=64),
                data_dir=folder / "data",
                polls=PollBudget({"pixeldojo": scenario.poll_rate or POLL_RATE}),
                hooks=hooks if scenario.webhook else None,
                public_url=listener.base_url if scenario.webhook else "",
            )
            await service.start()
            ids: list[tuple[str, Plan]] = []
            admitted: list[NewJob] = []
            try:
                now = time.time()
                for i, plan in enumerate(plans):
                    request = GenerationRequest(
                        prompt=f"bench job {i} dur={plan.seconds:.3f}",
                        size=size_of(plan.cls),
                        seed=i,
                    )
                    job = new_job(i, request, now)
                    await store.admit_job(
                        job,
                        Budget(allowance=1_000_000, period_key="bench"),
                        SpendCaps(day_start=0.0),
                        64,
                    )
                    ids.append((job.id, plan))
                    admitted.append(job)
                for new in admitted:
                    await service.enqueue(new, 1)
                deadline = time.monotonic() + 120
                while len(notifier.delivered) + len(notifier.failed) < len(ids):
                    if time.monotonic() > deadline:
                        raise RuntimeError(f"{scenario.name}: jobs not finished in 120 s")
                    await asyncio.sleep(0.1)
            finally:
                await service.stop()
            jobs = {job_id: await store.get_job(job_id) for job_id, _ in ids}
    finally:
        await store.close()
        await listener.stop()
        await host.stop()

    lags: list[float] = []
    deliver_lags: list[float] = []
    requests: list[int] = []
    by_class: dict[int, list[tuple[float, int]]] = collections.defaultdict(list)
    for job_id, plan in ids:
        stored = jobs[job_id]
        assert stored is not None and stored.provider_job_id is not None, stored
        host_id = stored.provider_job_id
        lag = provider.learned[host_id] - host.completed_at(host_id)
        calls = host.status_calls[host_id]
        lags.append(lag)
        requests.append(calls)
        by_class[plan.cls].append((lag, calls))
        if job_id in notifier.delivered:
            deliver_lags.append(notifier.delivered[job_id] - host.completed_at(host_id))
    return {
        "jobs": len(ids),
        "failed": len(notifier.failed),
        "lag_mean_s": mean(lags),
        "lag_p95_s": percentile(lags, 95),
        "lag_max_s": max(lags),
        "lag_min_s": min(lags),
        "deliver_lag_mean_s": mean(deliver_lags),
        "requests_per_job": mean([float(r) for r in requests]),
        "requests_total": sum(requests),
        "by_class": {
            f"{CLASSES[cls][1]:g}s": {
                "lag_mean_s": mean([lag for lag, _ in rows]),
                "requests_per_job": mean([float(c) for _, c in rows]),
            }
            for cls, rows in sorted(by_class.items())
        },
    }


# scenario -> (lag mean x fixed at most, requests x fixed at most)
TARGETS: dict[str, tuple[float, float]] = {
    "adaptive_cold": (0.25, 1.0),
    "adaptive_matched": (0.25, 1.0),
    "webhook": (0.05, 0.2),
}


def target_report(figures: dict[str, dict[str, Any]]) -> list[str]:
    """One line per target: the ratios measured against the ratios asked, and whether met."""
    lines = []
    for name, (lag_at_most, requests_at_most) in TARGETS.items():
        f = figures.get(name)
        if f is None:
            lines.append(f"{name}: not measured")
            continue
        lag, requests = f["lag_mean_ratio"], f["requests_ratio"]
        met = lag <= lag_at_most and requests <= requests_at_most
        f["target_met"] = met
        lines.append(
            f"{name}: lag {lag:.2f}x (target <= {lag_at_most}x), requests {requests:.2f}x"
            f" (target <= {requests_at_most}x): {'met' if met else 'NOT met'}"
        )
    return lines


async def main_async(args: argparse.Namespace) -> None:
    rng = random.Random(args.seed)
    plans = [
        Plan(cls, nominal * rng.uniform(0.8, 1.2))
        for cls, (_, nominal) in enumerate(CLASSES)
        for _ in range(args.per_class)
    ]
    scenarios = [
        Scenario("fixed_2s", FixedPollService, "mixed", matched_sizes=False),
        Scenario("adaptive_cold", JobService, "none", matched_sizes=False),
        Scenario("adaptive_mixed", JobService, "mixed", matched_sizes=False),
        Scenario("adaptive_matched", JobService, "matched", matched_sizes=True),
        Scenario("webhook", JobService, "none", matched_sizes=False, webhook=True),
        Scenario("matched_budget_1", JobService, "matched", matched_sizes=True, poll_rate=1.0),
    ]
    with tempfile.TemporaryDirectory(prefix="wanbot-bench-") as workdir:
        for scenario in scenarios:
            print(f"[{scenario.name}] {len(plans)} jobs ...", flush=True)
            history_rng = random.Random(args.seed + 1)
            scenario.figures = await run_scenario(scenario, plans, history_rng, Path(workdir))
    base = scenarios[0].figures
    rows = []
    for s in scenarios:
        f = s.figures
        f["lag_mean_ratio"] = ratio(f["lag_mean_s"], base["lag_mean_s"])
        f["lag_p95_ratio"] = ratio(f["lag_p95_s"], base["lag_p95_s"])
        f["requests_ratio"] = ratio(f["requests_per_job"], base["requests_per_job"])
        classes = f["by_class"]
        rows.append(
            [
                s.name,
                f["lag_mean_s"],
                f["lag_p95_s"],
                f["lag_max_s"],
                f["lag_mean_ratio"],
                f["lag_p95_ratio"],
                f["requests_per_job"],
                f["requests_ratio"],
                " / ".join(f"{c['lag_mean_s']:.2f}" for c in classes.values()),
                " / ".join(f"{c['requests_per_job']:.1f}" for c in classes.values()),
                f["failed"],
            ]
        )
    print()
    print(
        table(
            [
                "scenario",
                "lag mean s",
                "lag p95 s",
                "lag max s",
                "mean ×fixed",
                "p95 ×fixed",
                "req/job",
                "req ×fixed",
                "lag by class 3/8/20 s",
                "req by class",
                "failed",
            ],
            rows,
            digits=2,
        )
    )
    print()
    print("\n".join(target_report({sc.name: sc.figures for sc in scenarios})))
    cold_lag_target, _ = TARGETS["adaptive_cold"]
    told = bound_report([c[1] for c in CLASSES], FIXED_INTERVAL_S, cold_lag_target)
    print(
        "bound for a tracker told the distribution in advance (bench.tracking_bound; ratios to the"
        f" fixed loop on that distribution): at its requests, lag"
        f" {told['lag_ratio_at_fixed_requests']:.2f}x at least; lag {cold_lag_target}x needs"
        f" {told['requests_ratio_for_target_lag']:.2f}x its requests at least"
    )
    params = {
        "classes_s": [c[1] for c in CLASSES],
        "jitter": "x0.8-1.2",
        "per_class": args.per_class,
        "seed": args.seed,
        "durations_s": [round(p.seconds, 3) for p in plans],
        "fixed_interval_s": FIXED_INTERVAL_S,
        "history_jobs": HISTORY_JOBS,
        "first_guess_s": FIRST_GUESS_S["pixeldojo"],
        "poll_rate_per_s": POLL_RATE,
        "scenarios": {
            sc.name: {"history": sc.history, "webhook": sc.webhook, "poll_rate": sc.poll_rate}
            for sc in scenarios
        },
    }
    results: dict[str, Any] = {s.name: s.figures for s in scenarios}
    results["bound_told_distribution"] = told
    path = record("tracking", params, results)
    print(f"\nrecorded in {path}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--per-class", type=int, default=5)
    parser.add_argument("--seed", type=int, default=7)
    asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    main()
