"""Ledger throughput on a real SQLite file: job admissions and settlements from N coroutines.

One SQLiteStore (one connection, WAL, as the bot opens it) on a fresh file per N. Each of N
coroutines repeats, for members taken in turn from 50, one job's ledger life as JobService drives
it: admit_job_paid (refill if due, choose the payer, hold), mark_submitting, mark_running,
mark_delivering, settle_delivered (capture, release): five transactions, "one cycle". The credit
policy is the bot's own (daily refill, no spend caps). With --wallet, every member has a role
whose team wallet pays for every job (one wallet's ledger takes every entry). Baseline: N = 1.
Runs are repeated in interleaved rounds (1, 8, 32, then 32, 8, 1, ...) and the median per N is
reported.

    .venv/bin/python -m bench.ledger [--seconds 4] [--rounds 3] [--concurrency 1 8 32] [--wallet]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import sqlite3
import statistics
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from bench.common import load_average, percentile, ratio, record, table
from wanbot.config import CreditsConfig
from wanbot.credits import CreditPolicy, period_keys
from wanbot.providers.models import GenerationRequest
from wanbot.store.base import NewJob, NewWallet
from wanbot.store.sqlite import SQLiteStore

TX_PER_CYCLE = 5
GUILD_ID = 1
REQUEST = GenerationRequest(prompt="ledger bench", size="1K", n=2, seed=1)
TEAM_ROLE = 7


async def cycle(
    store: SQLiteStore,
    policy: CreditPolicy,
    member: int,
    max_queued: int,
    roles: tuple[int, ...] = (),
) -> None:
    now = time.time()
    job = NewJob(
        id=uuid.uuid4().hex,
        kind="imagine",
        guild_id=GUILD_ID,
        channel_id=2,
        user_id=member,
        application_id=3,
        interaction_token="token",
        token_expires_at=now + 900,
        request=REQUEST,
        provider="mock",
        image_cost=2,
        deadline_at=now + 600,
    )
    terms = policy.wallet_terms(now, roles)
    await store.admit_job_paid(job, policy.budget(now), policy.caps(now), max_queued, terms)
    await store.mark_submitting(job.id)
    await store.mark_running(job.id, "mock", f"mock-{job.id}")
    await store.mark_delivering(job.id, ["file:///dev/null"], 0.0)
    await store.settle_delivered(job.id, [1], 1)  # one of two images: capture one, release one


async def run(
    concurrency: int, members: int, seconds: float, folder: Path, wallet: bool
) -> dict[str, Any]:
    path = folder / f"ledger-{concurrency}.db"
    store = await SQLiteStore.open(path)
    policy = CreditPolicy(CreditsConfig(allowance=1_000_000_000, period="daily"))
    roles = (TEAM_ROLE,) if wallet else ()
    turn = itertools.count()
    latencies: list[float] = []
    try:
        if wallet:
            team = NewWallet("t" * 32, GUILD_ID, "Team", TEAM_ROLE, 1_000_000_000, "daily", 1)
            await store.create_wallet(team, period_keys(time.time()))
        for m in range(members):  # warm-up: every member's first refill, caches, the file
            await cycle(store, policy, 100 + m, concurrency + 1, roles)
        stop_at = 0.0

        async def worker() -> None:
            while time.monotonic() < stop_at:
                member = 100 + next(turn) % members
                began = time.monotonic()
                await cycle(store, policy, member, concurrency + 1, roles)
                latencies.append(time.monotonic() - began)

        start = time.monotonic()
        stop_at = start + seconds
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.monotonic() - start
    finally:
        await store.close()
    table_name = "wallet_ledger" if wallet else "ledger"
    with sqlite3.connect(path) as db:
        ledger_rows = db.execute(f"SELECT COUNT(*) FROM {table_name}").fetchone()[0]
        available, held = db.execute(
            f"SELECT SUM(available), SUM(held) FROM {table_name}"
        ).fetchone()
    cycles = len(latencies)
    return {
        "concurrency": concurrency,
        "cycles": cycles,
        "seconds": elapsed,
        "cycles_per_s": cycles / elapsed,
        "tx_per_s": TX_PER_CYCLE * cycles / elapsed,
        "cycle_p50_ms": percentile(latencies, 50) * 1000,
        "cycle_p99_ms": percentile(latencies, 99) * 1000,
        "ledger_rows": ledger_rows,
        "held_after": held,  # every hold settled: must be 0
        "available_after": available,
    }


async def main_async(args: argparse.Namespace) -> None:
    load_before = load_average()
    runs: dict[int, list[dict[str, Any]]] = {n: [] for n in args.concurrency}
    with tempfile.TemporaryDirectory(prefix="wanbot-bench-") as workdir:
        for round_ in range(args.rounds):
            # Interleaved rounds, so drifting load on the machine hits every N alike.
            order = args.concurrency if round_ % 2 == 0 else args.concurrency[::-1]
            for n in order:
                print(f"[round {round_ + 1}, N={n}] {args.seconds:g} s ...", flush=True)
                folder = Path(workdir) / f"r{round_}"
                folder.mkdir(exist_ok=True)
                runs[n].append(await run(n, args.members, args.seconds, folder, args.wallet))
    results = []
    for n, got in runs.items():
        rates = [r["cycles_per_s"] for r in got]
        results.append(
            {
                "concurrency": n,
                "cycles": sum(r["cycles"] for r in got),
                "cycles_per_s": statistics.median(rates),
                "cycles_per_s_min": min(rates),
                "cycles_per_s_max": max(rates),
                "tx_per_s": TX_PER_CYCLE * statistics.median(rates),
                "cycle_p50_ms": statistics.median(r["cycle_p50_ms"] for r in got),
                "cycle_p99_ms": statistics.median(r["cycle_p99_ms"] for r in got),
                "held_after": sum(r["held_after"] for r in got),
                "rounds": got,
            }
        )
    base = results[0]
    rows = []
    for r in results:
        r["ratio"] = ratio(r["cycles_per_s"], base["cycles_per_s"])
        rows.append(
            [
                r["concurrency"],
                r["cycles"],
                r["cycles_per_s"],
                f"{r['cycles_per_s_min']:.0f}-{r['cycles_per_s_max']:.0f}",
                r["tx_per_s"],
                r["ratio"],
                r["cycle_p50_ms"],
                r["cycle_p99_ms"],
                r["held_after"],
            ]
        )
    print()
    print(
        table(
            [
                "N",
                "cycles",
                "cycles/s (median)",
                "range",
                "tx/s",
                f"×N={base['concurrency']}",
                "cycle p50 ms",
                "cycle p99 ms",
                "held after",
            ],
            rows,
            digits=2,
        )
    )
    params = {
        "members": args.members,
        "seconds_per_run": args.seconds,
        "rounds": args.rounds,
        "tx_per_cycle": TX_PER_CYCLE,
        "cycle": "admit_job_paid, mark_submitting, mark_running, mark_delivering, settle_delivered",
        "payer": "one team wallet for every member" if args.wallet else "each member",
        "store": "one SQLiteStore (aiosqlite, WAL, synchronous=NORMAL), fresh file per run",
        "load_average_at_start": load_before,
    }
    path = record("ledger", params, {f"N={r['concurrency']}": r for r in results})
    print(f"\nrecorded in {path}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--members", type=int, default=50)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 8, 32])
    parser.add_argument("--wallet", action="store_true", help="one team wallet pays every job")
    asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    main()
