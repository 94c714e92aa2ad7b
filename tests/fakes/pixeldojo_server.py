"""A fake PixelDojo jobs API that validates requests as strictly as the docs describe.

Routes (under /api/v1): ``POST /models/{model}/run``, ``GET /jobs/{id}``, ``GET /models/{model}``.
The run body is checked against the same request schema the fake serves (additionalProperties:
false), so a client that guesses a field name or a format the docs don't allow gets the 400 the
real host would give. ``webhook_url`` is a run option beside the model's fields (PixelDojo's SDK
shows it; the payload is undocumented): when the job ends, the fake POSTs the job's status answer,
as ``GET /jobs/{id}`` gives it, to that URL once.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import io
import re
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Literal, cast

import aiohttp
from aiohttp import web
from PIL import Image, UnidentifiedImageError

from tests.fakes.provider_server import PARSED_BODY, FakeProviderServer

ErrorShape = Literal["nested", "flat", "error_only", "message"]
ImageFieldName = Literal["images", "image_urls", "image_url"]

MODELS = ("wan-2.7-image-pro", "wan-2.7-image")
FOUR_K_MODELS = ("wan-2.7-image-pro",)
ASPECT_RATIOS = ("1:1", "16:9", "9:16", "4:3", "3:4", "5:4", "4:5")
MAX_SEED = 2_147_483_647
MAX_2K_PIXELS = 2048 * 2048
MAX_INPUT_IMAGES = 4

FAILURE_MESSAGES = {
    "content_moderation": "The request was blocked by content moderation (NSFW)",
    "generation_failed": "The model failed to generate an image",
}

_HEX = re.compile(r"^#[0-9A-Fa-f]{6}$")
_RATIO = re.compile(r"^(\d{1,3})\.(\d{2})%$")
_WXH = re.compile(r"^(\d{2,5})\*(\d{2,5})$")
_DATA_URI = re.compile(r"^data:(image/(?:png|jpeg|webp|bmp));base64,([A-Za-z0-9+/]+={0,2})$")
_PIL_TYPES = {"PNG": "image/png", "JPEG": "image/jpeg", "WEBP": "image/webp", "BMP": "image/bmp"}


class InvalidRequest(Exception):
    """One reason the fake refuses a run body."""


@dataclass
class FakeJob:
    id: str
    model: str
    body: dict[str, Any]
    n: int
    cost: int
    created: float = field(default_factory=time.monotonic)
    urls: list[str] = field(default_factory=list)
    webhook_url: str | None = None


@dataclass(frozen=True)
class Push:
    """One webhook call the fake made: to which URL, for which job, what the bot answered."""

    job_id: str
    url: str
    status: int | None  # None: no answer (connection refused, timeout)
    at: float  # time.monotonic()


class FakePixelDojo(FakeProviderServer):
    prefix = "/api/v1"

    def __init__(
        self,
        *,
        image_field: ImageFieldName | tuple[ImageFieldName, ...] | None = "images",
        error_shape: ErrorShape = "nested",
        credits: int = 1000,
        credit_cost: int = 2,
        job_duration_s: float = 0.2,
        result_size: tuple[int, int] = (64, 64),
        submit_rate: tuple[int, float] | None = None,
    ) -> None:
        """`submit_rate=(n, seconds)`: a host's fixed rate limit, at most n accepted submissions
        in any `seconds` (a sliding window); one more is answered 429 with a Retry-After saying
        when a slot frees."""
        super().__init__(job_duration_s=job_duration_s, result_size=result_size)
        self.submit_rate = submit_rate
        self.accepted_at: deque[float] = deque()  # accepted submissions in the rate window
        self.rate_limited = 0  # submissions refused by `submit_rate`
        self.image_fields: tuple[ImageFieldName, ...] = (
            ()
            if image_field is None
            else (image_field,)
            if isinstance(image_field, str)
            else image_field
        )
        self.error_shape: ErrorShape = error_shape
        self.credits = credits
        self.credit_cost = credit_cost
        self.job_error_as_object = (
            False  # failed jobs carry {"code", "message"} instead of a string
        )
        self.echo_auth_in_errors = False  # a careless host that repeats the key it was given
        self.jobs: dict[str, FakeJob] = {}
        self.canned: dict[str, deque[tuple[int, Any]]] = {}
        # A host with room for so many unfinished jobs: a run beyond it is answered 429.
        self.max_in_flight: int | None = None
        self.busy_retry_after_s = 0.5
        self.refused_busy = 0
        self.peak_in_flight = 0
        self.pushes: list[Push] = []
        self.drop_pushes = False  # the host "forgets" to call: the bot must poll anyway
        self._pushers: set[asyncio.Task[None]] = set()
        self._push_session: aiohttp.ClientSession | None = None

    async def stop(self) -> None:
        for task in list(self._pushers):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._push_session is not None:
            await self._push_session.close()
        await super().stop()

    def add_routes(self, app: web.Application) -> None:
        app.router.add_post(self.prefix + "/models/{model}/run", self._run)
        app.router.add_get(self.prefix + "/jobs/{job_id}", self._job)
        app.router.add_get(self.prefix + "/models/{model}", self._model)

    # -- knobs for tests ---------------------------------------------------------------------
    def reply_next(self, route: str, status: int, body: Any) -> None:
        """Answer the next request whose path contains `route` with this JSON body, as is."""
        self.canned.setdefault(route, deque()).append((status, body))

    def error_response(
        self, status: int, code: str, message: str, headers: dict[str, str] | None = None
    ) -> web.Response:
        body: dict[str, Any]
        if self.error_shape == "nested":
            body = {"error": {"code": code, "message": message, "status": status}}
        elif self.error_shape == "flat":
            body = {"error": message, "code": code}
        elif self.error_shape == "error_only":
            body = {"error": message}
        else:
            body = {"message": message}
        return web.json_response(body, status=status, headers=headers)

    def request_schema(self) -> dict[str, Any]:
        properties: dict[str, Any] = {
            "prompt": {"type": "string", "minLength": 1, "description": "Text description"},
            "size": {"type": "string", "default": "2K", "description": "1K, 2K, 4K or W*H"},
            "thinking_mode": {"type": "boolean", "default": False},
            "n": {"type": "integer", "minimum": 1, "maximum": 12, "default": 1},
            "enable_sequential": {"type": "boolean", "default": False},
            "seed": {"type": "integer", "minimum": 0, "maximum": MAX_SEED},
            "color_palette": {
                "type": "array",
                "minItems": 3,
                "maxItems": 10,
                "items": {
                    "type": "object",
                    "additionalProperties": False,
                    "required": ["hex", "ratio"],
                    "properties": {
                        "hex": {"type": "string", "pattern": _HEX.pattern},
                        "ratio": {"type": "string", "pattern": _RATIO.pattern},
                    },
                },
            },
            "aspect_ratio": {"type": "string", "enum": list(ASPECT_RATIOS), "default": "1:1"},
        }
        for name in self.image_fields:
            if name == "image_url":
                properties[name] = {"type": "string", "format": "uri"}
            else:
                properties[name] = {
                    "type": "array",
                    "items": {"type": "string", "format": "uri"},
                    "minItems": 1,
                    "maxItems": MAX_INPUT_IMAGES,
                }
        return {
            "type": "object",
            "additionalProperties": False,
            "required": ["prompt"],
            "properties": properties,
        }

    # -- handlers ----------------------------------------------------------------------------
    def _canned(self, request: web.Request) -> web.Response | None:
        for route, queue in self.canned.items():
            if queue and route in request.path:
                status, body = queue.popleft()
                return web.json_response(body, status=status)
        return None

    def _auth(self, request: web.Request) -> web.Response | None:
        refused = self.check_key(request)
        if refused is not None and self.echo_auth_in_errors:
            given = request.headers.get("Authorization", "")
            return self.error_response(401, "unauthorized", f"Invalid API key: {given}")
        return refused

    async def _model(self, request: web.Request) -> web.Response:
        answer = self._canned(request) or self._auth(request)
        if answer is not None:
            return answer
        model = request.match_info["model"]
        if model not in MODELS:
            return self.error_response(404, "model_not_found", f"Model {model} not found")
        return web.json_response(
            {
                "apiId": model,
                "name": "WAN 2.7 Pro" if model in FOUR_K_MODELS else "WAN 2.7",
                "modality": "image",
                "requestSchema": self.request_schema(),
            }
        )

    async def _run(self, request: web.Request) -> web.Response:
        answer = self._canned(request) or self._auth(request)
        if answer is not None:
            return answer
        model = request.match_info["model"]
        if model not in MODELS:
            return self.error_response(404, "model_not_found", f"Model {model} not found")
        body = request[PARSED_BODY]
        try:
            webhook_url = _webhook_url(body)
            n = self.validate(model, _without_webhook(body))
        except InvalidRequest as e:
            return self.error_response(400, "invalid_request", str(e))
        refused = self._over_rate()
        if refused is not None:
            return refused
        in_flight = self.in_flight()
        if self.max_in_flight is not None and in_flight >= self.max_in_flight:
            self.refused_busy += 1
            return self.error_response(
                429,
                "rate_limited",
                "Too many jobs in progress",
                {"Retry-After": f"{self.busy_retry_after_s:g}"},
            )
        cost = n * self.credit_cost
        if cost > self.credits:
            return self.error_response(
                402, "insufficient_credits", f"Not enough credits: need {cost}, have {self.credits}"
            )
        self.credits -= cost
        self.accepted_at.append(time.monotonic())
        job = FakeJob(self.new_id("job_"), model, cast(dict[str, Any], body), n, cost)
        job.webhook_url = webhook_url
        self.jobs[job.id] = job
        self.peak_in_flight = max(self.peak_in_flight, in_flight + 1)
        if webhook_url is not None:
            pusher = asyncio.create_task(self._push_when_done(job))
            self._pushers.add(pusher)
            pusher.add_done_callback(self._pushers.discard)
        return web.json_response(
            {
                "jobId": job.id,
                "status": "pending",
                "statusUrl": f"{self.base_url}/jobs/{job.id}",
                "creditCost": cost,
                "creditsRemaining": self.credits,
            },
            status=202,
        )

    def _over_rate(self) -> web.Response | None:
        if self.submit_rate is None:
            return None
        limit, window_s = self.submit_rate
        now = time.monotonic()
        while self.accepted_at and self.accepted_at[0] <= now - window_s:
            self.accepted_at.popleft()
        if len(self.accepted_at) < limit:
            return None
        self.rate_limited += 1
        wait = max(0.05, self.accepted_at[0] + window_s - now)
        return self.error_response(
            429, "rate_limited", "Too many submissions", {"Retry-After": f"{wait:.2f}"}
        )

    async def _job(self, request: web.Request) -> web.Response:
        answer = self._canned(request) or self._auth(request)
        if answer is not None:
            return answer
        job = self.jobs.get(request.match_info["job_id"])
        if job is None:
            return self.error_response(404, "job_not_found", "Job not found")
        return web.json_response(self.job_answer(job))

    def finished(self, job: FakeJob) -> bool:
        return not self.never_finish and time.monotonic() - job.created >= self.duration_of(job)

    def duration_of(self, job: FakeJob) -> float:
        """How long the job takes (one duration for all here; a subclass may vary it)."""
        return self.job_duration_s

    def job_answer(self, job: FakeJob) -> dict[str, Any]:
        """What `GET /jobs/{id}` says of the job now."""
        base: dict[str, Any] = {"jobId": job.id, "creditCost": job.cost}
        if not self.finished(job):
            return {**base, "status": "processing"}
        if self.fail_jobs is not None:
            message = FAILURE_MESSAGES.get(self.fail_jobs, self.fail_jobs)
            error: Any = (
                {"code": self.fail_jobs, "message": message}
                if self.job_error_as_object
                else message
            )
            return {**base, "status": "failed", "error": error}
        if not job.urls:
            job.urls = [self.add_result_file(f"{job.id}-{i}.png") for i in range(job.n)]
        return {**base, "status": "completed", "output": {"images": job.urls}}

    def in_flight(self) -> int:
        """Jobs submitted and not yet finished."""
        return sum(1 for job in self.jobs.values() if not self.finished(job))

    async def _push_when_done(self, job: FakeJob) -> None:
        assert job.webhook_url is not None
        while True:  # past its time, unless held by `never_finish`
            await asyncio.sleep(max(0.02, job.created + self.duration_of(job) - time.monotonic()))
            if self.finished(job):
                break
        if self.drop_pushes:
            return
        if self._push_session is None:
            self._push_session = aiohttp.ClientSession()
        status: int | None = None
        try:
            async with self._push_session.post(
                job.webhook_url, json=self.job_answer(job), timeout=aiohttp.ClientTimeout(total=5)
            ) as response:
                status = response.status
        except (aiohttp.ClientError, TimeoutError):
            status = None
        self.pushes.append(Push(job.id, job.webhook_url, status, time.monotonic()))

    # -- validation --------------------------------------------------------------------------
    def validate(self, model: str, body: Any) -> int:
        """Check a run body; return how many images it asks for or raise InvalidRequest."""
        if not isinstance(body, dict):
            raise InvalidRequest("Request body must be a JSON object")
        allowed = self.request_schema()["properties"]
        unknown = sorted(set(body) - set(allowed))
        if unknown:
            raise InvalidRequest(f"Unrecognized key(s) in object: {', '.join(unknown)}")
        prompt = body.get("prompt")
        if not isinstance(prompt, str) or not prompt.strip():
            raise InvalidRequest("prompt: Required, a non-empty string")
        for flag in ("thinking_mode", "enable_sequential"):
            if flag in body and not isinstance(body[flag], bool):
                raise InvalidRequest(f"{flag}: Expected boolean")
        sequential = body.get("enable_sequential") is True
        n = body.get("n", 1)
        top = 12 if sequential else 4
        if not _is_int(n) or not 1 <= n <= top:
            raise InvalidRequest(f"n: Expected an integer from 1 to {top}")
        if "seed" in body and (not _is_int(body["seed"]) or not 0 <= body["seed"] <= MAX_SEED):
            raise InvalidRequest(f"seed: Expected an integer from 0 to {MAX_SEED}")
        if "aspect_ratio" in body and body["aspect_ratio"] not in ASPECT_RATIOS:
            raise InvalidRequest(f"aspect_ratio: Expected one of {', '.join(ASPECT_RATIOS)}")
        images = [name for name in self.image_fields if name in body]
        if len(images) > 1:
            raise InvalidRequest(f"Only one of {', '.join(images)} may be given")
        edit = bool(images)
        if images:
            self._validate_images(images[0], body[images[0]])
        self._validate_size(model, body.get("size", "2K"), edit=edit)
        if "color_palette" in body:
            if sequential:
                raise InvalidRequest("color_palette: Not available with enable_sequential")
            self._validate_palette(body["color_palette"])
        return int(n)

    def _validate_size(self, model: str, size: Any, *, edit: bool) -> None:
        if not isinstance(size, str):
            raise InvalidRequest("size: Expected string")
        four_k = size == "4K"
        if size not in ("1K", "2K", "4K"):
            match = _WXH.match(size)
            if match is None:
                raise InvalidRequest("size: Expected 1K, 2K, 4K or width*height")
            four_k = int(match[1]) * int(match[2]) > MAX_2K_PIXELS
        if four_k and model not in FOUR_K_MODELS:
            raise InvalidRequest(f"size: 4K is not supported by {model}")
        if four_k and edit:
            raise InvalidRequest("size: 4K is supported for text-to-image only")

    def _validate_images(self, name: str, value: Any) -> None:
        if name == "image_url":
            if not isinstance(value, str):
                raise InvalidRequest("image_url: Expected string")
            _check_image_ref(name, value)
            return
        if not isinstance(value, list) or not 1 <= len(value) <= MAX_INPUT_IMAGES:
            raise InvalidRequest(f"{name}: Expected an array of 1 to {MAX_INPUT_IMAGES} strings")
        for item in value:
            if not isinstance(item, str):
                raise InvalidRequest(f"{name}: Expected string items")
            _check_image_ref(name, item)

    def _validate_palette(self, palette: Any) -> None:
        if not isinstance(palette, list) or not 3 <= len(palette) <= 10:
            raise InvalidRequest("color_palette: Expected an array of 3 to 10 colours")
        total = 0
        for item in palette:
            if not isinstance(item, dict) or set(item) != {"hex", "ratio"}:
                raise InvalidRequest("color_palette: Each item needs exactly hex and ratio")
            if not isinstance(item["hex"], str) or not _HEX.match(item["hex"]):
                raise InvalidRequest("color_palette.hex: Expected #RRGGBB")
            ratio = _RATIO.match(item["ratio"]) if isinstance(item["ratio"], str) else None
            if ratio is None:
                raise InvalidRequest('color_palette.ratio: Expected a percentage like "25.00%"')
            hundredths = int(ratio[1]) * 100 + int(ratio[2])
            if hundredths <= 0:
                raise InvalidRequest("color_palette.ratio: Must be above 0.00%")
            total += hundredths
        if total != 10_000:
            raise InvalidRequest(
                f"color_palette: Ratios must sum to 100.00% (got {total // 100}.{total % 100:02d}%)"
            )


def _webhook_url(body: Any) -> str | None:
    if not isinstance(body, dict) or "webhook_url" not in body:
        return None
    url = body["webhook_url"]
    if not isinstance(url, str) or not url.startswith(("https://", "http://")):
        raise InvalidRequest("webhook_url: Expected an http(s) URL")
    return url


def _without_webhook(body: Any) -> Any:
    if isinstance(body, dict) and "webhook_url" in body:
        return {k: v for k, v in body.items() if k != "webhook_url"}
    return body


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_image_ref(name: str, value: str) -> None:
    if value.startswith(("https://", "http://")):
        return
    match = _DATA_URI.match(value)
    if match is None:
        raise InvalidRequest(f"{name}: Expected an image URL or a base64 image data URI")
    try:
        data = base64.b64decode(match[2], validate=True)
        with Image.open(io.BytesIO(data)) as image:
            kind = _PIL_TYPES.get(image.format or "")
            image.verify()
    except (binascii.Error, UnidentifiedImageError, OSError, SyntaxError) as e:
        raise InvalidRequest(f"{name}: The data URI is not a readable image") from e
    if kind != match[1]:
        raise InvalidRequest(f"{name}: The data URI says {match[1]} but holds {kind}")
