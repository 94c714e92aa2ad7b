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
    """Streams result files to disk; at most `concurrency` downloads at once across all jobs."""

    def __init__(self, session: aiohttp.ClientSession, concurrency: int = 4) -> None:
        self._session = session
        self._slots = asyncio.Semaphore(concurrency)

    async def fetch(self, url: str, dest: Path) -> Path:
        async with self._slots:
            parsed = urlparse(url)
            if parsed.scheme == "file":
                source = Path(unquote(parsed.path))
                await asyncio.to_thread(shutil.copyfile, source, dest)
                return dest
            if parsed.scheme not in ("http", "https"):
                raise DownloadError(f"unsupported result URL scheme {parsed.scheme!r}")
            timeout = aiohttp.ClientTimeout(total=120, sock_connect=10)
            try:
                async with self._session.get(url, timeout=timeout) as resp:
                    if resp.status != 200:
                        raise DownloadError(f"result download answered {resp.status}")
                    written = 0
                    with dest.open("wb") as out:
                        async for chunk in resp.content.iter_chunked(256 * 1024):
                            written += len(chunk)
                            if written > MAX_DOWNLOAD_BYTES:
                                raise DownloadError("result file is too large")
                            out.write(chunk)
            except (aiohttp.ClientError, TimeoutError) as e:
                raise DownloadError(f"result download failed ({type(e).__name__})") from e
            return dest


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
    return DeliveredFile(target, f"{stem}.jpg", frame.width, frame.height, fitted, note)


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
