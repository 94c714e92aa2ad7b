"""After a phase of bench.multiprocess: each job submitted once, delivered once, settled exactly.

Read from the phase's PostgreSQL schema, the fake Discord's request log and the rate-limited
host's accepted jobs. Every finding is a sentence in `problems`; an exact phase has none.
"""

from __future__ import annotations

import collections
import json
from dataclasses import dataclass, field
from typing import Any

from bench.rate_host import HostTally
from tests.e2e.pg_processes import real_jobs, rows
from tests.fakes.discord_server import RecordedRequest
from tests.store.backends import PostgresPlace

Row = dict[str, Any]


@dataclass
class LedgerCheck:
    jobs: int = 0
    done: int = 0
    failed: list[str] = field(default_factory=list)  # why each job that did not finish failed
    submitted_once: int = 0
    delivered_once: int = 0
    settled_exactly: int = 0  # one hold, one capture, one release, amounts matching the images
    members_balanced: int = 0
    members: int = 0
    held_left: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def exact(self) -> bool:
        """Nothing submitted twice, delivered twice or settled wrongly (a failed job refunded)."""
        return not self.problems

    def summary(self) -> dict[str, Any]:
        return {
            "jobs": self.jobs,
            "done": self.done,
            "failed": len(self.failed),
            "failures": sorted(set(self.failed))[:5],
            "submitted_once": self.submitted_once,
            "delivered_once": self.delivered_once,
            "settled_exactly": self.settled_exactly,
            "members_balanced": f"{self.members_balanced}/{self.members}",
            "held_left": self.held_left,
            "exact": self.exact,
            "problems": self.problems[:10],
        }


def _refunded(entries: list[Row]) -> str | None:
    """Why a failed job's ledger rows are wrong (its hold released whole), or None."""
    pairs = {str(e["kind"]): (int(e["available"]), int(e["held"])) for e in entries}
    if sorted(str(e["kind"]) for e in entries) != ["hold", "release"]:
        return f"ledger kinds {sorted(pairs)} for a failed job"
    if pairs["release"] != (-pairs["hold"][0], -pairs["hold"][1]):
        return f"release {pairs['release']} after hold {pairs['hold']}"
    return None


def _settled(entries: list[Row], cost: int) -> str | None:
    """Why a done job's ledger rows are wrong, or None when they are exact."""
    kinds = sorted(str(e["kind"]) for e in entries)
    if kinds != ["capture", "hold", "release"]:
        return f"ledger kinds {kinds}"
    by_kind = {str(e["kind"]): e for e in entries}
    pairs = {k: (int(e["available"]), int(e["held"])) for k, e in by_kind.items()}
    hold, capture = pairs["hold"], pairs["capture"]
    if hold[0] != -hold[1] or hold[1] < cost:
        return f"hold {hold} for a cost of {cost}"
    if capture != (0, -cost):
        return f"capture {capture}, expected (0, {-cost})"
    if pairs["release"] != (hold[0] + cost, -(hold[1] - cost)):
        return f"release {pairs['release']} after hold {hold} and capture {capture}"
    return None


async def check_phase(
    place: PostgresPlace,
    requests: list[RecordedRequest],
    host: HostTally,
    *,
    allowance: int,
) -> LedgerCheck:
    jobs = await real_jobs(place)
    ledger = await rows(place, "SELECT * FROM ledger ORDER BY id")
    check = LedgerCheck(jobs=len(jobs))
    by_job: dict[str, list[Row]] = collections.defaultdict(list)
    for entry in ledger:
        if entry["job_id"] is not None:
            by_job[str(entry["job_id"])].append(entry)
    uploads = collections.Counter(name for r in requests if r.status < 300 for name, _ in r.files)
    spent: collections.Counter[tuple[int, int]] = collections.Counter()
    prompts: set[str] = set()
    for job in jobs:
        job_id = str(job["id"])
        prompt = str(json.loads(job["request_json"])["prompt"])
        prompts.add(prompt)
        if job["state"] != "done":
            check.failed.append(f"{job['state']}: {job['error']}")
            if (accepted := host.accepted_by_prompt.get(prompt, 0)) > 1:
                check.problems.append(f"job {job_id[:8]} submitted {accepted} times")
            if job["state"] not in ("failed", "cancelled"):
                check.problems.append(f"job {job_id[:8]} left {job['state']}")
            elif (wrong := _refunded(by_job.get(job_id, []))) is not None:
                check.problems.append(f"job {job_id[:8]}: {wrong}")
            continue
        check.done += 1
        images = int(job["images_delivered"])
        cost = images * int(job["image_cost"])
        spent[(int(job["guild_id"]), int(job["user_id"]))] += cost
        accepted = host.accepted_by_prompt.get(prompt, 0)
        if accepted == 1:
            check.submitted_once += 1
        else:
            check.problems.append(f"job {job_id[:8]} submitted {accepted} times")
        delivered = sum(n for name, n in uploads.items() if job_id[:8] in name)
        if delivered == images and images >= 1:
            check.delivered_once += 1
        else:
            check.problems.append(f"job {job_id[:8]}: {delivered} uploads for {images} images")
        wrong = _settled(by_job.get(job_id, []), cost)
        if wrong is None:
            check.settled_exactly += 1
        else:
            check.problems.append(f"job {job_id[:8]}: {wrong}")
    strays = sorted(set(host.accepted_by_prompt) - prompts)
    if strays:
        check.problems.append(f"the host ran {len(strays)} jobs the database does not hold")
    members = await rows(
        place,
        "SELECT guild_id, user_id, SUM(available) AS available, SUM(held) AS held"
        " FROM ledger GROUP BY guild_id, user_id",
    )
    check.members = len(members)
    for member in members:
        key = (int(member["guild_id"]), int(member["user_id"]))
        check.held_left += int(member["held"])
        if int(member["available"]) == allowance - spent[key] and int(member["held"]) == 0:
            check.members_balanced += 1
        else:
            check.problems.append(
                f"member {key}: available {member['available']}, held {member['held']},"
                f" expected {allowance - spent[key]} and 0"
            )
    return check
