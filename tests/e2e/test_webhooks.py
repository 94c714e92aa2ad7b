"""PixelDojo pushes, the bot listens: with `http.public_url`, a job finishes on the host's call.

The whole bot (as bot.py builds it, HTTP server included) against the fake Discord and the fake
PixelDojo, which calls each run's `webhook_url` when the job ends.
"""

from __future__ import annotations

import socket
from pathlib import Path

from tests.e2e.harness import running_bot
from tests.fakes.discord_server import FakeDiscord
from tests.fakes.pixeldojo_server import FakePixelDojo
from wanbot.store.base import JobPhase


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


async def test_a_pushed_job_is_delivered_after_one_look(fake: FakeDiscord, tmp_path: Path) -> None:
    port = free_port()
    public = f"http://127.0.0.1:{port}"
    async with FakePixelDojo(job_duration_s=1.0) as pixeldojo:
        toml = (
            f'[providers.pixeldojo]\nbase_url = "{pixeldojo.base_url}"\n'
            f'[http]\nlisten = "127.0.0.1:{port}"\npublic_url = "{public}"\n'
        )
        async with running_bot(
            fake, tmp_path, extra_toml=toml, env={"PIXELDOJO_API_KEY": pixeldojo.api_key}
        ) as h:
            handle = await h.imagine("a fox that rings the bell")
            job = await h.wait_job((await h.job_for(handle)).id)
            placeholder = h.placeholder(job)
    assert job.state is JobPhase.DONE and job.provider == "pixeldojo"
    assert len(placeholder.attachments) == 1
    (run,) = pixeldojo.submissions("/run")
    assert run.body["webhook_url"].startswith(f"{public}/hooks/pixeldojo/")
    assert [p.status for p in pixeldojo.pushes] == [200]
    looks = [r for r in pixeldojo.requests if r.method == "GET" and "/jobs/" in r.path]
    assert len(looks) == 1 and looks[0].at >= pixeldojo.pushes[0].at
    assert fake.violations == []
