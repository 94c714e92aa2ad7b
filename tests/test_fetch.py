"""Input fetching: only Discord's CDN (and the configured API host), capped in size, time and hops.

Two loopback servers: "discord" plays the configured API host (its origin is allowed), "elsewhere"
plays any other host on the internet. Every test checks what "elsewhere" saw: nothing.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from aiohttp import web

from cogs.render.refusals import refusal as said
from tests.fakes.provider_server import make_png
from wanbot.fetch import InputFetcher, InputRefused

PNG = make_png(32, 24)


@dataclass
class Site:
    base: str = ""
    hits: list[str] = field(default_factory=list)
    runner: web.AppRunner | None = None


async def serve(routes: Callable[[web.RouteTableDef, Site], None]) -> Site:
    site = Site()
    table = web.RouteTableDef()
    routes(table, site)

    @web.middleware
    async def record(
        request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        site.hits.append(request.path)
        return await handler(request)

    app = web.Application(middlewares=[record])
    app.add_routes(table)
    site.runner = web.AppRunner(app)
    await site.runner.setup()
    tcp = web.TCPSite(site.runner, "127.0.0.1", 0)
    await tcp.start()
    port = site.runner.addresses[0][1]
    site.base = f"http://127.0.0.1:{port}"
    return site


def elsewhere_routes(r: web.RouteTableDef, site: Site) -> None:
    @r.get("/secret")
    async def secret(request: web.Request) -> web.Response:
        return web.Response(body=PNG, content_type="image/png")


@pytest.fixture
async def elsewhere() -> AsyncIterator[Site]:
    site = await serve(elsewhere_routes)
    yield site
    assert site.runner is not None
    await site.runner.cleanup()


@pytest.fixture
async def discord(elsewhere: Site) -> AsyncIterator[Site]:
    def routes(r: web.RouteTableDef, site: Site) -> None:
        @r.get("/attachments/1/ok.png")
        async def ok(request: web.Request) -> web.Response:
            return web.Response(body=PNG, content_type="image/png")

        @r.get("/attachments/2/hop.png")
        async def hop(request: web.Request) -> web.Response:
            raise web.HTTPFound("/attachments/1/ok.png")

        @r.get("/attachments/3/away.png")
        async def away(request: web.Request) -> web.Response:
            raise web.HTTPFound(elsewhere.base + "/secret")

        @r.get("/attachments/4/loop.png")
        async def loop(request: web.Request) -> web.Response:
            raise web.HTTPFound("/attachments/4/loop.png")

        @r.get("/attachments/5/claims-big.png")
        async def claims_big(request: web.Request) -> web.StreamResponse:
            resp = web.StreamResponse(headers={"Content-Type": "image/png"})
            resp.content_length = 50_000_000
            await resp.prepare(request)
            await resp.write(PNG[:100])
            await asyncio.sleep(3)  # never sends the rest: only the header can refuse it
            return resp

        @r.get("/attachments/6/streams-big.png")
        async def streams_big(request: web.Request) -> web.StreamResponse:
            resp = web.StreamResponse(headers={"Content-Type": "image/png"})
            resp.enable_chunked_encoding()
            await resp.prepare(request)
            for _ in range(100):
                await resp.write(b"x" * 4096)
            await resp.write_eof()
            return resp

        @r.get("/attachments/7/slow.png")
        async def slow(request: web.Request) -> web.StreamResponse:
            resp = web.StreamResponse(headers={"Content-Type": "image/png"})
            resp.enable_chunked_encoding()
            await resp.prepare(request)
            for _ in range(60):
                await resp.write(b"x")
                await asyncio.sleep(0.05)
            await resp.write_eof()
            return resp

        @r.get("/attachments/8/gone.png")
        async def gone(request: web.Request) -> web.Response:
            return web.Response(status=418, text="internal detail: db at 10.0.0.5 is down")

    site = await serve(routes)
    yield site
    assert site.runner is not None
    await site.runner.cleanup()


@pytest.fixture
async def fetcher(discord: Site, tmp_path: Path) -> AsyncIterator[InputFetcher]:
    api = discord.base + "/api/v10"
    async with InputFetcher(api, tmp_path, max_bytes=100_000, total_s=1.0) as f:
        yield f


async def test_attachment_on_the_api_host_is_fetched(
    fetcher: InputFetcher, discord: Site, tmp_path: Path
) -> None:
    assert await fetcher.fetch(discord.base + "/attachments/1/ok.png", "ok.png") == PNG
    kept = await fetcher.keep(discord.base + "/attachments/1/ok.png", "ok.png")
    assert await asyncio.to_thread(Path(kept.path).read_bytes) == PNG
    assert (kept.width, kept.height) == (32, 24)
    assert Path(kept.path).parent == tmp_path / "inputs"


async def test_redirect_within_the_allowed_host_is_followed(
    fetcher: InputFetcher, discord: Site
) -> None:
    assert await fetcher.fetch(discord.base + "/attachments/2/hop.png", "hop.png") == PNG
    assert discord.hits == ["/attachments/2/hop.png", "/attachments/1/ok.png"]


async def test_foreign_host_refused_without_a_request(
    fetcher: InputFetcher, elsewhere: Site
) -> None:
    with pytest.raises(InputRefused) as caught:
        await fetcher.fetch(elsewhere.base + "/secret", "secret.png")
    assert caught.value.problem == "not_on_discord"
    assert "only Discord attachments" in said(caught.value)
    assert elsewhere.hits == []


async def test_redirect_to_a_foreign_host_refused(
    fetcher: InputFetcher, discord: Site, elsewhere: Site
) -> None:
    with pytest.raises(InputRefused) as caught:
        await fetcher.fetch(discord.base + "/attachments/3/away.png", "away.png")
    assert caught.value.problem == "fetch_failed"
    assert discord.hits == ["/attachments/3/away.png"]
    assert elsewhere.hits == []


async def test_redirect_loop_stops_after_a_few_hops(fetcher: InputFetcher, discord: Site) -> None:
    with pytest.raises(InputRefused):
        await fetcher.fetch(discord.base + "/attachments/4/loop.png", "loop.png")
    assert len(discord.hits) == fetcher.max_hops + 1


async def test_oversize_refused_from_content_length(fetcher: InputFetcher, discord: Site) -> None:
    # The body never completes, so only a check of the header can end this before the time cap.
    with pytest.raises(InputRefused) as caught:
        await fetcher.fetch(discord.base + "/attachments/5/claims-big.png", "big.png")
    assert caught.value.problem == "over_limit"
    assert said(caught.value) == "big.png is too large. Nothing was charged."


async def test_oversize_refused_while_streaming(fetcher: InputFetcher, discord: Site) -> None:
    with pytest.raises(InputRefused) as caught:
        await fetcher.fetch(discord.base + "/attachments/6/streams-big.png", "big.png")
    assert caught.value.problem == "over_limit"


async def test_slow_body_hits_the_time_cap(fetcher: InputFetcher, discord: Site) -> None:
    with pytest.raises(InputRefused) as caught:
        await fetcher.fetch(discord.base + "/attachments/7/slow.png", "slow.png")
    assert caught.value.problem == "fetch_failed"


async def test_remote_status_and_text_never_reach_the_member(
    fetcher: InputFetcher, discord: Site
) -> None:
    with pytest.raises(InputRefused) as caught:
        await fetcher.fetch(discord.base + "/attachments/8/gone.png", "gone.png")
    message = said(caught.value)
    assert "418" not in message and "10.0.0.5" not in message
    assert "418" not in str(caught.value.details) and "10.0.0.5" not in str(caught.value.details)
    assert message == "I couldn't download gone.png. Nothing was charged."


@pytest.mark.parametrize(
    ("url", "allowed"),
    [
        ("https://cdn.discordapp.com/attachments/1/2/a.png?ex=1", True),
        ("https://media.discordapp.net/attachments/1/2/a.png", True),
        ("https://CDN.discordapp.com./attachments/1/2/a.png", True),
        ("https://images-ext-1.discordapp.net/external/abc/https/example.com/a.png", True),
        ("https://images-ext-1.discordapp.net.evil.example/a.png", False),
        ("http://cdn.discordapp.com/attachments/1/2/a.png", False),
        ("https://cdn.discordapp.com:8443/a.png", False),
        ("https://user@cdn.discordapp.com/a.png", False),
        ("https://cdn.discordapp.com.evil.example/a.png", False),
        ("https://evil.example/cdn.discordapp.com/a.png", False),
        ("https://127.0.0.1/a.png", False),
        ("http://169.254.169.254/latest/meta-data", False),
        ("file:///etc/passwd", False),
        ("/attachments/1/a.png", False),
        ("https://discord.com/api/v10/x", True),  # the configured API host
        ("http://discord.com/api/v10/x", False),  # ... on its own scheme only
    ],
)
def test_which_urls_are_allowed(url: str, allowed: bool) -> None:
    assert InputFetcher("https://discord.com/api/v10", Path("data")).allowed(url) is allowed
