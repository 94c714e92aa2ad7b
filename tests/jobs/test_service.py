"""JobService without Discord: queueing, cancel races and restart recovery, on a real SQLite file
with the offline mock host (0.05 s a job), scripted hosts and a recording notifier.

Every test ends with the ledger's word on the job: one hold, then one capture and/or one release,
never a job left active with its credits held.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from tests.jobs.kit import ScriptedHost, open_kit
from wanbot.jobs.ports import FailureReason
from wanbot.jobs.run import CancelResult
from wanbot.jobs.scheduler import Limits
from wanbot.providers.models import JobState
from wanbot.store.base import JobPhase, Settlement
from wanbot.store.sqlite import SQLiteStore

REFUNDED_2 = {"hold": (-2, 2), "release": (2, -2)}


def gate_settlement(store: SQLiteStore) -> tuple[asyncio.Event, asyncio.Event]:
    """Hold every `settle_failed` until the returned `release` is set; `entered` tells it began."""
    entered, release = asyncio.Event(), asyncio.Event()
    settle: Callable[..., Awaitable[Settlement]] = store.settle_failed

    async def gated(*args: Any, **kwargs: Any) -> Settlement:
        entered.set()
        await release.wait()
        return await settle(*args, **kwargs)

    store.settle_failed = gated  # type: ignore[method-assign]
    return entered, release


async def test_a_job_is_submitted_tracked_delivered_and_settled(tmp_path: Path) -> None:
    async with open_kit(tmp_path) as kit:
        job_id = await kit.start("a fox at dawn", n=2)
        job = await kit.wait_job(job_id)
        assert job.state is JobPhase.DONE, job.error
        assert job.provider == "mock" and job.provider_job_id is not None
        assert job.images_delivered == 2 and job.message_ids == (1000,)
        assert await kit.ledger(job_id) == {"hold": (-4, 4), "capture": (0, -4), "release": (0, 0)}
        (delivery,) = kit.notifier.deliveries[job_id]
        assert (delivery.charged, delivery.balance_after) == (4, 46)
        assert delivery.provider_label == "Mock" and len(delivery.files) == 2
        assert all(data.startswith(b"\x89PNG") for data in kit.notifier.delivered_files[job_id])
        assert kit.notifier.failures == {}
        phases = {
            progress.phase for reported, progress in kit.notifier.progress if reported == job_id
        }
        assert "queued" in phases
        await kit.wait_gone(job_id)


async def test_two_cancels_of_a_queued_job_refund_it_once(tmp_path: Path) -> None:
    blocker = ScriptedHost()  # never finishes: the member's one running slot stays taken
    async with open_kit(
        tmp_path, hosts=(blocker,), limits=Limits(total=8, per_provider=8, per_user=1)
    ) as kit:
        running = await kit.start(provider="scripted")
        await kit.wait_job(running, JobPhase.RUNNING)
        queued = await kit.start(n=1)
        assert kit.service.position(queued) == 1
        first, second = await asyncio.gather(kit.service.cancel(queued), kit.service.cancel(queued))
        assert {first, second} == {CancelResult.CANCELLED, CancelResult.CANCELLING}
        job = await kit.wait_job(queued)
        assert job.state is JobPhase.CANCELLED
        assert await kit.ledger(queued) == REFUNDED_2
        (outcome,) = kit.notifier.failures[queued]
        assert outcome.reason is FailureReason.CANCELLED and outcome.refunded == 2
        assert await kit.service.cancel(queued) is CancelResult.TOO_LATE
        await kit.wait_gone(queued)
        assert (await kit.store.get_job(running)).state is JobPhase.RUNNING  # type: ignore[union-attr]


async def test_two_cancels_of_a_running_job_stop_it_once(tmp_path: Path) -> None:
    host = ScriptedHost()
    async with open_kit(tmp_path, hosts=(host,)) as kit:
        job_id = await kit.start(provider="scripted")
        await kit.wait_job(job_id, JobPhase.RUNNING)
        results = [kit.service.cancel(job_id) for _ in range(2)]
        assert [await r for r in results] == [CancelResult.CANCELLING, CancelResult.CANCELLING]
        job = await kit.wait_job(job_id)
        assert job.state is JobPhase.CANCELLED
        assert await kit.ledger(job_id) == REFUNDED_2
        assert host.cancels == [job.provider_job_id]
        assert [o.reason for o in kit.notifier.failures[job_id]] == [FailureReason.CANCELLED]
        await kit.wait_gone(job_id)
        assert await kit.balance() == 50


async def test_a_cancel_during_a_failures_settlement_joins_it(tmp_path: Path) -> None:
    host = ScriptedHost()
    async with open_kit(tmp_path, hosts=(host,)) as kit:
        job_id = await kit.start(provider="scripted")
        await kit.wait_job(job_id, JobPhase.RUNNING)
        entered, release = gate_settlement(kit.store)
        host.state = JobState.FAILED  # the host gives up: the job fails and settles
        await asyncio.wait_for(entered.wait(), 5)
        assert await kit.service.cancel(job_id) is CancelResult.CANCELLING
        assert await kit.service.cancel(job_id) is CancelResult.CANCELLING
        release.set()
        job = await kit.wait_job(job_id)
        assert job.state is JobPhase.FAILED  # it was failing already: the cancel changed nothing
        assert await kit.ledger(job_id) == REFUNDED_2
        assert [o.reason for o in kit.notifier.failures[job_id]] == [FailureReason.HOST_FAILED]
        assert host.cancels == []
        await kit.wait_gone(job_id)


async def test_a_cancel_while_the_host_is_told_to_stop_at_the_deadline(tmp_path: Path) -> None:
    """The deadline passes; asking the host to stop takes a while; the member clicks Cancel then.

    The click must not cut the settlement short: the job ends failed (past its deadline) with
    every credit back, not `running` with its credits held and no task to finish it.
    """
    host = ScriptedHost()
    host.cancel_gate = asyncio.Event()
    async with open_kit(tmp_path, hosts=(host,), job_timeout_s=0.6) as kit:
        job_id = await kit.start(provider="scripted")
        await asyncio.wait_for(host.cancel_started.wait(), 5)
        assert await kit.service.cancel(job_id) is CancelResult.CANCELLING
        assert await kit.service.cancel(job_id) is CancelResult.CANCELLING
        host.cancel_gate.set()
        job = await kit.wait_job(job_id)
        assert job.state is JobPhase.FAILED
        assert await kit.ledger(job_id) == REFUNDED_2
        assert [o.reason for o in kit.notifier.failures[job_id]] == [FailureReason.DEADLINE]
        await kit.wait_gone(job_id)


async def test_a_second_cancel_while_the_host_is_told_to_stop(tmp_path: Path) -> None:
    host = ScriptedHost()
    host.cancel_gate = asyncio.Event()
    async with open_kit(tmp_path, hosts=(host,)) as kit:
        job_id = await kit.start(provider="scripted")
        await kit.wait_job(job_id, JobPhase.RUNNING)
        assert await kit.service.cancel(job_id) is CancelResult.CANCELLING
        await asyncio.wait_for(host.cancel_started.wait(), 5)
        assert await kit.service.cancel(job_id) is CancelResult.CANCELLING
        host.cancel_gate.set()
        job = await kit.wait_job(job_id)
        assert job.state is JobPhase.CANCELLED
        assert await kit.ledger(job_id) == REFUNDED_2
        assert len(host.cancels) == 1
        await kit.wait_gone(job_id)


async def test_a_host_that_never_answers_a_stop_does_not_hold_the_refund(
    tmp_path: Path, monkeypatch: Any
) -> None:
    monkeypatch.setattr("wanbot.jobs.run.CANCEL_AT_HOST_S", 0.2)
    host = ScriptedHost()
    host.cancel_gate = asyncio.Event()  # never set
    async with open_kit(tmp_path, hosts=(host,)) as kit:
        job_id = await kit.start(provider="scripted")
        await kit.wait_job(job_id, JobPhase.RUNNING)
        assert await kit.service.cancel(job_id) is CancelResult.CANCELLING
        job = await kit.wait_job(job_id, within_s=3)
        assert job.state is JobPhase.CANCELLED
        assert await kit.ledger(job_id) == REFUNDED_2


async def test_release_gives_back_a_job_that_was_never_queued(tmp_path: Path) -> None:
    async with open_kit(tmp_path) as kit:
        admitted = await kit.admit(n=3)
        assert admitted.balance == 44
        await kit.service.release(admitted.job, "the placeholder could not be sent")
        job = await kit.wait_job(admitted.job.id)
        assert job.state is JobPhase.FAILED and "not queued" in (job.error or "")
        assert await kit.ledger(job.id) == {"hold": (-6, 6), "release": (6, -6)}
        assert await kit.balance() == 50
        assert job.id not in kit.service.live


# -- restart recovery ------------------------------------------------------------------------


async def test_a_queued_job_runs_after_a_restart(tmp_path: Path) -> None:
    async with open_kit(tmp_path, start=False) as kit:
        job_id = await kit.start()
    async with open_kit(tmp_path) as kit:
        job = await kit.wait_job(job_id)
        assert job.state is JobPhase.DONE, job.error
        assert len(kit.notifier.deliveries[job_id]) == 1
        assert await kit.ledger(job_id) == {"hold": (-2, 2), "capture": (0, -2), "release": (0, 0)}


async def test_a_running_job_is_tracked_again_not_submitted_again(tmp_path: Path) -> None:
    async with open_kit(tmp_path) as kit:
        job_id = await kit.start()
        running = await kit.wait_job(job_id, JobPhase.RUNNING)
    async with open_kit(tmp_path) as kit:
        job = await kit.wait_job(job_id)
        assert job.state is JobPhase.DONE, job.error
        assert job.provider_job_id == running.provider_job_id
    assert len(list((tmp_path / "data" / "mock").glob("*.json"))) == 1  # one submission


async def test_a_job_that_died_while_submitting_is_refunded_not_sent_again(tmp_path: Path) -> None:
    async with open_kit(tmp_path, start=False) as kit:
        admitted = await kit.admit()
        assert await kit.store.mark_submitting(admitted.job.id)
    async with open_kit(tmp_path) as kit:
        job = await kit.wait_job(admitted.job.id)
        assert job.state is JobPhase.FAILED
        (outcome,) = kit.notifier.failures[job.id]
        assert outcome.reason is FailureReason.RESTARTED_WHILE_SUBMITTING
        assert outcome.refunded == 2 and await kit.ledger(job.id) == REFUNDED_2
    assert not list((tmp_path / "data" / "mock").glob("*.json"))


async def test_a_job_with_results_is_delivered_after_a_restart(tmp_path: Path) -> None:
    async with open_kit(tmp_path, start=False) as kit:
        admitted = await kit.admit(n=2)
        mock = kit.providers.get("mock")
        status = await mock.submit(admitted.job.request)
        await asyncio.sleep(0.1)
        done = await mock.get_status(status.job_id)
        assert done.state is JobState.SUCCEEDED
        await kit.store.mark_submitting(admitted.job.id)
        await kit.store.mark_running(admitted.job.id, "mock", status.job_id)
        await kit.store.mark_delivering(admitted.job.id, [i.url for i in done.images], 0.0)
    async with open_kit(tmp_path) as kit:
        job = await kit.wait_job(admitted.job.id)
        assert job.state is JobPhase.DONE and job.images_delivered == 2
        assert len(kit.notifier.deliveries[job.id]) == 1
        assert await kit.ledger(job.id) == {"hold": (-4, 4), "capture": (0, -4), "release": (0, 0)}


async def test_a_job_whose_host_is_gone_after_a_restart_is_refunded(tmp_path: Path) -> None:
    async with open_kit(tmp_path, hosts=(ScriptedHost(),)) as kit:
        job_id = await kit.start(provider="scripted")
        await kit.wait_job(job_id, JobPhase.RUNNING)
    async with open_kit(tmp_path) as kit:  # the scripted host is not configured any more
        job = await kit.wait_job(job_id)
        assert job.state is JobPhase.FAILED
        (outcome,) = kit.notifier.failures[job_id]
        assert outcome.reason is FailureReason.PROVIDER_DISABLED
        assert await kit.ledger(job_id) == REFUNDED_2
