"""A member's own queue (/jobs): their unfinished jobs with what this process knows of each.

The store says which jobs are unfinished (so a job another process runs is listed too); the live
runs add the place in line, the time elapsed and the ETA.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

from wanbot.jobs.ports import Progress
from wanbot.store.base import Job, JobPhase, JobStore

CANCELLABLE = (JobPhase.QUEUED, JobPhase.SUBMITTING, JobPhase.RUNNING)


class LiveRun(Protocol):
    """What the listing reads of a live job (JobRun)."""

    phase: JobPhase

    def progress(self) -> Progress | None: ...


@dataclass(frozen=True)
class MemberJob:
    job: Job
    phase: JobPhase
    progress: Progress | None  # None: not running in this process, or delivering
    cancellable: bool  # whether this process can still stop it


async def member_jobs(
    store: JobStore, live: Mapping[str, LiveRun], guild_id: int, user_id: int
) -> list[MemberJob]:
    found = []
    for job in await store.active_jobs_of(guild_id, user_id):
        run = live.get(job.id)
        phase = job.state if run is None else run.phase
        if phase.terminal:
            continue  # ended since the store was read
        progress = None if run is None else run.progress()
        found.append(MemberJob(job, phase, progress, run is not None and phase in CANCELLABLE))
    return found
