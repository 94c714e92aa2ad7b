"""Images members hand in for editing: checked by their bytes, kept on disk for the job's life.

Discord attachment links are signed and expire, and a job may be resumed after a restart, so each
input is copied to `data_dir/inputs/` once, checked there, and the job refers to the copy.
"""

from __future__ import annotations

import io
import logging
import uuid
import warnings
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, UnidentifiedImageError

from wanbot.errors import Refusal, RefusalReason
from wanbot.providers.models import InputImage
from wanbot.pruning import prune_older

log = logging.getLogger(__name__)

# Pillow format name → MIME type, for the formats any host here takes.
FORMATS = {"PNG": "image/png", "JPEG": "image/jpeg", "WEBP": "image/webp", "BMP": "image/bmp"}
MAX_INPUT_BYTES = 20 * 1024 * 1024
# A decompression bomb is small on disk and huge in memory: refuse by pixel count from the header,
# before any pixel is decoded.
MAX_INPUT_PIXELS = 40_000_000
KEEP_INPUTS_S = 7 * 24 * 3600


@dataclass(frozen=True)
class Offered:
    """What Discord says of an attachment before it is downloaded."""

    filename: str
    size: int
    content_type: str | None
    width: int | None
    height: int | None


def bad_input(name: str, problem: str, **values: object) -> Refusal:
    """An input image refused: `problem` says why (empty, too_large, not_image, unreadable,
    format, too_many_pixels, damaged), `values` the numbers the reply shows."""
    return Refusal(RefusalReason.BAD_INPUT_IMAGE, {"name": name[:60], "problem": problem, **values})


def precheck(offered: Offered) -> None:
    """Refuse from the attachment's metadata alone, so most refusals come at once."""
    name = offered.filename
    if offered.size == 0:
        raise bad_input(name, "empty")
    if offered.size > MAX_INPUT_BYTES:
        raise bad_input(
            name,
            "too_large",
            size_mb=round(offered.size / 1_000_000, 1),
            mb=MAX_INPUT_BYTES // (1024 * 1024),
        )
    if offered.content_type and not offered.content_type.startswith("image/"):
        raise bad_input(name, "not_image", content_type=offered.content_type[:60])
    if offered.width is None or offered.height is None:
        # Discord measures every image it can read; an attachment without a size is not one.
        raise bad_input(name, "unreadable")


def inspect(data: bytes, filename: str) -> tuple[str, int, int]:
    """Content type, width and height judged from the bytes; a Refusal when unusable."""
    if not data:
        raise bad_input(filename, "empty")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
        with image:
            kind = image.format or ""
            width, height = image.size
            if kind not in FORMATS:
                raise bad_input(filename, "format", format=kind[:20] or None)
            if width * height > MAX_INPUT_PIXELS:
                raise bad_input(filename, "too_many_pixels", width=width, height=height)
            image.load()  # decodes every pixel: a truncated or corrupt file fails here
    except Refusal:
        raise
    except (
        UnidentifiedImageError,
        OSError,
        SyntaxError,
        ValueError,
        Image.DecompressionBombError,
        Image.DecompressionBombWarning,
    ):
        raise bad_input(filename, "damaged") from None
    return FORMATS[kind], width, height


def store_input(data_dir: Path, data: bytes, filename: str, source_url: str | None) -> InputImage:
    """Check the bytes and keep a copy for the job; returns the job's view of the image."""
    content_type, width, height = inspect(data, filename)
    folder = data_dir / "inputs"
    folder.mkdir(parents=True, exist_ok=True)
    extension = content_type.removeprefix("image/").replace("jpeg", "jpg")
    path = folder / f"{uuid.uuid4().hex}.{extension}"
    path.write_bytes(data)
    return InputImage(
        path=str(path),
        content_type=content_type,
        width=width,
        height=height,
        size_bytes=len(data),
        source_url=source_url,
        filename=filename[:100] or f"image.{extension}",
    )


def prune_inputs(data_dir: Path, now: float | None = None) -> int:
    """Delete kept inputs older than a week (rerolls of older edits then need a new upload)."""
    return prune_older(data_dir / "inputs", KEEP_INPUTS_S, now)
