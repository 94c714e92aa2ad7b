"""Results fetched to disk with bounded concurrency, then fitted under an upload limit."""

from __future__ import annotations

import asyncio
import logging
import shutil
from pathlib import Path
from urllib.parse import unquote, urlparse

import aiohttp
from PIL import Image

from wanbot.jobs.ports import DeliveredFile

log = logging.getLogger(__name__)

# A result bigger than this is not an image we asked for; refuse rather than fill the disk.
MAX_DOWNLOAD_BYTES = 200 * 1024 * 1024


class DownloadError(Exception):
    pass


class Downloader:
    """Streams result files to disk; at most `concurrency` downloads at once across all jobs.

    A result URL comes from an image host, so it is not trusted either: `file://` only from the
    mock and only inside `mock_dir` (symlinks resolved first, so none leads out of it); any other
    URL only over http(s), without credentials in it, and capped in size before and while reading.
    """

    def __init__(
        self,
        session: aiohttp.ClientSession,
        concurrency: int = 4,
        *,
        mock_dir: Path | None = None,
    ) -> None:
        self._session = session
        self._slots = asyncio.Semaphore(concurrency)
        self._mock_dir = mock_dir.resolve() if mock_dir is not None else None

    async def fetch(self, url: str, dest: Path, *, provider: str) -> Path:
        """Copy the result at `url`, made by `provider`, to `dest`; DownloadError when refused."""
        parsed = urlparse(url)
        async with self._slots:
            if parsed.scheme == "file":
                source = self._local_result(parsed.path, provider)
                await asyncio.to_thread(_copy_capped, source, dest)
                return dest
            if parsed.scheme not in ("http", "https"):
                raise DownloadError(f"unsupported result URL scheme {parsed.scheme!r}")
            if parsed.username is not None or parsed.password is not None or not parsed.hostname:
                raise DownloadError("result URL carries credentials or no host")
            await self._download(url, dest)
            return dest

    def _local_result(self, raw_path: str, provider: str) -> Path:
        if provider != "mock" or self._mock_dir is None:
            raise DownloadError(f"a file result from {provider!r} is not accepted")
        try:
            source = Path(unquote(raw_path)).resolve(strict=True)
        except (OSError, RuntimeError) as e:
            raise DownloadError("the mock result is missing") from e
        if not source.is_relative_to(self._mock_dir) or not source.is_file():
            raise DownloadError("a file result outside the mock's folder is not accepted")
        return source

    async def _download(self, url: str, dest: Path) -> None:
        timeout = aiohttp.ClientTimeout(total=120, sock_connect=10)
        try:
            async with self._session.get(url, timeout=timeout, max_redirects=3) as resp:
                if resp.status != 200:
                    raise DownloadError(f"result download answered {resp.status}")
                if resp.content_length is not None and resp.content_length > MAX_DOWNLOAD_BYTES:
                    raise DownloadError("result file is too large")
                written = 0
                with dest.open("wb") as out:
                    async for chunk in resp.content.iter_chunked(256 * 1024):
                        written += len(chunk)
                        if written > MAX_DOWNLOAD_BYTES:
                            raise DownloadError("result file is too large")
                        out.write(chunk)
        except (aiohttp.ClientError, TimeoutError) as e:
            raise DownloadError(f"result download failed ({type(e).__name__})") from e


def _copy_capped(source: Path, dest: Path) -> None:
    if source.stat().st_size > MAX_DOWNLOAD_BYTES:
        raise DownloadError("result file is too large")
    shutil.copyfile(source, dest)


def _mb(size: int) -> str:
    return f"{size / 1_000_000:.1f} MB"


def fit_under(path: Path, limit: int, filename: str) -> DeliveredFile:
    """Return the file as is if it fits; else a JPEG re-encode, shrunk until it fits."""
    size = path.stat().st_size
    with Image.open(path) as image:
        image.load()
        original_format = image.format or "image"
        width, height = image.size
        if size <= limit:
            return DeliveredFile(path, filename, width, height, size)
        rgb = image.convert("RGB")
    stem = filename.rsplit(".", 1)[0]
    target = path.with_suffix(".fit.jpg")
    scale = 1.0
    quality = 90
    while True:
        frame = (
            rgb
            if scale == 1.0
            else rgb.resize(
                (max(1, int(width * scale)), max(1, int(height * scale))), Image.Resampling.LANCZOS
            )
        )
        frame.save(target, format="JPEG", quality=quality, optimize=True)
        fitted = target.stat().st_size
        if fitted <= limit:
            break
        if frame.width == 1 and frame.height == 1:
            raise ValueError(f"{filename} cannot be made smaller than {limit} bytes")
        if quality > 75:
            quality -= 10
        else:
            scale *= max(0.5, min(0.9, (limit / fitted) ** 0.5 * 0.95))
    note = (
        f"shown as JPEG {frame.width}×{frame.height}, {_mb(fitted)}; "
        f"original {original_format} was {_mb(size)}"
    )
    return DeliveredFile(
        target, f"{stem}.jpg", frame.width, frame.height, fitted, note, original_format, size
    )


def pack(
    files: list[DeliveredFile], *, max_files: int = 10, max_bytes: int = 24 * 1024 * 1024
) -> list[list[DeliveredFile]]:
    """Split files into messages of at most `max_files` and `max_bytes` (Discord's request cap)."""
    messages: list[list[DeliveredFile]] = []
    current: list[DeliveredFile] = []
    size = 0
    for item in files:
        if current and (len(current) == max_files or size + item.size_bytes > max_bytes):
            messages.append(current)
            current, size = [], 0
        current.append(item)
        size += item.size_bytes
    if current:
        messages.append(current)
    return messages
