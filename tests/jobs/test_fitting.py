"""Fitting results under an upload limit, packing them into messages, and downloading them."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from PIL import Image

from tests.fakes.local_http import serve_locally
from wanbot.jobs import fitting
from wanbot.jobs.fitting import Downloader, DownloadError, fit_under, pack
from wanbot.jobs.ports import DeliveredFile

MiB = 1024 * 1024


@pytest.fixture(scope="module")
def noisy_png(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """About 12 MiB of PNG that no encoder can shrink much: random RGB noise."""
    width = height = 2048
    path = tmp_path_factory.mktemp("noise") / "noise.png"
    Image.frombytes("RGB", (width, height), os.urandom(width * height * 3)).save(
        path, compress_level=1
    )
    assert path.stat().st_size > 11 * MiB
    return path


def test_small_file_is_left_untouched(tmp_path: Path) -> None:
    path = tmp_path / "small.png"
    Image.new("RGB", (64, 48), (10, 20, 30)).save(path)
    content = path.read_bytes()
    result = fit_under(path, 10 * MiB, "result-1.png")
    assert result == DeliveredFile(path, "result-1.png", 64, 48, len(content), None)
    assert path.read_bytes() == content
    assert list(tmp_path.iterdir()) == [path]


def test_exactly_at_the_limit_is_untouched(tmp_path: Path) -> None:
    path = tmp_path / "edge.png"
    Image.frombytes("RGB", (128, 128), os.urandom(128 * 128 * 3)).save(path)
    size = path.stat().st_size
    assert fit_under(path, size, "edge.png").path == path
    smaller = fit_under(path, size - 1, "edge.png")
    assert smaller.path != path and smaller.size_bytes <= size - 1


def test_impossible_limit_is_refused_not_looped(tmp_path: Path) -> None:
    path = tmp_path / "tiny.png"
    Image.new("RGB", (300, 100), (1, 2, 3)).save(path)
    # No JPEG, not even 1x1, is 100 bytes: the fitter must give up rather than spin.
    with pytest.raises(ValueError, match="cannot be made smaller"):
        fit_under(path, 100, "tiny.png")


@pytest.mark.parametrize("limit", [10 * MiB, 1 * MiB])
def test_large_png_is_reencoded_under_the_limit(noisy_png: Path, limit: int) -> None:
    original_size = noisy_png.stat().st_size
    result = fit_under(noisy_png, limit, "wan-1.png")
    assert result.path != noisy_png
    assert result.filename == "wan-1.jpg"
    assert result.size_bytes == result.path.stat().st_size <= limit
    with Image.open(result.path) as fitted:
        assert fitted.format == "JPEG"
        assert fitted.size == (result.width, result.height)
    if limit == 1 * MiB:
        assert result.width < 2048 and result.height < 2048  # had to shrink
        assert abs(result.width / result.height - 1) < 0.01
    else:
        assert (result.width, result.height) == (2048, 2048)  # a re-encode was enough
    assert result.note is not None
    assert f"original PNG was {original_size / 1_000_000:.1f} MB" in result.note
    assert f"{result.width}×{result.height}" in result.note
    assert noisy_png.stat().st_size == original_size  # the original is kept


def files(sizes: list[int]) -> list[DeliveredFile]:
    return [DeliveredFile(Path(f"/r/{i}.png"), f"{i}.png", 1, 1, s) for i, s in enumerate(sizes)]


def test_pack_splits_by_count() -> None:
    items = files([MiB] * 12)
    messages = pack(items)
    assert [len(m) for m in messages] == [10, 2]
    assert [f for m in messages for f in m] == items


def test_pack_respects_the_byte_cap() -> None:
    items = files([10 * MiB, 10 * MiB, 5 * MiB, 4 * MiB, 30 * MiB, 1])
    messages = pack(items, max_bytes=24 * MiB)
    assert [[f.filename for f in m] for m in messages] == [
        ["0.png", "1.png"],
        ["2.png", "3.png"],
        ["4.png"],  # bigger than the cap on its own: alone in its message
        ["5.png"],
    ]
    for message in messages:
        assert len(message) == 1 or sum(f.size_bytes for f in message) <= 24 * MiB
    assert pack([]) == []
    assert [len(m) for m in pack(files([1] * 7), max_files=3)] == [3, 3, 1]


BODY = os.urandom(700 * 1024)  # several 256 KiB chunks


@pytest.fixture
async def server() -> AsyncIterator[tuple[str, dict[str, int]]]:
    stats = {"active": 0, "peak": 0}

    async def ok(request: web.Request) -> web.StreamResponse:
        return web.Response(body=BODY, content_type="image/png")

    async def slow(request: web.Request) -> web.StreamResponse:
        stats["active"] += 1
        stats["peak"] = max(stats["peak"], stats["active"])
        try:
            await asyncio.sleep(0.05)
        finally:
            stats["active"] -= 1
        return web.Response(body=b"x" * 10)

    async def missing(request: web.Request) -> web.StreamResponse:
        return web.Response(status=404, text="expired")

    app = web.Application()
    app.router.add_get("/ok.png", ok)
    app.router.add_get("/slow/{n}", slow)
    app.router.add_get("/missing.png", missing)
    runner, port = await serve_locally(app)
    try:
        yield f"http://127.0.0.1:{port}", stats
    finally:
        await runner.cleanup()


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


async def test_download_streams_to_disk(
    server: tuple[str, dict[str, int]], session: aiohttp.ClientSession, tmp_path: Path
) -> None:
    base, _ = server
    dest = tmp_path / "out.png"
    assert await Downloader(session).fetch(f"{base}/ok.png", dest, provider="pixeldojo") == dest
    assert dest.read_bytes() == BODY


async def test_download_from_file_url(session: aiohttp.ClientSession, tmp_path: Path) -> None:
    source = tmp_path / "a dir" / "result 1.png"
    source.parent.mkdir()
    source.write_bytes(b"\x89PNG local bytes")
    dest = tmp_path / "copy.png"
    downloader = Downloader(session, mock_dir=source.parent)
    assert await downloader.fetch(source.as_uri(), dest, provider="mock") == dest
    assert dest.read_bytes() == b"\x89PNG local bytes"


async def test_download_refuses_non_200(
    server: tuple[str, dict[str, int]], session: aiohttp.ClientSession, tmp_path: Path
) -> None:
    base, _ = server
    with pytest.raises(DownloadError, match="answered 404"):
        await Downloader(session).fetch(
            f"{base}/missing.png", tmp_path / "x.png", provider="pixeldojo"
        )


async def test_download_refuses_oversize(
    server: tuple[str, dict[str, int]],
    session: aiohttp.ClientSession,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    base, _ = server
    monkeypatch.setattr(fitting, "MAX_DOWNLOAD_BYTES", 300 * 1024)
    with pytest.raises(DownloadError, match="too large"):
        await Downloader(session).fetch(f"{base}/ok.png", tmp_path / "x.png", provider="pixeldojo")
    monkeypatch.setattr(fitting, "MAX_DOWNLOAD_BYTES", len(BODY))
    await Downloader(session).fetch(
        f"{base}/ok.png", tmp_path / "y.png", provider="pixeldojo"
    )  # exactly the cap


async def test_download_refuses_other_schemes_and_dead_hosts(
    session: aiohttp.ClientSession, tmp_path: Path
) -> None:
    downloader = Downloader(session)
    with pytest.raises(DownloadError, match="unsupported result URL scheme 'ftp'"):
        await downloader.fetch(
            "ftp://example.invalid/x.png", tmp_path / "x.png", provider="pixeldojo"
        )
    with pytest.raises(DownloadError, match="download failed"):
        await downloader.fetch("http://127.0.0.1:1/x.png", tmp_path / "x.png", provider="pixeldojo")


async def test_download_concurrency_is_bounded(
    server: tuple[str, dict[str, int]], session: aiohttp.ClientSession, tmp_path: Path
) -> None:
    base, stats = server
    downloader = Downloader(session, concurrency=2)
    await asyncio.gather(
        *(
            downloader.fetch(f"{base}/slow/{i}", tmp_path / f"{i}.bin", provider="pixeldojo")
            for i in range(6)
        )
    )
    assert stats["peak"] == 2


async def test_file_results_only_from_the_mock_inside_its_folder(
    session: aiohttp.ClientSession, tmp_path: Path
) -> None:
    mock_dir = tmp_path / "data" / "mock"
    mock_dir.mkdir(parents=True)
    inside = mock_dir / "mock-1-1.png"
    inside.write_bytes(b"\x89PNG mock")
    secret = tmp_path / "secret.txt"
    secret.write_text("DISCORD_TOKEN=...")
    (mock_dir / "link.png").symlink_to(secret)
    downloader = Downloader(session, mock_dir=mock_dir)
    dest = tmp_path / "out.bin"
    assert await downloader.fetch(inside.as_uri(), dest, provider="mock") == dest
    refused = [
        (inside.as_uri(), "pixeldojo"),  # a real host may not hand out local files
        (secret.as_uri(), "mock"),  # outside the mock's folder
        (f"file://{mock_dir}/../../secret.txt", "mock"),  # .. out of it
        ((mock_dir / "link.png").as_uri(), "mock"),  # a symlink out of it
        ((mock_dir / "missing.png").as_uri(), "mock"),
    ]
    for url, provider in refused:
        with pytest.raises(DownloadError):
            await downloader.fetch(url, tmp_path / "refused.bin", provider=provider)
    assert not (tmp_path / "refused.bin").exists()
    with pytest.raises(DownloadError):  # no mock folder configured: no file results at all
        await Downloader(session).fetch(inside.as_uri(), dest, provider="mock")


@pytest.mark.parametrize(
    "url",
    [
        "data:image/png;base64,iVBORw0KGgo=",
        "ftp://example.invalid/x.png",
        "gopher://127.0.0.1:6379/_INFO",
        "https://user:pass@example.invalid/x.png",
        "http:///x.png",
    ],
)
async def test_result_urls_only_plain_http(
    session: aiohttp.ClientSession, tmp_path: Path, url: str
) -> None:
    with pytest.raises(DownloadError):
        await Downloader(session).fetch(url, tmp_path / "x.png", provider="dashscope")


async def test_oversize_refused_from_content_length_before_reading(
    session: aiohttp.ClientSession, tmp_path: Path
) -> None:
    async def claims_big(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse()
        resp.content_length = fitting.MAX_DOWNLOAD_BYTES + 1
        await resp.prepare(request)
        await resp.write(b"x" * 1024)
        await asyncio.sleep(3)  # the rest never comes: only the header can refuse it in time
        return resp

    app = web.Application()
    app.router.add_get("/big.png", claims_big)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        async with asyncio.timeout(2):
            with pytest.raises(DownloadError, match="too large"):
                await Downloader(session).fetch(
                    f"http://127.0.0.1:{port}/big.png", tmp_path / "x.png", provider="pixeldojo"
                )
    finally:
        await runner.cleanup()
