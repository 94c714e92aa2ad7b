"""Alibaba Cloud Model Studio (DashScope), the official Wan 2.7 image API.

Asynchronous: `POST /services/aigc/image-generation/generation` with `X-DashScope-Async: enable`
creates a task, `GET /tasks/{task_id}` polls it, `POST /tasks/{task_id}/cancel` stops it while it is
still PENDING. Result URLs are valid for 24 hours.

The API has no aspect-ratio field, so `size` is always sent as `W*H`, computed by
`wanbot.providers.sizes.dimensions` (aspect ratio × tier → W*H sent):

    ratio   1K           2K           4K
    1:1     1024*1024    2048*2048    4096*4096
    16:9    1360*768     2720*1536    5456*3072
    9:16    768*1360     1536*2720    3072*5456
    4:3     1168*880     2352*1760    4720*3536
    3:4     880*1168     1760*2352    3536*4720
    5:4     1136*912     2288*1824    4576*3648
    4:5     912*1136     1824*2288    3648*4576

Documented limits for `W*H`: at least 768*768 pixels in all and a shape between 1:8 and 8:1; at
most 2048*2048 pixels in all, or 4096*4096 for wan2.7-image-pro making new images without an image
set (4K is text-to-image only). A request outside them is refused before any call.
"""

from __future__ import annotations

import logging
from typing import Any, ClassVar
from urllib.parse import quote

from pydantic import Field, ValidationError

from wanbot.config import DashScopeConfig
from wanbot.providers import errors
from wanbot.providers.capabilities import Capabilities
from wanbot.providers.encoding import data_uri, wan_options
from wanbot.providers.hosted import HostAnswer, HostedProvider
from wanbot.providers.http import Response
from wanbot.providers.models import (
    GenerationRequest,
    JobState,
    JobStatus,
    ResultImage,
)
from wanbot.providers.sizes import dimensions

log = logging.getLogger(__name__)

SUBMIT_PATH = "/services/aigc/image-generation/generation"
MIN_PIXELS = 768 * 768
MAX_PIXELS = 2048 * 2048
MAX_PIXELS_4K = 4096 * 4096
MAX_SHAPE = 8  # longest side over shortest side

_STATES = {
    "PENDING": JobState.QUEUED,
    "RUNNING": JobState.RUNNING,
    "SUCCEEDED": JobState.SUCCEEDED,
    "FAILED": JobState.FAILED,
    "CANCELED": JobState.CANCELLED,
}


# -- response models: every one tolerates fields DashScope may add ---------------------------
class _ErrorBody(HostAnswer):
    request_id: str | None = None
    code: str | None = None
    message: str | None = None


class _SubmitOutput(HostAnswer):
    task_id: str
    task_status: str = "PENDING"


class _SubmitResponse(HostAnswer):
    request_id: str | None = None
    output: _SubmitOutput


class _ContentItem(HostAnswer):
    image: str | None = None


class _Message(HostAnswer):
    content: list[_ContentItem] = Field(default_factory=list)


class _Choice(HostAnswer):
    message: _Message | None = None


class _LegacyResult(HostAnswer):
    url: str | None = None


class _TaskOutput(HostAnswer):
    task_id: str | None = None
    task_status: str
    choices: list[_Choice] = Field(default_factory=list)
    results: list[_LegacyResult] = Field(default_factory=list)  # the older wanx task shape
    code: str | None = None
    message: str | None = None


class _Usage(HostAnswer):
    image_count: int | None = None


class _TaskResponse(HostAnswer):
    request_id: str | None = None
    output: _TaskOutput
    usage: _Usage | None = None


class DashScopeProvider(HostedProvider[DashScopeConfig]):
    name: ClassVar[str] = "dashscope"
    # Wan 2.7 Pro's own limits (the Capabilities defaults); up to 4 inputs is the bot's limit,
    # the API takes 9.
    capabilities: ClassVar[Capabilities] = Capabilities(label="DashScope")

    # -- capability check ---------------------------------------------------------------------
    def check(self, request: GenerationRequest) -> None:
        super().check(request)
        self._size_param(request)

    def _size_param(self, request: GenerationRequest) -> str:
        """The `size` to send, or UnsupportedRequest when it lies outside the documented limits."""
        width, height = dimensions(request.aspect_ratio, request.size)
        label = self.label
        four_k = (
            self.config.model.endswith("-pro") and not request.is_edit and not request.image_set
        )
        if request.size_tier == "4K" and not four_k:
            what = "image sets" if request.image_set else f"with {self.config.model}"
            raise errors.UnsupportedRequest(f"{label} can't make 4K {what}. Try 2K.")
        pixels = width * height
        if pixels < MIN_PIXELS:
            raise errors.UnsupportedRequest(
                f"{width}×{height} is too small; {label} needs at least 768×768 pixels in all."
            )
        limit = MAX_PIXELS_4K if four_k else MAX_PIXELS
        if pixels > limit:
            side = 4096 if four_k else 2048
            raise errors.UnsupportedRequest(
                f"{width}×{height} is too large; {label} makes at most {side}×{side} pixels "
                "in all here."
            )
        if max(width, height) > MAX_SHAPE * min(width, height):
            raise errors.UnsupportedRequest(
                f"{label} makes shapes between 1:8 and 8:1; {width}×{height} is not."
            )
        return f"{width}*{height}"

    # -- calls --------------------------------------------------------------------------------
    async def submit(self, request: GenerationRequest) -> JobStatus:
        self.check(request)
        body = await self._build_body(request)
        resp = await self._http.request(
            "POST",
            SUBMIT_PATH,
            json_body=body,
            headers={"X-DashScope-Async": "enable"},
            submit=True,
        )
        if not 200 <= resp.status < 300:
            raise self._http_error("submit", resp)
        parsed = self._read(_SubmitResponse, resp, "submit")
        task = parsed.output
        log.info(
            "dashscope task %s submitted (request %s, %s)",
            task.task_id,
            parsed.request_id,
            task.task_status,
        )
        return JobStatus(
            job_id=task.task_id,
            state=_STATES.get(task.task_status.upper(), JobState.QUEUED),
            raw_status=task.task_status,
            extra={"request_id": parsed.request_id} if parsed.request_id else {},
        )

    async def get_status(self, job_id: str) -> JobStatus:
        resp = await self._http.request("GET", f"/tasks/{quote(job_id, safe='')}")
        if not 200 <= resp.status < 300:
            raise self._http_error("status", resp)
        parsed = self._read(_TaskResponse, resp, "status")
        output = parsed.output
        raw = output.task_status
        status = raw.upper()
        extra: dict[str, object] = {"request_id": parsed.request_id} if parsed.request_id else {}
        if status == "SUCCEEDED":
            images = _images(output)
            cost = None
            if parsed.usage is not None and parsed.usage.image_count is not None:
                cost = float(parsed.usage.image_count)
            if not images:
                empty = errors.GenerationFailed(
                    "the image host returned no images", provider=self.name
                )
                return JobStatus(job_id, JobState.FAILED, error=empty, raw_status=raw, extra=extra)
            return JobStatus(
                job_id, JobState.SUCCEEDED, images=images, cost=cost, raw_status=raw, extra=extra
            )
        if status == "FAILED":
            error = self._error(output.code, output.message, status=None)
            log.warning(
                "dashscope task %s failed: code=%s message=%s",
                job_id,
                output.code,
                self._http.redact(output.message or ""),
            )
            return JobStatus(job_id, JobState.FAILED, error=error, raw_status=raw, extra=extra)
        if status == "UNKNOWN":
            gone = errors.GenerationFailed("the task expired or is unknown", provider=self.name)
            return JobStatus(job_id, JobState.FAILED, error=gone, raw_status=raw, extra=extra)
        # Anything undocumented is taken as still in progress; the job timeout ends it if not.
        return JobStatus(job_id, _STATES.get(status, JobState.RUNNING), raw_status=raw, extra=extra)

    async def cancel(self, job_id: str) -> bool:
        resp = await self._http.request("POST", f"/tasks/{quote(job_id, safe='')}/cancel")
        if 200 <= resp.status < 300:
            log.info("dashscope task %s cancelled", job_id)
            return True
        if resp.status in (400, 404, 409):
            # DashScope cancels only PENDING tasks; a running or finished one answers 400.
            error = self._parse_error(resp)
            log.info(
                "dashscope task %s not cancelled: http=%s code=%s", job_id, resp.status, error.code
            )
            return False
        raise self._http_error("cancel", resp)

    # -- request body -------------------------------------------------------------------------
    async def _build_body(self, request: GenerationRequest) -> dict[str, Any]:
        content: list[dict[str, str]] = [{"text": request.prompt}]
        for image in request.input_images:
            content.append({"image": await data_uri(image, self.name)})
        parameters: dict[str, Any] = {
            "size": self._size_param(request),
            "n": request.n,
            "watermark": False,
            "enable_sequential": request.image_set,
            **wan_options(request),
        }
        return {
            "model": self.config.model,
            "input": {"messages": [{"role": "user", "content": content}]},
            "parameters": parameters,
        }

    # -- responses and errors -----------------------------------------------------------------
    def _parse_error(self, resp: Response) -> _ErrorBody:
        try:
            return _ErrorBody.model_validate_json(resp.text)
        except ValidationError:
            return _ErrorBody()

    def _http_error(self, what: str, resp: Response) -> errors.ProviderError:
        body = self._parse_error(resp)
        log.warning(
            "dashscope %s failed: http=%s code=%s request_id=%s message=%s",
            what,
            resp.status,
            body.code,
            body.request_id,
            self._http.redact(body.message or ""),
        )
        return self._error(
            body.code, body.message, status=resp.status, retry_after=resp.retry_after
        )

    def _error(
        self,
        code: str | None,
        message: str | None,
        *,
        status: int | None,
        retry_after: float | None = None,
    ) -> errors.ProviderError:
        cls = error_class(code, status)
        detail = self._http.redact(message or "").strip()
        text: str | None = None
        if detail and cls in (errors.BadRequest, errors.GenerationFailed):
            text = f"{cls.default_message}: {detail[:300]}"
        if cls is errors.RateLimited:
            return errors.RateLimited(
                text, retry_after=retry_after, provider=self.name, code=code, status=status
            )
        return cls(text, provider=self.name, code=code, status=status)


def error_class(code: str | None, status: int | None) -> type[errors.ProviderError]:
    """The error type for a DashScope code, falling back on the HTTP status.

    `status` is None for a task that failed after it was accepted.
    """
    lowered = (code or "").lower()
    if "datainspection" in lowered or "ipinfringement" in lowered:
        return errors.ContentRejected
    if lowered.startswith("arrearage"):
        return errors.OutOfCredits
    if lowered.startswith("throttling"):
        return errors.RateLimited
    if lowered == "invalidapikey" or "accessdenied" in lowered:
        return errors.AuthError
    if lowered.startswith("invalid"):
        return errors.BadRequest
    if lowered.startswith(("internalerror", "systemerror", "serviceunavailable")):
        return errors.Unavailable
    if status is None:
        return errors.GenerationFailed
    if status == 400:
        return errors.BadRequest
    if status in (401, 403):
        return errors.AuthError
    if status == 402:
        return errors.OutOfCredits
    if status == 429:
        return errors.RateLimited
    return errors.Unavailable


def _images(output: _TaskOutput) -> tuple[ResultImage, ...]:
    urls = [
        item.image
        for choice in output.choices
        if choice.message is not None
        for item in choice.message.content
        if item.image
    ]
    urls += [r.url for r in output.results if r.url]
    return tuple(ResultImage(url=url) for url in urls)
