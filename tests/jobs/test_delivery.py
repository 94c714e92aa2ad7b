"""Delivery without Discord: results fetched from the host that made them, fitted under the
upload limit, posted once through the notifier (retried when it fails), then settled for exactly
the images delivered. A real SQLite file; results served by a local HTTP host."""

from __future__ import annotations

import io
import os
import random
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web
from PIL import Image

from tests.fakes.local_http import serve_locally
from tests.jobs.kit import Kit, open_kit
from wanbot.jobs.delivery import RESULTS_KEPT_S, prune_results, retry_pause
from wanbot.jobs.fitting import DownloadError
from wanbot.store.base import Job, JobPhase


def png(width: int, height: int, *, noisy: bool = False) -> bytes:
    if noisy:
        image = Image.frombytes(
            "RGB", (width, height), random.Random(3).randbytes(width * height * 3)
        )
    else:
        image = Image.new("RGB", (width, height), (30, 90, 160))
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return buf.getvalue()


RESULTS = {"a.png": png(64, 48), "b.png": png(80, 80), "big.png": png(600, 600, noisy=True)}


@pytest.fixture
async def host() -> AsyncIterator[str]:
    """A host serving RESULTS under /files/; anything else is 404 (an expired result)."""

    async def serve(request: web.Request) -> web.Response:
        data = RESULTS.get(request.match_info["name"])
        if data is None:
            return web.Response(status=404, text="expired")
        return web.Response(body=data, content_type="image/png")

    app = web.Application()
    app.router.add_get("/files/{name}", serve)
    runner, port = await serve_locally(app)
    try:
        yield f"http://127.0.0.1:{port}/files/"
    finally:
        await runner.cleanup()


async def delivering(kit: Kit, urls: list[str], *, n: int, upload_limit: int = 10 << 20) -> Job:
    """A job that reached `delivering` with these result URLs, as the run leaves it."""
    admitted = await kit.admit(n=n, upload_limit=upload_limit)
    job_id = admitted.job.id
    await kit.store.set_placeholder(job_id, 1)
    assert await kit.store.mark_submitting(job_id)
    await kit.store.mark_running(job_id, "mock", "mock-0")
    await kit.store.mark_delivering(job_id, urls, 0.5)
    job = await kit.store.get_job(job_id)
    assert job is not None and job.state is JobPhase.DELIVERING
    return job


async def test_every_result_is_posted_once_and_charged(tmp_path: Path, host: str) -> None:
    async with open_kit(tmp_path, start=False) as kit:
        job = await delivering(kit, [host + "a.png", host + "b.png"], n=2)
        settlement = await kit.service.deliverer.deliver(job, list(job.result_urls))
        assert (settlement.captured, settlement.released, settlement.balance) == (4, 0, 46)
        (delivery,) = kit.notifier.deliveries[job.id]
        assert [(f.width, f.height) for f in delivery.files] == [(64, 48), (80, 80)]
        assert kit.notifier.delivered_files[job.id] == [RESULTS["a.png"], RESULTS["b.png"]]
        assert (delivery.charged, delivery.balance_after) == (4, 46)
        assert all(f.note is None for f in delivery.files)
        done = await kit.store.get_job(job.id)
        assert done is not None and done.state is JobPhase.DONE
        assert done.images_delivered == 2 and done.message_ids == (1000,)
        assert await kit.ledger(job.id) == {"hold": (-4, 4), "capture": (0, -4), "release": (0, 0)}
        # Nothing of the job is left on disk.
        assert not list((tmp_path / "data" / "results").glob(f"{job.id}*"))


async def test_a_result_that_is_gone_is_not_charged(tmp_path: Path, host: str) -> None:
    async with open_kit(tmp_path, start=False) as kit:
        job = await delivering(kit, [host + "a.png", host + "expired.png", host + "b.png"], n=3)
        settlement = await kit.service.deliverer.deliver(job, list(job.result_urls))
        assert (settlement.captured, settlement.released) == (4, 2)
        (delivery,) = kit.notifier.deliveries[job.id]
        assert len(delivery.files) == 2 and delivery.charged == 4
        assert await kit.ledger(job.id) == {"hold": (-6, 6), "capture": (0, -4), "release": (2, -2)}


async def test_no_result_at_all_is_a_download_error_and_settles_nothing(
    tmp_path: Path, host: str
) -> None:
    async with open_kit(tmp_path, start=False) as kit:
        job = await delivering(kit, [host + "gone-1.png", host + "gone-2.png"], n=2)
        with pytest.raises(DownloadError):
            await kit.service.deliverer.deliver(job, list(job.result_urls))
        with pytest.raises(DownloadError):
            await kit.service.deliverer.deliver(job, [])
        still = await kit.store.get_job(job.id)
        assert still is not None and still.state is JobPhase.DELIVERING  # the run fails it
        assert await kit.ledger(job.id) == {"hold": (-4, 4)}
        assert kit.notifier.deliveries == {}


async def test_a_result_over_the_upload_limit_is_fitted_under_it(tmp_path: Path, host: str) -> None:
    limit = 200_000
    assert len(RESULTS["big.png"]) > limit
    async with open_kit(tmp_path, start=False) as kit:
        job = await delivering(kit, [host + "big.png"], n=1, upload_limit=limit)
        await kit.service.deliverer.deliver(job, list(job.result_urls))
        (delivery,) = kit.notifier.deliveries[job.id]
        (fitted,) = delivery.files
        (data,) = kit.notifier.delivered_files[job.id]
        assert len(data) <= limit and fitted.size_bytes == len(data)
        assert fitted.note is not None  # the caption says it was re-encoded
        assert await kit.ledger(job.id) == {"hold": (-2, 2), "capture": (0, -2), "release": (0, 0)}


async def test_a_failing_post_is_retried_and_delivered_once(
    tmp_path: Path, host: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("wanbot.jobs.delivery.retry_pause", lambda attempt: 0.01)
    async with open_kit(tmp_path, start=False) as kit:
        kit.notifier.failing_deliveries = 2
        job = await delivering(kit, [host + "a.png"], n=1)
        await kit.service.deliverer.deliver(job, list(job.result_urls))
        assert len(kit.notifier.deliveries[job.id]) == 1
        assert kit.notifier.failing_deliveries == 0
        assert await kit.ledger(job.id) == {"hold": (-2, 2), "capture": (0, -2), "release": (0, 0)}


async def test_a_post_that_never_succeeds_leaves_the_job_to_be_settled_by_its_run(
    tmp_path: Path, host: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("wanbot.jobs.delivery.retry_pause", lambda attempt: 0.0)
    async with open_kit(tmp_path, start=False) as kit:
        kit.notifier.failing_deliveries = 100
        job = await delivering(kit, [host + "a.png"], n=1)
        with pytest.raises(ConnectionResetError):
            await kit.service.deliverer.deliver(job, list(job.result_urls))
        assert kit.notifier.failing_deliveries == 100 - 6
        assert await kit.ledger(job.id) == {"hold": (-2, 2)}
        assert not list((tmp_path / "data" / "results").glob(f"{job.id}*"))


def test_retry_pauses_grow_and_are_capped() -> None:
    pauses = [retry_pause(attempt) for attempt in range(8)]
    assert 2.0 <= pauses[0] < 3.0 and 4.0 <= pauses[1] < 5.0
    assert all(p <= 31.0 for p in pauses)


def test_prune_results_removes_only_folders_a_crash_left_behind(tmp_path: Path) -> None:
    results = tmp_path / "results"
    old, fresh = results / "job-a-1234abcd", results / "job-b-5678ef90"
    for folder in (old, fresh):
        folder.mkdir(parents=True)
        (folder / "1.download").write_bytes(b"x")
    day_ago = time.time() - RESULTS_KEPT_S - 60
    os.utime(old, (day_ago, day_ago))
    assert prune_results(results) == 1
    assert not old.exists() and (fresh / "1.download").exists()
    assert prune_results(tmp_path / "missing") == 0
