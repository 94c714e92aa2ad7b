"""The bot's Prometheus metrics, in a registry of its own, behind a small typed API.

The names are fixed by INTERFACE.md (dashboards and alerts rely on them). A registry per `Metrics`
instance, not prometheus-client's global one, so tests and several bots in one process never share
counts, and nothing else that imports prometheus-client adds to what `/metrics` shows.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from typing import Final, Literal, get_args

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest

Outcome = Literal["delivered", "failed", "cancelled", "refused"]
OUTCOMES: Final[tuple[Outcome, ...]] = get_args(Outcome)

#: Image jobs take seconds to minutes; finer buckets at the short end, where hosts usually are.
JOB_SECONDS_BUCKETS: Final = (1, 2, 5, 10, 15, 20, 30, 45, 60, 90, 120, 180, 300, 600, 900)

EXPOSITION_CONTENT_TYPE: Final = CONTENT_TYPE_LATEST


class Metrics:
    """Every metric the bot exports. Calls are cheap and synchronous: safe from any coroutine."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry(auto_describe=True)
        counter = functools.partial(Counter, registry=self.registry)
        gauge = functools.partial(Gauge, registry=self.registry)
        self._jobs = counter(
            "wanbot_jobs",
            "Jobs that reached an end, by provider and outcome.",
            ["provider", "outcome"],
        )
        self._active = gauge("wanbot_jobs_active", "Jobs not yet finished, by state.", ["state"])
        self._seconds = Histogram(
            "wanbot_job_seconds",
            "Seconds from admission to delivery of delivered jobs, by provider.",
            ["provider"],
            buckets=JOB_SECONDS_BUCKETS,
            registry=self.registry,
        )
        self._credits = counter("wanbot_credits_spent", "Credits captured for delivered images.")
        self._requests = counter(
            "wanbot_provider_requests",
            "HTTP requests to image hosts, by provider and status (a code, or 'error').",
            ["provider", "status"],
        )
        self._discord_429 = counter(
            "wanbot_discord_429", "Answers from Discord with status 429 (rate limited)."
        )
        self._queue_depth = gauge("wanbot_queue_depth", "Jobs admitted and waiting for a slot.")
        self._balance = gauge(
            "wanbot_host_balance",
            "The latest balance an image host reported, in its own credits.",
            ["provider"],
        )

    def seed(self, providers: Iterable[str]) -> None:
        """Show every (provider, outcome) at 0 from the start, so rates see the first job."""
        for provider in providers:
            for outcome in OUTCOMES:
                self._jobs.labels(provider=provider, outcome=outcome)
            self._seconds.labels(provider=provider)

    def job_finished(self, provider: str, outcome: Outcome, seconds: float | None = None) -> None:
        """A job ended. `seconds` (admission to delivery) is recorded for delivered jobs only."""
        if outcome not in OUTCOMES:
            raise ValueError(f"unknown job outcome {outcome!r}; expected one of {OUTCOMES}")
        self._jobs.labels(provider=provider, outcome=outcome).inc()
        if outcome == "delivered" and seconds is not None:
            self._seconds.labels(provider=provider).observe(max(seconds, 0.0))

    def credits_spent(self, n: float) -> None:
        if n < 0:
            raise ValueError("credits spent cannot be negative")
        self._credits.inc(n)

    def provider_request(self, provider: str, status: int | str) -> None:
        self._requests.labels(provider=provider, status=str(status)).inc()

    def discord_429(self) -> None:
        self._discord_429.inc()

    def set_active(self, state: str, n: int) -> None:
        self._active.labels(state=state).set(n)

    def set_queue_depth(self, n: int) -> None:
        self._queue_depth.set(n)

    def set_balance(self, provider: str, value: float) -> None:
        self._balance.labels(provider=provider).set(value)

    def exposition(self) -> bytes:
        """The text format `/metrics` serves."""
        return generate_latest(self.registry)

    def sample_names(self) -> set[str]:
        """Every series name the registry can expose (`_bucket`, `_total`... included)."""
        names: set[str] = set()
        for family in self.registry.collect():
            names.add(family.name)
            if family.type == "counter":
                names.update({f"{family.name}_total", f"{family.name}_created"})
            elif family.type == "histogram":
                names.update(
                    f"{family.name}{suffix}" for suffix in ("_bucket", "_sum", "_count", "_created")
                )
            names.update(sample.name for sample in family.samples)
        return names
