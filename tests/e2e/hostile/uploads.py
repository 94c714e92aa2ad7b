"""Attachments a member can hand /edit: good images, bad ones and decompression bombs."""

from __future__ import annotations

import io
import random
import struct
import zipfile
import zlib
from dataclasses import dataclass
from typing import Any

from PIL import Image

from tests.e2e.hostile.prompts import Ids, Verdict


def _encode(image: Image.Image, kind: str) -> bytes:
    buf = io.BytesIO()
    image.save(buf, format=kind)
    return buf.getvalue()


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_claiming(width: int, height: int) -> bytes:
    """A small PNG whose header claims `width`×`height`: a decompression bomb's calling card."""
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", zlib.compress(b"\0" * 256))
        + _chunk(b"IEND", b"")
    )


@dataclass(frozen=True)
class Upload:
    label: str
    data: bytes
    content_type: str
    extension: str
    verdict: Verdict
    size: tuple[int, int] | None = None  # pixels, for an image the bot can use

    def __repr__(self) -> str:
        return f"<{self.label}>"

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:  # hypothesis' printer
        printer.text(repr(self))


def uploads() -> list[Upload]:
    noise = Image.frombytes("RGB", (400, 300), random.Random(7).randbytes(400 * 300 * 3))
    noisy_png = _encode(noise, "PNG")
    photo = _encode(Image.new("RGB", (640, 480), (10, 120, 200)), "PNG")
    zipped = io.BytesIO()
    with zipfile.ZipFile(zipped, "w") as archive:
        archive.writestr("a.txt", "hello")
    return [
        Upload("png", photo, "image/png", "png", "ok", (640, 480)),
        Upload("tall png", noisy_png, "image/png", "png", "ok", (400, 300)),
        Upload(
            "jpeg",
            _encode(Image.new("RGB", (500, 700), (200, 30, 30)), "JPEG"),
            "image/jpeg",
            "jpg",
            "ok",
            (500, 700),
        ),
        Upload(
            "webp",
            _encode(Image.new("RGB", (400, 400), (30, 200, 30)), "WEBP"),
            "image/webp",
            "webp",
            "ok",
            (400, 400),
        ),
        Upload(
            "bmp",
            _encode(Image.new("RGB", (300, 260), (0, 0, 0)), "BMP"),
            "image/bmp",
            "bmp",
            "ok",
            (300, 260),
        ),
        Upload("png called jpeg", photo, "image/jpeg", "jpg", "ok", (640, 480)),
        Upload(
            "too small",
            _encode(Image.new("RGB", (100, 100)), "PNG"),
            "image/png",
            "png",
            "bad",
        ),
        Upload(
            "gif",
            _encode(Image.new("P", (300, 300)), "GIF"),
            "image/gif",
            "gif",
            "bad",
        ),
        Upload("text", b"hello, not a picture", "text/plain", "txt", "bad"),
        Upload("zip", zipped.getvalue(), "application/zip", "zip", "bad"),
        Upload("zip called png", zipped.getvalue(), "image/png", "png", "bad"),
        Upload("png called octet-stream", photo, "application/octet-stream", "png", "bad"),
        Upload("empty", b"", "image/png", "png", "bad"),
        Upload("truncated png", noisy_png[: len(noisy_png) // 2], "image/png", "png", "bad"),
        Upload("signature only", noisy_png[:8], "image/png", "png", "bad"),
        Upload("bomb 100000x100000", png_claiming(100_000, 100_000), "image/png", "png", "bad"),
        Upload("bomb 9000x9000", png_claiming(9000, 9000), "image/png", "png", "bad"),
        Upload("header only 3000x3000", png_claiming(3000, 3000), "image/png", "png", "bad"),
    ]


def filenames(ids: Ids) -> list[str]:
    return [
        "photo",
        "@everyone",
        "@here",
        f"<@{ids.alice}>",
        f"<@&{ids.role}>",
        "**bold**",
        "__init__",
        "évier ✨",
        "\u202egnp.exe",
        "a" * 150,
    ]
