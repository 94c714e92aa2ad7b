"""What the store's tests share: a settable clock, a job to admit, and the steps of a job's life."""

from __future__ import annotations

from wanbot.providers.models import GenerationRequest
from wanbot.store import Budget, NewJob, SpendCaps
from wanbot.store.sql import SqlStore

NO_REFILL = Budget(allowance=0, period_key=None)
NO_CAPS = SpendCaps(day_start=0.0)
GUILD = 1
USER = 10


class Clock:
    def __init__(self, now: float = 1_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def make_job(
    job_id: str,
    *,
    guild_id: int = GUILD,
    user_id: int = USER,
    n: int = 1,
    image_cost: int = 1,
    provider: str = "mock",
    size: str = "2K",
) -> NewJob:
    return NewJob(
        id=job_id,
        kind="imagine",
        guild_id=guild_id,
        channel_id=500,
        user_id=user_id,
        application_id=900,
        interaction_token="token",
        token_expires_at=5_000.0,
        request=GenerationRequest(prompt="a cat", n=n, image_set=n > 4, size=size, seed=1),
        provider=provider,
        image_cost=image_cost,
        deadline_at=4_000.0,
    )


async def funded(store: SqlStore, amount: int, user_id: int = USER, guild_id: int = GUILD) -> None:
    await store.grant(guild_id, user_id, amount, actor_id=1, reason="test")


async def to_delivering(store: SqlStore, job_id: str, urls: tuple[str, ...] = ()) -> None:
    assert await store.mark_submitting(job_id)
    await store.mark_running(job_id, "mock", f"p-{job_id}")
    await store.mark_delivering(job_id, urls, 0.5)
