"""`python -m wanbot.health URL` (the Docker HEALTHCHECK) against a real /healthz."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from wanbot import health
from wanbot.http.server import CallableProbe, HttpServer
from wanbot.metrics import Metrics


async def test_url_check_follows_healthz() -> None:
    state = {"gateway": True}
    probe = CallableProbe(
        gateway=lambda: state["gateway"], dispatcher=lambda: True, store=lambda: True
    )
    async with HttpServer("127.0.0.1", 0, metrics=Metrics(), probe=probe) as server:
        url = server.base_url + "/healthz"
        assert await asyncio.to_thread(health.main, [url]) == 0
        state["gateway"] = False
        assert await asyncio.to_thread(health.main, [url]) == 1
    assert await asyncio.to_thread(health.main, [url]) == 1  # nothing listens any more


def test_heartbeat_file_check(tmp_path: Path) -> None:
    assert health.main([str(tmp_path)]) == 1
    health.beat(tmp_path)
    assert health.main([str(tmp_path)]) == 0
    assert not health.is_healthy(tmp_path, now=time.time() + health.STALE_AFTER_S + 1)
