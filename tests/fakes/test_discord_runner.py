"""RemoteDiscord: the fake Discord served from a child process, driven over a pipe."""

from __future__ import annotations

import aiohttp

from tests.fakes.discord_runner import RemoteDiscord


async def test_the_remote_fake_serves_rest_and_reports_what_it_served() -> None:
    with RemoteDiscord(members=2, channel_rate=(1, 30.0)) as remote:
        assert {"member0", "member1", "alice"} <= set(remote.info.users)
        assert remote.api_base_url.startswith("http://127.0.0.1:")
        headers = {"Authorization": f"Bot {remote.token}"}
        async with aiohttp.ClientSession(headers=headers) as session:
            async with session.get(f"{remote.api_base_url}/users/@me") as response:
                assert response.status == 200
            url = f"{remote.api_base_url}/channels/{remote.channel_id}/messages"
            statuses = []
            for text in ("one", "two"):
                async with session.post(url, json={"content": text}) as response:
                    statuses.append(response.status)
                    scope = response.headers.get("X-RateLimit-Scope")
        assert statuses == [200, 429]
        assert scope == "shared"
        assert await remote.count_429() == 1
        served = await remote.requests()
        assert [(r.method, r.status) for r in served] == [
            ("GET", 200),
            ("POST", 200),
            ("POST", 429),
        ]
        assert await remote.request_count() == 3
        assert await remote.violations() == []
    assert remote._process is None
