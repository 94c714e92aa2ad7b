"""A strict fake of skills.video's Wan 2.7 Pro API (`/api/v1`), for contract tests.

It validates bodies the way the documentation page describes them (JSON or multipart/form-data,
unknown fields refused), speaks either status vocabulary, streams Server-Sent Events, and can answer
errors in each body shape seen in the wild: `{"error":CODE,"code":CODE,"message":...}` ("coded"),
the older `{"error":CODE,"message":...}` ("legacy") and a bare `{"message":...}` ("message").
"""

from __future__ import annotations

import asyncio
import io
import json
import re
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Literal

import aiohttp
from aiohttp import web
from PIL import Image

from tests.fakes.provider_server import PARSED_BODY, FakeProviderServer

Vocabulary = Literal["lower", "upper"]
ErrorShape = Literal["coded", "legacy", "message"]

MODEL = "wan/wan-v2.7-pro"
ASPECT_RATIOS = ("1:1", "3:4", "9:16", "4:3", "16:9")
IMAGE_SIZES = (
    "square_hd",
    "square",
    "portrait_4_3",
    "portrait_16_9",
    "portrait_9_16",
    "landscape_4_3",
    "landscape_16_9",
)
MAX_SEED = 2_147_483_647
MIN_INPUT_SIDE = 384
INT_FIELDS: dict[str, tuple[int, int]] = {
    "n": (1, 4),
    "seed": (0, MAX_SEED),
    "num_images": (1, 5),
    "max_images": (1, 5),
}
BOOL_FIELDS = ("enable_prompt_expansion", "enable_safety_checker")
STR_FIELDS = ("prompt", "negative_prompt", "aspect_ratio", "image_size")
KNOWN_FIELDS = frozenset({*INT_FIELDS, *BOOL_FIELDS, *STR_FIELDS, "image_urls"})

STATUS_WORDS: dict[Vocabulary, dict[str, str]] = {
    "lower": {
        "queued": "starting",
        "running": "processing",
        "succeeded": "succeeded",
        "failed": "failed",
        "canceled": "canceled",
    },
    "upper": {
        "queued": "IN_QUEUE",
        "running": "IN_PROGRESS",
        "succeeded": "COMPLETED",
        "failed": "FAILED",
        "canceled": "CANCELED",
    },
}
# The base class's fault codes, in this host's words.
BASE_CODES = {"rate_limited": "IMAGE_GENERATION_RATE_LIMITED", "unauthorized": "UNAUTHORIZED"}
STATUS_CODES = {500: "INTERNAL_ERROR", 502: "FAILED", 503: "PROVIDER_UNAVAILABLE", 504: "TIMEOUT"}
_INT_TEXT = re.compile(r"^-?\d+$")


class Invalid(Exception):
    """A request the host refuses with 400 INVALID_INPUT."""


@dataclass
class FakeJob:
    id: str
    created: float
    input: dict[str, Any]
    n: int
    aspect_ratio: str
    cost: int
    canceled: bool = False
    images: list[dict[str, Any]] | None = None


@dataclass
class ScriptedError:
    route: str
    status: int
    code: str
    message: str
    headers: dict[str, str] = field(default_factory=dict)


class FakeSkillsVideo(FakeProviderServer):
    prefix = "/api/v1"

    def __init__(
        self,
        *,
        job_duration_s: float = 0.2,
        result_size: tuple[int, int] = (64, 64),
        vocabulary: Vocabulary = "lower",
        error_shape: ErrorShape = "coded",
        sse_break_after: int | None = None,
        credits: int = 10_000,
        cost_per_image: int = 20,
    ) -> None:
        super().__init__(job_duration_s=job_duration_s, result_size=result_size)
        self.vocabulary = vocabulary
        self.error_shape = error_shape
        self.sse_break_after = sse_break_after
        self.credits = credits
        self.cost_per_image = cost_per_image
        self.jobs: dict[str, FakeJob] = {}
        self.scripted: deque[ScriptedError] = deque()

    def add_routes(self, app: web.Application) -> None:
        p = self.prefix
        app.router.add_post(p + "/generation/sse/{vendor}/{model}", self._stream)
        app.router.add_post(p + "/generation/{vendor}/{model}", self._submit)
        app.router.add_get(p + "/generation/{id}", self._get)
        app.router.add_get(p + "/credits", self._credits)

    # -- test controls ---------------------------------------------------------------------
    def script_error(
        self,
        route: str,
        status: int,
        code: str,
        message: str = "scripted failure",
        headers: dict[str, str] | None = None,
    ) -> None:
        """Answer the next request whose path contains `route` with this error (after the key)."""
        self.scripted.append(ScriptedError(route, status, code, message, headers or {}))

    def cancel_job(self, job_id: str) -> None:
        self.jobs[job_id].canceled = True

    def error_response(
        self, status: int, code: str, message: str, headers: dict[str, str] | None = None
    ) -> web.Response:
        code = BASE_CODES.get(code, code)
        if code == "internal_error":
            code = STATUS_CODES.get(status, "INTERNAL_ERROR")
        return web.json_response(self._error_body(code, message), status=status, headers=headers)

    def _error_body(self, code: str, message: str) -> dict[str, str]:
        if self.error_shape == "coded":
            return {"error": code, "code": code, "message": message}
        if self.error_shape == "legacy":
            return {"error": code, "message": message}
        return {"message": message}

    def check_key(self, request: web.Request) -> web.Response | None:
        given = request.headers.get("Authorization", "")
        if given != f"Bearer {self.api_key}":
            # Echoes what it was given, as some hosts do, so a client that repeats host
            # messages without redaction is caught.
            return self.error_response(401, "UNAUTHORIZED", f"Invalid API key: {given!r}")
        return None

    def _scripted(self, path: str) -> web.Response | None:
        for scripted in self.scripted:
            if scripted.route in path:
                self.scripted.remove(scripted)
                return self.error_response(
                    scripted.status, scripted.code, scripted.message, scripted.headers
                )
        return None

    # -- routes ----------------------------------------------------------------------------
    async def _submit(self, request: web.Request) -> web.Response:
        refused = self.check_key(request) or self._scripted(request.path)
        if refused is not None:
            return refused
        job = await self._create(request)
        if isinstance(job, web.Response):
            return job
        return web.json_response(
            {"id": job.id, "status": self._word("queued"), "usage": self._usage(job)}
        )

    async def _stream(self, request: web.Request) -> web.StreamResponse:
        refused = self.check_key(request) or self._scripted(request.path)
        if refused is not None:
            return refused
        if "text/event-stream" not in request.headers.get("Accept", ""):
            return self.error_response(
                400, "INVALID_INPUT", "Accept: text/event-stream is required"
            )
        job = await self._create(request)
        if isinstance(job, web.Response):
            return job
        response = web.StreamResponse(
            headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
        )
        await response.prepare(request)
        sent = 0
        last_status = ""
        deadline = time.monotonic() + 30  # never_finish must not outlive the test
        tick = max(self.job_duration_s / 10, 0.01)
        try:
            await response.write(b": connected\n\n")
            while time.monotonic() < deadline:
                view = self._view(job)
                if view["status"] != last_status:
                    last_status = view["status"]
                    await response.write(self._event(view, sent))
                    sent += 1
                    if self.sse_break_after is not None and sent >= self.sse_break_after:
                        assert request.transport is not None
                        request.transport.close()
                        return response
                    if view["status"] in self._terminal_words():
                        break
                else:
                    await response.write(b": keep-alive\n\n")
                await asyncio.sleep(tick)
            await response.write_eof()
        except ConnectionResetError:
            pass  # the client went away
        return response

    async def _get(self, request: web.Request) -> web.Response:
        refused = self.check_key(request) or self._scripted(request.path)
        if refused is not None:
            return refused
        job = self.jobs.get(request.match_info["id"])
        if job is None:
            return self.error_response(404, "NOT_FOUND", "Generation not found")
        return web.json_response(self._view(job))

    async def _credits(self, request: web.Request) -> web.Response:
        refused = self.check_key(request) or self._scripted(request.path)
        if refused is not None:
            return refused
        return web.json_response(
            {"total": self.credits, "subscription": self.credits, "permanent": 0}
        )

    # -- jobs ------------------------------------------------------------------------------
    async def _create(self, request: web.Request) -> FakeJob | web.Response:
        model = f"{request.match_info['vendor']}/{request.match_info['model']}"
        if model != MODEL:
            return self.error_response(400, "UNSUPPORTED_MODEL", f"Unknown model {model}")
        try:
            fields, images = self._fields(request)
            await self._validate(fields, images)
        except Invalid as e:
            return self.error_response(400, "INVALID_INPUT", str(e))
        n = int(fields.get("n", fields.get("num_images", 1)))
        cost = n * self.cost_per_image
        if cost > self.credits:
            return self.error_response(402, "INSUFFICIENT_CREDITS", "Not enough credits")
        self.credits -= cost
        shown = dict(fields)
        if images is not None:
            shown["image_urls"] = [i if isinstance(i, str) else "<file>" for i in images]
        job = FakeJob(
            id=self.new_id("gen_"),
            created=time.monotonic(),
            input=shown,
            n=n,
            aspect_ratio=str(fields.get("aspect_ratio", "1:1")),
            cost=cost,
        )
        self.jobs[job.id] = job
        return job

    def _fields(self, request: web.Request) -> tuple[dict[str, Any], list[str | bytes] | None]:
        """The body's fields with their JSON types, and the `image_urls` items (URL or bytes)."""
        body: Any = request[PARSED_BODY]
        if request.content_type == "application/json":
            if not isinstance(body, dict):
                raise Invalid("The body must be a JSON object")
            fields = dict(body)
            urls = fields.pop("image_urls", None)
            if urls is None:
                return fields, None
            if not isinstance(urls, list) or not all(isinstance(u, str) for u in urls):
                raise Invalid("image_urls must be an array of URLs")
            return fields, list(urls)
        if request.content_type == "multipart/form-data":
            assert isinstance(body, dict)
            fields = {}
            images: list[str | bytes] | None = None
            for name, parts in body.items():
                if name == "image_urls":
                    images = []
                    for part in parts:
                        if part["filename"] is None:
                            images.append(part["bytes"].decode())
                        else:
                            images.append(part["bytes"])
                    continue
                if len(parts) != 1 or parts[0]["filename"] is not None:
                    raise Invalid(f"{name} must be a single text field")
                fields[name] = self._typed(name, parts[0]["bytes"].decode())
            return fields, images
        raise Invalid("Send application/json or multipart/form-data")

    @staticmethod
    def _typed(name: str, text: str) -> Any:
        """A multipart text field converted to the JSON type the schema gives it."""
        if name in INT_FIELDS:
            if not _INT_TEXT.match(text):
                raise Invalid(f"{name} must be an integer")
            return int(text)
        if name in BOOL_FIELDS:
            if text not in ("true", "false"):
                raise Invalid(f"{name} must be true or false")
            return text == "true"
        return text

    async def _validate(self, fields: dict[str, Any], images: list[str | bytes] | None) -> None:
        unknown = sorted(set(fields) - KNOWN_FIELDS)
        if unknown:
            raise Invalid(f"Unknown field(s): {', '.join(unknown)}")
        for name in STR_FIELDS:
            if name in fields and not isinstance(fields[name], str):
                raise Invalid(f"{name} must be a string")
        for name in BOOL_FIELDS:
            if name in fields and not isinstance(fields[name], bool):
                raise Invalid(f"{name} must be a boolean")
        for name, (low, high) in INT_FIELDS.items():
            value = fields.get(name)
            if name == "seed" and value is None:
                continue
            if name in fields and (
                isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high
            ):
                raise Invalid(f"{name} must be an integer from {low} to {high}")
        prompt = fields.get("prompt")
        if not isinstance(prompt, str) or not 1 <= len(prompt) <= 2000:
            raise Invalid("prompt is required, 1-2000 characters")
        if len(fields.get("negative_prompt", "")) > 500:
            raise Invalid("negative_prompt is limited to 500 characters")
        if fields.get("aspect_ratio", "1:1") not in ASPECT_RATIOS:
            raise Invalid(f"aspect_ratio must be one of {', '.join(ASPECT_RATIOS)}")
        if "image_size" in fields and fields["image_size"] not in IMAGE_SIZES:
            raise Invalid(f"image_size must be one of {', '.join(IMAGE_SIZES)}")
        if images is not None:
            if not 1 <= len(images) <= 4:
                raise Invalid("image_urls takes 1 to 4 images")
            if fields.get("num_images", 1) > 4:
                raise Invalid("num_images is limited to 4 in edit mode")
            for index, item in enumerate(images):
                content = await self._download(item, index) if isinstance(item, str) else item
                self._check_image(content, index)

    async def _download(self, url: str, index: int) -> bytes:
        if not url.startswith(("http://", "https://")):
            raise Invalid(f"image_urls[{index}] is not a URL")
        try:
            async with (
                aiohttp.ClientSession() as session,
                session.get(url, timeout=aiohttp.ClientTimeout(total=5)) as response,
            ):
                if response.status != 200:
                    raise Invalid(f"image_urls[{index}] could not be downloaded")
                return await response.read()
        except (aiohttp.ClientError, TimeoutError) as e:
            raise Invalid(f"image_urls[{index}] could not be downloaded") from e

    @staticmethod
    def _check_image(content: bytes, index: int) -> None:
        try:
            with Image.open(io.BytesIO(content)) as image:
                width, height = image.size
                image.verify()
        except (OSError, SyntaxError, ValueError) as e:
            raise Invalid(f"image_urls[{index}] is not an image") from e
        if min(width, height) < MIN_INPUT_SIDE:
            raise Invalid(
                f"image_urls[{index}] is {width}x{height}; "
                f"each image must be at least {MIN_INPUT_SIDE}x{MIN_INPUT_SIDE}"
            )

    def _word(self, state: str) -> str:
        return STATUS_WORDS[self.vocabulary][state]

    def _terminal_words(self) -> tuple[str, ...]:
        return tuple(self._word(s) for s in ("succeeded", "failed", "canceled"))

    def _usage(self, job: FakeJob) -> dict[str, int]:
        return {"total": job.cost, "subscription": job.cost, "permanent": 0}

    def _view(self, job: FakeJob) -> dict[str, Any]:
        """The job as GET /generation/{id} shows it now."""
        elapsed = time.monotonic() - job.created
        view: dict[str, Any] = {"id": job.id, "input": job.input, "data": None}
        if job.canceled:
            view["status"] = self._word("canceled")
        elif elapsed < self.job_duration_s * 0.3:
            view["status"] = self._word("queued")
        elif self.never_finish or elapsed < self.job_duration_s:
            view["status"] = self._word("running")
        elif self.fail_jobs:
            view["status"] = self._word("failed")
            view.update(self._error_body(self.fail_jobs, f"Generation failed: {self.fail_jobs}"))
        else:
            view["status"] = self._word("succeeded")
            view["data"] = self._result(job)
        view["usage"] = self._usage(job)
        return view

    def _result(self, job: FakeJob) -> dict[str, Any]:
        if job.images is None:
            rw, rh = (int(x) for x in job.aspect_ratio.split(":"))
            side = self.result_size[0]
            width, height = side * rw // max(rw, rh), side * rh // max(rw, rh)
            job.images = []
            for i in range(job.n):
                name = f"{job.id}_{i}.png"
                url = self.add_result_file(name, width, height)
                job.images.append(
                    {
                        "url": url,
                        "file_name": name,
                        "content_type": "image/png",
                        "width": width,
                        "height": height,
                    }
                )
        return {
            "type": "image",
            "n": job.n,
            "actual_prompt": f"{job.input.get('prompt', '')} (expanded)",
            "images": job.images,
            "image": job.images[0],
        }

    def _event(self, view: dict[str, Any], number: int) -> bytes:
        """One SSE event; big ones span several `data:` lines, as the format allows."""
        payload = {
            k: view.get(k) for k in ("id", "status", "data", "usage", "error", "code", "message")
        }
        payload = {k: v for k, v in payload.items() if v is not None or k == "data"}
        text = json.dumps(payload)
        lines = [f"event: status\nid: {number}\n"]
        if view["data"] is not None:
            head, tail = text.split(', "data": ', 1)
            lines.append(f'data: {head},\ndata: "data": {tail}\n')
        else:
            lines.append(f"data: {text}\n")
        return ("".join(lines) + "\n").encode()
