"""The image hosts' balances: the latest per host, a gauge, and one warning per low crossing.

A server owner pays the host; the first sign of an empty account should not be every job failing.
Balances arrive two ways: `observe(provider, value)` from whoever sees one (PixelDojo reports
`creditsRemaining` with each submission), and `poll_once()` / the `run()` loop, which asks each
provider's `balance()` (skills.video has `GET /credits`) every few minutes.

The warning fires when a balance is first seen under `providers.<host>.low_balance` (0 disables),
and again only after a reading at or above the threshold re-armed it: once per crossing, not once
per job.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Final, Protocol

from wanbot.config import ProvidersConfig
from wanbot.metrics import Metrics

log = logging.getLogger(__name__)

#: How often `run()` asks the hosts that have a balance API.
POLL_EVERY_S: Final = 300.0
#: The first read waits a little, so a bot restarted in a loop doesn't hammer the hosts.
FIRST_POLL_AFTER_S: Final = 30.0


class BalanceSource(Protocol):
    """What the tracker polls: `Provider.balance()` (None when the host has no balance to give)."""

    async def balance(self) -> float | None: ...


@dataclass(frozen=True)
class LowBalance:
    """One crossing under the threshold, as the notifier is told of it."""

    provider: str
    balance: float
    threshold: float


LowBalanceNotifier = Callable[[LowBalance], Awaitable[None]]


@dataclass
class _HostBalance:
    threshold: float
    value: float | None = None
    seen_at: float | None = None
    warned: bool = False  # under the threshold and already told; re-armed by a reading above it


class BalanceTracker:
    def __init__(
        self,
        thresholds: Mapping[str, float],
        *,
        metrics: Metrics | None = None,
        notify: LowBalanceNotifier | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._hosts = {name: _HostBalance(threshold) for name, threshold in thresholds.items()}
        self._metrics = metrics
        self.notify = notify
        self._clock = clock
        self._pending: set[asyncio.Task[None]] = set()

    @property
    def hosts(self) -> frozenset[str]:
        """The hosts whose balance is tracked (those that report one, and any seen since)."""
        return frozenset(self._hosts)

    def latest(self, provider: str) -> float | None:
        host = self._hosts.get(provider)
        return host.value if host else None

    def snapshot(self) -> dict[str, tuple[float, float]]:
        """{provider: (balance, when seen)} for every host whose balance is known (/admin stats)."""
        return {
            name: (host.value, host.seen_at)
            for name, host in self._hosts.items()
            if host.value is not None and host.seen_at is not None
        }

    def observe(self, provider: str, value: float) -> LowBalance | None:
        """Record a balance. Returns the crossing (and schedules the notifier) when one happened.

        Synchronous so a job can report what a submission said without waiting on the notifier.
        """
        crossing = self._record(provider, value)
        if crossing is not None and self.notify is not None:
            task = asyncio.get_running_loop().create_task(self._tell(crossing))
            self._pending.add(task)
            task.add_done_callback(self._pending.discard)
        return crossing

    async def observe_and_notify(self, provider: str, value: float) -> LowBalance | None:
        """Record a balance and, on a crossing, await the notifier before returning."""
        crossing = self._record(provider, value)
        if crossing is not None:
            await self._tell(crossing)
        return crossing

    async def poll_once(self, sources: Mapping[str, BalanceSource]) -> dict[str, float]:
        """Ask each source once; a failing host is logged and skipped. Returns what was read."""
        read: dict[str, float] = {}
        for name, source in sources.items():
            try:
                value = await source.balance()
            except Exception as e:
                log.warning("could not read %s's balance: %s", name, e)
                continue
            if value is None:
                continue
            read[name] = value
            await self.observe_and_notify(name, value)
        return read

    async def run(
        self,
        sources: Mapping[str, BalanceSource],
        every_s: float = POLL_EVERY_S,
        first_after_s: float = FIRST_POLL_AFTER_S,
    ) -> None:
        """Poll forever (start it as a background task; cancel it to stop)."""
        await asyncio.sleep(first_after_s)
        while True:
            await self.poll_once(sources)
            await asyncio.sleep(every_s)

    async def drain(self) -> None:
        """Wait for notifications `observe` scheduled (shutdown, tests)."""
        while self._pending:
            await asyncio.gather(*list(self._pending), return_exceptions=True)

    def _record(self, provider: str, value: float) -> LowBalance | None:
        host = self._hosts.setdefault(provider, _HostBalance(threshold=0.0))
        host.value = value
        host.seen_at = self._clock()
        if self._metrics is not None:
            self._metrics.set_balance(provider, value)
        if host.threshold <= 0:
            return None
        if value >= host.threshold:
            if host.warned:
                log.info("%s balance is back at %s (threshold %s)", provider, value, host.threshold)
            host.warned = False
            return None
        if host.warned:
            return None
        host.warned = True
        log.warning(
            "%s balance is low: %s credits left, under the warning threshold of %s",
            provider,
            value,
            host.threshold,
        )
        return LowBalance(provider=provider, balance=value, threshold=host.threshold)

    async def _tell(self, crossing: LowBalance) -> None:
        if self.notify is None:
            return
        try:
            await self.notify(crossing)
        except Exception:
            log.exception("could not send the low-balance warning for %s", crossing.provider)


def thresholds_from(providers: ProvidersConfig) -> dict[str, float]:
    """{host: low_balance} for the hosts that report a balance."""
    return {
        "pixeldojo": providers.pixeldojo.low_balance,
        "skillsvideo": providers.skillsvideo.low_balance,
    }
