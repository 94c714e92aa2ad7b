"""A fake DashScope (Alibaba Cloud Model Studio) that validates Wan 2.7 image tasks strictly.

Routes under `/api/v1`:

- `POST /services/aigc/image-generation/generation` (needs `X-DashScope-Async: enable`) creates a
  task: `{"request_id", "output": {"task_id", "task_status": "PENDING"}}`.
- `GET /tasks/{id}`: PENDING for the first half of `job_duration_s`, then RUNNING, then SUCCEEDED
  with `n` PNGs (or FAILED with `fail_jobs` as the code); an unknown id answers UNKNOWN.
- `POST /tasks/{id}/cancel`: 200 for a PENDING task, else 400 UnsupportedOperation.

What is enforced, from the DashScope documentation for wan2.7-image(-pro):

- body keys `model`, `input`, `parameters` only; model `wan2.7-image-pro` or `wan2.7-image`;
- `input.messages`: exactly one `{"role": "user", "content": [...]}`; each content item has exactly
  one of `text` / `image`; exactly one text of 1-5000 characters; 0-9 images, each an http(s) URL
  or a base64 data URI of JPEG/PNG/BMP/WEBP (the MIME type must match the bytes), sides 240-8000
  px, shape within 1:8-8:1, at most 20 MB;
- `parameters`: only `size n seed watermark thinking_mode enable_sequential color_palette
  bbox_list`, each typed exactly (no bool for an int);
- `size`: `1K`, `2K` or `W*H` with 768*768 to 2048*2048 pixels in all and a shape within 1:8-8:1;
  `4K` and up to 4096*4096 pixels only for wan2.7-image-pro without input images or image set;
- `n` 1-4, or 1-12 with `enable_sequential`; `seed` 0-2147483647;
- `color_palette`: 3-10 `{"hex": "#RRGGBB", "ratio": "NN.NN%"}` totalling exactly 100.00%, not with
  `enable_sequential`.

Errors use DashScope's shape `{"request_id", "code", "message"}`. Result PNGs keep the requested
shape but are scaled down to `result_side` pixels on the long side to keep tests fast.
"""

from __future__ import annotations

import base64
import binascii
import io
import re
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from PIL import Image

from tests.fakes.provider_server import PARSED_BODY, FakeProviderServer

MODELS = frozenset({"wan2.7-image-pro", "wan2.7-image"})
PARAMETERS = frozenset(
    {
        "size",
        "n",
        "seed",
        "watermark",
        "thinking_mode",
        "enable_sequential",
        "color_palette",
        "bbox_list",
    }
)
MAX_TEXT = 5000
MAX_IMAGES = 9
MIN_SIDE, MAX_SIDE = 240, 8000
MAX_IMAGE_BYTES = 20 * 1024 * 1024
MIN_PIXELS = 768 * 768
MAX_PIXELS = 2048 * 2048
MAX_PIXELS_4K = 4096 * 4096
MAX_SEED = 2_147_483_647
TIER_PIXELS = {"1K": (1024, 1024), "2K": (2048, 2048), "4K": (4096, 4096)}
IMAGE_FORMATS = {"JPEG": "image/jpeg", "PNG": "image/png", "BMP": "image/bmp", "WEBP": "image/webp"}

_DATA_URI = re.compile(r"^data:(image/[a-z]+);base64,(.*)$", re.DOTALL)
_WXH = re.compile(r"^([1-9]\d{1,4})\*([1-9]\d{1,4})$")
_HEX = re.compile(r"^#[0-9A-Fa-f]{6}$")
_RATIO = re.compile(r"^(\d{1,3})\.(\d{2})%$")

# The base class names faults generically; DashScope spells them its own way.
_CODES = {
    "unauthorized": "InvalidApiKey",
    "rate_limited": "Throttling.RateQuota",
    "internal_error": "InternalError",
}


class Invalid(Exception):
    def __init__(self, message: str, code: str = "InvalidParameter") -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass
class FakeTask:
    task_id: str
    model: str
    n: int
    width: int
    height: int
    created: float
    duration_s: float
    fail_code: str | None
    never_finish: bool
    cancelled: bool = False
    urls: list[str] = field(default_factory=list)


@dataclass
class CannedResponse:
    status: int
    body: Any
    headers: dict[str, str] | None = None


class FakeDashScope(FakeProviderServer):
    prefix = "/api/v1"
    api_key = "sk-dashscope-test-0123456789abcdef"

    def __init__(
        self, *, job_duration_s: float = 0.2, result_size: tuple[int, int] = (64, 64)
    ) -> None:
        super().__init__(job_duration_s=job_duration_s, result_size=result_size)
        self.tasks: dict[str, FakeTask] = {}
        self.split_choices = False  # one choice per image instead of one choice holding all
        self.result_side = max(result_size)
        self.canned: dict[str, deque[CannedResponse]] = {}

    def add_routes(self, app: web.Application) -> None:
        app.router.add_post(
            f"{self.prefix}/services/aigc/image-generation/generation", self._create_task
        )
        app.router.add_get(f"{self.prefix}/tasks/{{task_id}}", self._get_task)
        app.router.add_post(f"{self.prefix}/tasks/{{task_id}}/cancel", self._cancel_task)

    # -- test controls --------------------------------------------------------------------------
    def respond(
        self,
        route: str,
        status: int,
        body: Any,
        *,
        headers: dict[str, str] | None = None,
        times: int = 1,
    ) -> None:
        """Answer the next `times` requests whose path contains `route` with this, as given."""
        queue = self.canned.setdefault(route, deque())
        queue.extend(CannedResponse(status, body, headers) for _ in range(times))

    def reject(self, route: str, status: int, code: str, message: str, *, times: int = 1) -> None:
        """Answer the next `times` matching requests with a DashScope error."""
        body = {"request_id": str(uuid.uuid4()), "code": code, "message": message}
        self.respond(route, status, body, times=times)

    def error_response(
        self, status: int, code: str, message: str, headers: dict[str, str] | None = None
    ) -> web.Response:
        body = {"request_id": str(uuid.uuid4()), "code": _CODES.get(code, code), "message": message}
        return web.json_response(body, status=status, headers=headers)

    def check_key(self, request: web.Request) -> web.Response | None:
        if request.headers.get("Authorization") != f"Bearer {self.api_key}":
            return self.error_response(401, "InvalidApiKey", "Invalid API-key provided.")
        return None

    def _canned(self, path: str) -> web.Response | None:
        for route, queue in self.canned.items():
            if queue and route in path:
                canned = queue.popleft()
                if isinstance(canned.body, str):
                    return web.Response(
                        status=canned.status,
                        text=canned.body,
                        content_type="application/json",
                        headers=canned.headers,
                    )
                return web.json_response(canned.body, status=canned.status, headers=canned.headers)
        return None

    # -- routes ---------------------------------------------------------------------------------
    async def _create_task(self, request: web.Request) -> web.Response:
        refused = self.check_key(request) or self._canned(request.path)
        if refused is not None:
            return refused
        if request.headers.get("X-DashScope-Async") != "enable":
            return self.error_response(
                400, "AccessDenied", "current user api does not support synchronous calls"
            )
        try:
            task = self._validate(request[PARSED_BODY])
        except Invalid as e:
            return self.error_response(400, e.code, e.message)
        self.tasks[task.task_id] = task
        return web.json_response(
            {
                "request_id": str(uuid.uuid4()),
                "output": {"task_id": task.task_id, "task_status": "PENDING"},
            }
        )

    async def _get_task(self, request: web.Request) -> web.Response:
        refused = self.check_key(request) or self._canned(request.path)
        if refused is not None:
            return refused
        task_id = request.match_info["task_id"]
        task = self.tasks.get(task_id)
        request_id = str(uuid.uuid4())
        if task is None:
            return web.json_response(
                {"request_id": request_id, "output": {"task_id": task_id, "task_status": "UNKNOWN"}}
            )
        status = self._status(task)
        output: dict[str, Any] = {
            "task_id": task.task_id,
            "task_status": status,
            "submit_time": "2026-01-01 00:00:00.000",
        }
        body: dict[str, Any] = {"request_id": request_id, "output": output}
        if status == "SUCCEEDED":
            if not task.urls:
                task.urls = [self._result_file(task, i) for i in range(task.n)]
            items = [{"type": "image", "image": url} for url in task.urls]
            groups = [[item] for item in items] if self.split_choices else [items]
            output["finished"] = True
            output["choices"] = [
                {"finish_reason": "stop", "message": {"role": "assistant", "content": group}}
                for group in groups
            ]
            body["usage"] = {"image_count": task.n, "size": f"{task.width}*{task.height}"}
        elif status == "FAILED":
            output["code"] = task.fail_code
            output["message"] = f"The task failed ({task.fail_code})."
        return web.json_response(body)

    async def _cancel_task(self, request: web.Request) -> web.Response:
        refused = self.check_key(request) or self._canned(request.path)
        if refused is not None:
            return refused
        task = self.tasks.get(request.match_info["task_id"])
        if task is None or self._status(task) != "PENDING":
            return self.error_response(
                400,
                "UnsupportedOperation",
                "Failed to cancel the task, please confirm if the task is in PENDING status.",
            )
        task.cancelled = True
        return web.json_response({"request_id": str(uuid.uuid4())})

    def _status(self, task: FakeTask) -> str:
        if task.cancelled:
            return "CANCELED"
        elapsed = time.monotonic() - task.created
        if elapsed < task.duration_s / 2:
            return "PENDING"
        if task.never_finish or elapsed < task.duration_s:
            return "RUNNING"
        return "FAILED" if task.fail_code else "SUCCEEDED"

    def _result_file(self, task: FakeTask, index: int) -> str:
        scale = self.result_side / max(task.width, task.height)
        width = max(1, round(task.width * scale))
        height = max(1, round(task.height * scale))
        return self.add_result_file(f"{task.task_id}-{index}.png", width, height)

    # -- validation -----------------------------------------------------------------------------
    def _validate(self, body: Any) -> FakeTask:
        if not isinstance(body, dict):
            raise Invalid("The request body is not valid JSON.")
        unknown = set(body) - {"model", "input", "parameters"}
        if unknown:
            raise Invalid(f"Unknown field(s): {', '.join(sorted(unknown))}.")
        model = body.get("model")
        if model not in MODELS:
            raise Invalid(f"Model not exist: {model!r}.", code="InvalidParameter.ModelNotFound")
        images = _validate_input(body.get("input"))
        params = body.get("parameters", {})
        if not isinstance(params, dict):
            raise Invalid("parameters must be an object.")
        unknown = set(params) - PARAMETERS
        if unknown:
            raise Invalid(f"Unknown parameter(s): {', '.join(sorted(unknown))}.")
        for key in ("watermark", "thinking_mode", "enable_sequential"):
            if key in params and not isinstance(params[key], bool):
                raise Invalid(f"parameters.{key} must be a boolean.")
        sequential = params.get("enable_sequential", False)
        n = _int(params, "n", 12 if sequential else 1)
        top = 12 if sequential else 4
        if not 1 <= n <= top:
            raise Invalid(f"parameters.n must be between 1 and {top}.")
        seed = _int(params, "seed", 0)
        if not 0 <= seed <= MAX_SEED:
            raise Invalid(f"parameters.seed must be between 0 and {MAX_SEED}.")
        four_k = model == "wan2.7-image-pro" and not images and not sequential
        width, height = _validate_size(params.get("size", "2K"), four_k)
        if "color_palette" in params:
            if sequential:
                raise Invalid("color_palette can't be used with enable_sequential.")
            _validate_palette(params["color_palette"])
        if "bbox_list" in params:
            _validate_boxes(params["bbox_list"], len(images))
        return FakeTask(
            task_id=str(uuid.uuid4()),
            model=model,
            n=n,
            width=width,
            height=height,
            created=time.monotonic(),
            duration_s=self.job_duration_s,
            fail_code=self.fail_jobs,
            never_finish=self.never_finish,
        )


def _int(params: dict[str, Any], key: str, default: int) -> int:
    value = params.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int):
        raise Invalid(f"parameters.{key} must be an integer.")
    return value


def _validate_input(value: Any) -> list[bytes | str]:
    if not isinstance(value, dict) or set(value) != {"messages"}:
        raise Invalid("input must be an object holding only messages.")
    messages = value["messages"]
    if not isinstance(messages, list) or len(messages) != 1:
        raise Invalid("input.messages must hold exactly one message.")
    message = messages[0]
    if not isinstance(message, dict) or set(message) != {"role", "content"}:
        raise Invalid("A message holds exactly role and content.")
    if message["role"] != "user":
        raise Invalid("The message role must be user.")
    content = message["content"]
    if not isinstance(content, list):
        raise Invalid("content must be an array.")
    texts: list[str] = []
    images: list[bytes | str] = []
    for item in content:
        if not isinstance(item, dict) or len(item) != 1 or set(item) - {"text", "image"}:
            raise Invalid("Each content item holds exactly one of text or image.")
        if "text" in item:
            if not isinstance(item["text"], str):
                raise Invalid("text must be a string.")
            texts.append(item["text"])
        else:
            images.append(_validate_image(item["image"]))
    if len(texts) != 1:
        raise Invalid("content must hold exactly one text object.")
    if not 1 <= len(texts[0]) <= MAX_TEXT:
        raise Invalid(f"The text must be 1 to {MAX_TEXT} characters.")
    if len(images) > MAX_IMAGES:
        raise Invalid(f"At most {MAX_IMAGES} images are accepted.")
    return images


def _validate_image(value: Any) -> bytes | str:
    if not isinstance(value, str):
        raise Invalid("image must be a string.")
    if value.startswith(("http://", "https://")):
        return value
    match = _DATA_URI.match(value)
    if match is None:
        raise Invalid("The image is neither an http(s) URL nor a data URI.", code="InvalidURL")
    mime, encoded = match.groups()
    try:
        data = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError) as e:
        raise Invalid("The image data URI is not valid base64.") from e
    if len(data) > MAX_IMAGE_BYTES:
        raise Invalid("The image is larger than 20 MB.")
    try:
        with Image.open(io.BytesIO(data)) as image:
            image_format = image.format or ""
            width, height = image.size
    except (OSError, Image.DecompressionBombError) as e:
        raise Invalid("The image could not be decoded.") from e
    expected = IMAGE_FORMATS.get(image_format)
    if expected is None:
        raise Invalid(f"Unsupported image format {image_format}.")
    if mime.replace("image/jpg", "image/jpeg") != expected:
        raise Invalid(f"The data URI says {mime} but holds {expected}.")
    if not (MIN_SIDE <= width <= MAX_SIDE and MIN_SIDE <= height <= MAX_SIDE):
        raise Invalid(f"Image sides must be {MIN_SIDE} to {MAX_SIDE} px; got {width}x{height}.")
    if max(width, height) > 8 * min(width, height):
        raise Invalid("The image shape must lie between 1:8 and 8:1.")
    return data


def _validate_size(value: Any, four_k: bool) -> tuple[int, int]:
    if not isinstance(value, str):
        raise Invalid("parameters.size must be a string.")
    if value in TIER_PIXELS:
        if value == "4K" and not four_k:
            raise Invalid("4K is for wan2.7-image-pro text-to-image only.")
        return TIER_PIXELS[value]
    match = _WXH.match(value)
    if match is None:
        raise Invalid("parameters.size must be 1K, 2K, 4K or W*H.")
    width, height = int(match[1]), int(match[2])
    pixels = width * height
    limit = MAX_PIXELS_4K if four_k else MAX_PIXELS
    if not MIN_PIXELS <= pixels <= limit:
        raise Invalid(f"size {value} has {pixels} pixels; allowed {MIN_PIXELS} to {limit}.")
    if max(width, height) > 8 * min(width, height):
        raise Invalid("The size shape must lie between 1:8 and 8:1.")
    return width, height


def _validate_palette(value: Any) -> None:
    if not isinstance(value, list) or not 3 <= len(value) <= 10:
        raise Invalid("color_palette must hold 3 to 10 colours.")
    total = 0
    for entry in value:
        if not isinstance(entry, dict) or set(entry) != {"hex", "ratio"}:
            raise Invalid("Each color_palette entry holds exactly hex and ratio.")
        if not isinstance(entry["hex"], str) or not _HEX.match(entry["hex"]):
            raise Invalid("color_palette hex must be #RRGGBB.")
        match = _RATIO.match(entry["ratio"]) if isinstance(entry["ratio"], str) else None
        if match is None:
            raise Invalid("color_palette ratio must look like 25.00%.")
        hundredths = int(match[1]) * 100 + int(match[2])
        if hundredths == 0:
            raise Invalid("color_palette ratios must be above 0.00%.")
        total += hundredths
    if total != 10_000:
        raise Invalid(f"color_palette ratios total {total / 100:.2f}%, not 100.00%.")


def _validate_boxes(value: Any, image_count: int) -> None:
    if not isinstance(value, list) or len(value) != image_count:
        raise Invalid("bbox_list needs one entry per input image.")
    for boxes in value:
        if not isinstance(boxes, list) or len(boxes) > 2:
            raise Invalid("Each bbox_list entry holds up to 2 boxes.")
        for box in boxes:
            if (
                not isinstance(box, list)
                or len(box) != 4
                or not all(isinstance(v, int) and not isinstance(v, bool) for v in box)
            ):
                raise Invalid("A box is [x1, y1, x2, y2] in whole pixels.")
