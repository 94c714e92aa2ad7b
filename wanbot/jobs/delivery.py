"""Results to the member: fetched with bounded concurrency and memory, fitted under the upload
limit, posted once, then settled: the cost of the images delivered captured, the rest released.

A result is posted as soon as it is ready: nothing here waits for a budget. discord.py follows
Discord's own rate-limit headers; while the post is in flight, the channel's progress edits stand
aside, so they never compete with it; in a channel Discord has just refused, results take turns
(`ChannelPressure.delivering`)."""

from __future__ import annotations

import asyncio
import logging
import random
import shutil
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from wanbot.jobs.fitting import Downloader, DownloadError, fit_under
from wanbot.jobs.pacing import ChannelPressure
from wanbot.jobs.ports import DeliveredFile, Delivery, Notifier
from wanbot.pruning import prune_older
from wanbot.store.base import Job, LedgerStore, Settlement, WalletStore

log = logging.getLogger(__name__)

# The images are paid for by now: keep trying for about a minute and a half before giving up.
DELIVERY_ATTEMPTS = 6


class DeliveryStore(LedgerStore, WalletStore, Protocol):
    """What delivery reads and writes: the settlement, and the balance of whoever paid."""


@dataclass(kw_only=True)
class Deliverer:
    store: DeliveryStore
    notifier: Notifier
    downloader: Downloader
    pressure: ChannelPressure
    label: Callable[[str], str]  # a provider's name as members see it
    results_dir: Path  # scratch space; a job's folder goes once it is posted

    async def deliver(self, job: Job, urls: Sequence[str]) -> Settlement:
        """Post the results of a job in `delivering` and settle it; DownloadError if none came."""
        if not urls:
            raise DownloadError("the image host returned no images")
        # One folder per attempt: a peer process that took the job over, or a retry after a
        # restart, never shares it or has it removed under it. A crash leaves it to prune_results.
        folder = self.results_dir / f"{job.id}-{uuid.uuid4().hex[:8]}"
        await asyncio.to_thread(folder.mkdir, parents=True, exist_ok=True)
        try:
            files = await self._fetch_all(job, urls, folder)
            if not files:
                raise DownloadError("no result could be downloaded")
            held = job.hold_amount
            charged = min(held, len(files) * job.image_cost)
            balance_now, wallet_name = await self._payer_balance(job)
            delivery = Delivery(
                files=files,
                charged=charged,
                balance_after=balance_now + held - charged,
                provider_label=self.label(job.provider),
                wallet_name=wallet_name,
            )
            message_ids = await self._post(job, delivery)
            settlement = await self.store.settle_delivered(job.id, message_ids, len(files))
        finally:
            await asyncio.to_thread(shutil.rmtree, folder, True)
        log.info(
            "job %s delivered %d images, charged %d, balance %d",
            job.id,
            len(files),
            settlement.captured,
            settlement.balance,
        )
        return settlement

    async def _payer_balance(self, job: Job) -> tuple[int, str | None]:
        """What whoever pays for the job has now, and the team wallet's name if one pays."""
        if job.wallet_id is not None:
            funds = await self.store.wallet_funds(job.wallet_id)
            if funds is not None:
                return funds.balance, funds.wallet.name
        return await self.store.balance(job.guild_id, job.user_id), None

    async def _fetch_all(self, job: Job, urls: Sequence[str], folder: Path) -> list[DeliveredFile]:
        async def one(index: int, url: str) -> DeliveredFile | None:
            raw = folder / f"{index + 1}.download"
            try:
                await self.downloader.fetch(url, raw, provider=job.provider)
                name = f"wanbot-{job.id[:8]}-{index + 1}.png"
                return await asyncio.to_thread(fit_under, raw, job.upload_limit, name)
            except (DownloadError, OSError, ValueError) as e:
                log.warning("job %s: result %d unusable: %s", job.id, index + 1, e)
                return None

        got = await asyncio.gather(*(one(i, u) for i, u in enumerate(urls)))
        return [f for f in got if f is not None]

    async def _post(self, job: Job, delivery: Delivery) -> list[int]:
        for attempt in range(DELIVERY_ATTEMPTS):
            try:
                async with self.pressure.delivering(job.channel_id):
                    return await self.notifier.deliver(job, delivery)
            except Exception:
                if attempt + 1 == DELIVERY_ATTEMPTS:
                    raise
                log.warning(
                    "job %s: delivery attempt %d failed", job.id, attempt + 1, exc_info=True
                )
                await asyncio.sleep(retry_pause(attempt))
        raise AssertionError("unreachable")


def retry_pause(attempt: int) -> float:
    """Seconds to wait after failed attempt `attempt` (from 0): 2, 4, 8... at most 30, jittered."""
    return min(30.0, 2.0 * 2.0**attempt) + random.random()


RESULTS_KEPT_S = 24 * 3600.0  # far longer than any delivery takes


def prune_results(results_dir: Path, now: float | None = None) -> int:
    """Remove download folders a crash left behind (a delivery removes its own); return how many."""
    return prune_older(results_dir, RESULTS_KEPT_S, now, folders=True)
