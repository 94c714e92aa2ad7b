"""An offline image host: real images drawn locally, no key, no cost.

Operators can try the whole bot in their server without paying anyone. Each job is a small JSON
file under `data_dir/mock/`, so jobs survive a restart like a real host's would. Images are drawn
after `delay_s` at the requested size, with the prompt, seed and size on them and a large MOCK
mark. In image-set mode the host "chooses" how many images to make, as the real model does: one
fewer than asked for odd seeds, so partial delivery is exercised too.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import os
import textwrap
import time
import uuid
from pathlib import Path
from typing import ClassVar

from PIL import Image, ImageDraw, ImageFont, ImageOps

from wanbot.config import MockConfig
from wanbot.providers.base import Provider
from wanbot.providers.capabilities import Capabilities
from wanbot.providers.errors import GenerationFailed
from wanbot.providers.models import GenerationRequest, JobState, JobStatus, ResultImage
from wanbot.providers.sizes import dimensions
from wanbot.pruning import prune_older

log = logging.getLogger(__name__)

KEEP_MOCK_JOBS_S = 7 * 24 * 3600


class MockProvider(Provider):
    name = "mock"
    capabilities: ClassVar[Capabilities] = Capabilities(
        label="Mock",
        negative_prompt=True,
        safety_checker=True,
        max_input_images=4,
    )

    def __init__(self, config: MockConfig, *, data_dir: Path) -> None:
        self._delay_s = config.delay_s
        self._dir = (data_dir / "mock").resolve()
        self._dir.mkdir(parents=True, exist_ok=True)
        self._render_lock = asyncio.Lock()

    def _job_file(self, job_id: str) -> Path:
        if not job_id.startswith("mock-") or not job_id[5:].isalnum():
            raise GenerationFailed("unknown mock job", provider=self.name)
        return self._dir / f"{job_id}.json"

    async def submit(self, request: GenerationRequest) -> JobStatus:
        self.check(request)
        job_id = f"mock-{uuid.uuid4().hex}"
        record = {"request": request.model_dump(mode="json"), "submitted_at": time.time()}
        self._job_file(job_id).write_text(json.dumps(record), encoding="utf-8")
        log.debug("mock job %s submitted", job_id)
        return JobStatus(job_id=job_id, state=JobState.QUEUED, raw_status="queued")

    async def get_status(self, job_id: str) -> JobStatus:
        path = self._job_file(job_id)
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            error = GenerationFailed("the mock job is unknown", provider=self.name)
            return JobStatus(job_id=job_id, state=JobState.FAILED, error=error)
        if record.get("cancelled"):
            return JobStatus(job_id=job_id, state=JobState.CANCELLED, raw_status="cancelled")
        elapsed = time.time() - record["submitted_at"]
        if elapsed < self._delay_s:
            progress = elapsed / self._delay_s if self._delay_s else 1.0
            return JobStatus(
                job_id=job_id, state=JobState.RUNNING, progress=progress, raw_status="running"
            )
        request = GenerationRequest.model_validate(record["request"])
        async with self._render_lock:
            files = await asyncio.to_thread(self._render_all, job_id, request)
        images = tuple(
            ResultImage(url=f.as_uri(), width=w, height=h, content_type="image/png")
            for f, w, h in files
        )
        return JobStatus(
            job_id=job_id,
            state=JobState.SUCCEEDED,
            images=images,
            cost=0.0,
            raw_status="succeeded",
            progress=1.0,
        )

    def prune(self, now: float | None = None) -> int:
        """Forget jobs older than a week; their images are long delivered by then."""
        return prune_older(self._dir, KEEP_MOCK_JOBS_S, now)

    async def cancel(self, job_id: str) -> bool:
        path = self._job_file(job_id)
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return False
        record["cancelled"] = True
        path.write_text(json.dumps(record), encoding="utf-8")
        return True

    def _render_all(self, job_id: str, request: GenerationRequest) -> list[tuple[Path, int, int]]:
        count = request.n
        if request.image_set and count > 1 and (request.seed or 0) % 2 == 1:
            count -= 1
        width, height = dimensions(request.aspect_ratio, request.size)
        out = []
        for index in range(count):
            path = self._dir / f"{job_id}-{index + 1}.png"
            if not path.exists():
                # Whole or absent: another process asked about the same job may be reading it.
                partial = path.with_name(f"{path.name}.{uuid.uuid4().hex}.part")
                render(request, index, width, height).save(partial, format="PNG", compress_level=1)
                os.replace(partial, path)
            out.append((path, width, height))
        return out


def _palette(request: GenerationRequest, index: int) -> tuple[str, str]:
    if request.palette:
        colours = [c.hex for c in request.palette]
        return colours[index % len(colours)], colours[(index + 1) % len(colours)]
    digest = hashlib.sha256(f"{request.prompt}|{request.seed}|{index}".encode()).digest()
    return f"#{digest[0:3].hex()}", f"#{digest[3:6].hex()}"


def render(request: GenerationRequest, index: int, width: int, height: int) -> Image.Image:
    """One mock image: a gradient (or the first input image), the MOCK mark and the request."""
    dark, light = _palette(request, index)
    if request.input_images:
        with Image.open(request.input_images[0].path) as source:
            base = ImageOps.fit(source.convert("RGB"), (width, height))
    else:
        gradient = Image.linear_gradient("L").rotate(45 * (index % 8), expand=False)
        base = ImageOps.colorize(gradient.resize((width, height)), dark, light)
    draw = ImageDraw.Draw(base)
    unit = max(12, min(width, height) // 24)
    mark = ImageFont.load_default(size=unit * 5)
    draw.text(
        (width // 2, height // 2),
        "MOCK",
        font=mark,
        anchor="mm",
        fill="white",
        stroke_width=max(2, unit // 4),
        stroke_fill="black",
    )
    small = ImageFont.load_default(size=unit)
    lines = textwrap.wrap(request.prompt, width=max(20, width // (unit * 2 // 3)))[:6]
    mode = "edit" if request.is_edit else "imagine"
    lines += [
        f"seed {request.seed}  ·  {width}x{height}  ·  {request.aspect_ratio} {request.size}",
        f"{mode}  ·  image {index + 1} of {request.n}",
    ]
    y = unit
    for line in lines:
        draw.text((unit, y), line, font=small, fill="white", stroke_width=2, stroke_fill="black")
        y += int(unit * 1.3)
    return base
