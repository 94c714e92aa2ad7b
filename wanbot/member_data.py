"""Members' personal data: removed on request (`/admin forget`), and prompts blanked by age.

What a member wrote (prompts, negative prompts), what they handed in (kept input images) and what
they chose (saved defaults) goes; the credit ledger stays exact, with the forgotten member's
finished jobs filed under no one.

A member's jobs still running when they are forgotten are cancelled first, and their credits
given back: a job left running would post the prompt in the channel and write it back into the
database after the forget. A job already delivering is let finish (its images are paid for and
on their way; that takes seconds) and is forgotten with the rest once it has ended.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Protocol

from wanbot.jobs.run import CancelResult, JobRun
from wanbot.store.base import Store

log = logging.getLogger(__name__)

#: How long a forget waits for the member's jobs to settle after cancelling them.
SETTLE_WITHIN_S: Final = 30.0
DAY_S: Final = 24 * 3600.0


@dataclass(frozen=True)
class Forgotten:
    """What `/admin forget` did, for its reply and the audit line."""

    cancelled: int  # the member's queued or running jobs stopped first, credits given back
    jobs: int  # finished jobs whose prompts were removed and whose member was anonymised
    preferences: int  # saved-defaults rows deleted (0 or 1)
    inputs_deleted: int  # kept input images deleted from disk
    still_active: int  # jobs that had not ended in time: their prompts are still stored


class LiveJobs(Protocol):
    """The jobs this process runs (`JobService`)."""

    @property
    def live(self) -> Mapping[str, JobRun]: ...

    async def cancel(self, job_id: str) -> CancelResult: ...


class MemberData:
    def __init__(
        self,
        *,
        store: Store,
        jobs: LiveJobs,
        data_dir: Path,
        keep_prompts_days: int,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.jobs = jobs
        self.inputs_dir = data_dir / "inputs"
        self.keep_prompts_days = keep_prompts_days
        self.clock = clock

    async def forget(
        self, guild_id: int, user_id: int, *, settle_within_s: float = SETTLE_WITHIN_S
    ) -> Forgotten:
        """Stop the member's jobs in this server, then remove their data there."""
        cancelled = 0
        running: list[asyncio.Task[None]] = []
        for run in list(self.jobs.live.values()):
            if (run.job.guild_id, run.job.user_id) != (guild_id, user_id):
                continue
            if await self.jobs.cancel(run.job.id) is not CancelResult.TOO_LATE:
                cancelled += 1
            if run.task is not None:
                running.append(run.task)
        if running:  # stopping, or delivering: each ends settled
            await asyncio.wait(running, timeout=settle_within_s)
        removed = await self.store.forget_member(guild_id, user_id)
        deleted = await asyncio.to_thread(self._delete_inputs, removed.input_paths)
        forgotten = Forgotten(
            cancelled=cancelled,
            jobs=removed.jobs,
            preferences=removed.preferences,
            inputs_deleted=deleted,
            still_active=removed.active_jobs,
        )
        # Counts only: the member's id is the data being removed.
        log.info(
            "forgot a member of server %s: %d jobs stopped, %d prompts removed, %d inputs "
            "deleted, %d jobs still active",
            guild_id,
            forgotten.cancelled,
            forgotten.jobs,
            forgotten.inputs_deleted,
            forgotten.still_active,
        )
        return forgotten

    async def blank_old_prompts(self) -> int:
        """Remove prompts of finished jobs older than `storage.keep_prompts_days` (0: never)."""
        if self.keep_prompts_days <= 0:
            return 0
        before = self.clock() - self.keep_prompts_days * DAY_S
        blanked = await self.store.blank_prompts_older_than(before)
        if blanked:
            log.info(
                "housekeeping: removed the prompts of %d jobs older than %d days",
                blanked,
                self.keep_prompts_days,
            )
        return blanked

    def _delete_inputs(self, paths: Iterable[str]) -> int:
        """Delete the kept inputs among `paths`; a path outside the inputs folder is left alone."""
        folder = self.inputs_dir.resolve()
        deleted = 0
        for name in set(paths):
            path = Path(name).resolve()
            if not path.is_relative_to(folder):
                log.warning("not deleting an input outside %s", folder)
                continue
            try:
                path.unlink()
            except FileNotFoundError:
                continue  # pruned by age already
            deleted += 1
        return deleted
