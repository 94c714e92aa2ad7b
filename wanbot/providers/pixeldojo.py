"""PixelDojo (https://pixeldojo.ai/api/v1): Wan 2.7 image jobs, submitted once and then polled.

Contract (PixelDojo's Wan 2.7 Pro page and its jobs API docs):

- ``POST /models/{model}/run`` answers 200 or 202 with ``{jobId, status, statusUrl, creditCost,
  creditsRemaining}``.
- ``GET /jobs/{jobId}``: ``completed`` carries ``output.images`` (plain URL strings; some answers
  carry ``output.image`` instead), ``failed`` carries ``error``; any other status is still running.
  Result URLs are temporary, so the job layer downloads them promptly.
- ``webhook_url`` in the run body (the SDK shows it; the payload and any signature are not
  documented): the host calls it when the job is done. The job layer treats a call as a hint and
  asks ``GET /jobs/{jobId}`` for the truth.

Edit mode. The docs don't name the input-image field for Wan 2.7, and the model's request schema
forbids unknown fields, so a wrong guess is a 400. The field is therefore read from
``GET /models/{model}`` (``requestSchema.properties``) once per provider instance: the first of
``images``, ``image_urls``, ``image_url`` it lists (``image_url`` takes one string, the others an
array). ``providers.pixeldojo.image_field`` overrides the choice and skips the lookup.

Input images are sent inline as data URIs (``data:image/png;base64,...``) built from the local copy
(``InputImage.path``), never as the Discord attachment URLs they came from: those links are signed
and expire, and a job resumed after a restart must not depend on them. The price is a body about a
third larger than the images themselves.

Errors. Three body shapes are in use: ``{"error": {"code", "message", "status"}}``,
``{"error": "...", "code": "..."}`` (or just ``{"error": "..."}``) and ``{"message": "..."}``. The
documented code decides when present, the HTTP status otherwise. ``model_not_found`` is mapped to
Unavailable rather than BadRequest: it means the bot is configured with a model this host doesn't
offer, which no change of options by the member can fix but another provider can (Unavailable is
what the fallback path acts on).
"""

from __future__ import annotations

import asyncio
import logging
import re
from typing import Any, ClassVar, Literal
from urllib.parse import quote

from pydantic import Field, ValidationError

from wanbot.config import PixelDojoConfig
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

log = logging.getLogger(__name__)

ImageField = Literal["images", "image_urls", "image_url"]
IMAGE_FIELDS: tuple[ImageField, ...] = ("images", "image_urls", "image_url")

#: Models that make 4K; the others (wan-2.7-image) stop at 2K in every mode.
FOUR_K_MODELS = frozenset({"wan-2.7-image-pro"})
#: The pixel budget of the 2K tier: an explicit W*H above it is "4K-tier" (text-to-image, Pro only).
MAX_2K_PIXELS = 2048 * 2048

_STATES: dict[str, JobState] = {
    "completed": JobState.SUCCEEDED,
    "succeeded": JobState.SUCCEEDED,
    "failed": JobState.FAILED,
    "error": JobState.FAILED,
    "cancelled": JobState.CANCELLED,
    "canceled": JobState.CANCELLED,
    "pending": JobState.QUEUED,
    "queued": JobState.QUEUED,
}

# Words a moderation refusal uses. Bare "content" is not enough on its own ("content type",
# "could not fetch content"), so it only counts next to a word that says it was refused.
_CONTENT_WORDS = re.compile(
    r"moderat|nsfw|safety|unsafe|inappropriate|explicit"
    r"|content[ _-]*(?:policy|filter|violat|reject|block|flag|check|moderat)"
    r"|(?:sensitive|prohibited|blocked|flagged|rejected|unsafe)[ _-]*content",
    re.IGNORECASE,
)


class _ImageRef(HostAnswer):
    url: str


class _Output(HostAnswer):
    images: list[str | _ImageRef] | None = None
    image: str | _ImageRef | None = None


class _ErrorDetail(HostAnswer):
    code: str | int | None = None
    message: str | None = None
    status: int | None = None


class _JobAnswer(HostAnswer):
    job_id: str | int | None = Field(default=None, alias="jobId")
    status: str
    status_url: str | None = Field(default=None, alias="statusUrl")
    output: _Output | list[str | _ImageRef] | None = None
    error: str | _ErrorDetail | None = None
    credit_cost: float | None = Field(default=None, alias="creditCost")
    credits_remaining: float | None = Field(default=None, alias="creditsRemaining")


class _ErrorBody(HostAnswer):
    error: _ErrorDetail | str | None = None
    code: str | int | None = None
    message: str | None = None


class _RequestSchema(HostAnswer):
    properties: dict[str, Any] = Field(default_factory=dict)


class _ModelInfo(HostAnswer):
    request_schema: _RequestSchema = Field(alias="requestSchema")


def mentions_content_block(*texts: str | None) -> bool:
    return any(text and _CONTENT_WORDS.search(text) for text in texts)


class PixelDojoProvider(HostedProvider[PixelDojoConfig]):
    name: ClassVar[str] = "pixeldojo"
    # Wan 2.7 Pro's own limits (the Capabilities defaults), with no negative prompt: the request
    # schema forbids unknown fields.
    capabilities: ClassVar[Capabilities] = Capabilities(label="PixelDojo")

    def _setup(self) -> None:
        self._model = self.config.model
        self._schema_fields: frozenset[str] | None = None
        self._schema_lock = asyncio.Lock()
        #: `creditsRemaining` from the latest submission; PixelDojo has no balance endpoint.
        self.last_balance: float | None = None

    # -- the Provider interface -------------------------------------------------------------
    def check(self, request: GenerationRequest) -> None:
        super().check(request)
        label = self.label
        if request.size_tier == "4K" and self._model not in FOUR_K_MODELS:
            raise errors.UnsupportedRequest(
                f"{label}'s {self._model} model stops at 2K. Try 1K or 2K.", provider=self.name
            )
        if request.size_tier is None:
            width, height = (int(side) for side in request.size.split("*"))
            if width * height > MAX_2K_PIXELS:
                if request.is_edit:
                    raise errors.UnsupportedRequest(
                        f"{label} can't make 4K-sized images when editing. "
                        "Use 2K or a smaller size.",
                        provider=self.name,
                    )
                if self._model not in FOUR_K_MODELS:
                    raise errors.UnsupportedRequest(
                        f"{label}'s {self._model} model stops at 2K. Use a smaller size.",
                        provider=self.name,
                    )

    accepts_webhook: ClassVar[bool] = True

    async def submit(self, request: GenerationRequest) -> JobStatus:
        return await self._submit(request, None)

    async def submit_with_hook(self, request: GenerationRequest, webhook_url: str) -> JobStatus:
        return await self._submit(request, webhook_url)

    async def _submit(self, request: GenerationRequest, webhook_url: str | None) -> JobStatus:
        self.check(request)
        body = await self._body(request)
        if webhook_url is not None:
            body["webhook_url"] = webhook_url
        response = await self._http.request(
            "POST", f"models/{quote(self._model, safe='')}/run", json_body=body, submit=True
        )
        if not 200 <= response.status < 300:
            raise self._error(response, "submit")
        answer = self._read(_JobAnswer, response, "submit")
        if answer.job_id is None or str(answer.job_id) == "":
            log.warning(
                "%s: submit answer without a job id: %s", self.name, self._snippet(response)
            )
            raise errors.Unavailable(
                "the image host accepted the job but did not say which it was",
                provider=self.name,
                status=response.status,
            )
        if answer.credits_remaining is not None:
            self.last_balance = answer.credits_remaining
        status = self._status(str(answer.job_id), answer)
        log.info(
            "%s: submitted job %s (model %s, n=%d, %s, edit=%s), cost %s, %s credits left",
            self.name,
            status.job_id,
            self._model,
            request.n,
            request.size,
            request.is_edit,
            answer.credit_cost,
            answer.credits_remaining,
        )
        return status

    async def get_status(self, job_id: str) -> JobStatus:
        response = await self._http.request("GET", f"jobs/{quote(job_id, safe='')}")
        if not 200 <= response.status < 300:
            raise self._error(response, "status", job_lookup=True)
        answer = self._read(_JobAnswer, response, "status")
        status = self._status(job_id, answer)
        log.debug("%s: job %s is %s", self.name, job_id, status.raw_status)
        return status

    async def balance(self) -> float | None:
        return self.last_balance

    # -- request body -----------------------------------------------------------------------
    async def _body(self, request: GenerationRequest) -> dict[str, Any]:
        body: dict[str, Any] = {
            "prompt": request.prompt,
            "aspect_ratio": request.aspect_ratio,
            "size": request.size,
            "n": request.n,
            **wan_options(request),
        }
        if request.image_set:
            body["enable_sequential"] = True
        if request.is_edit:
            field = await self._image_field()
            if field == "image_url" and len(request.input_images) != 1:
                raise errors.UnsupportedRequest(
                    f"{self.label}'s {self._model} model edits one image at a time.",
                    provider=self.name,
                )
            uris = [await data_uri(image, self.name) for image in request.input_images]
            body[field] = uris[0] if field == "image_url" else uris
        return body

    async def _image_field(self) -> ImageField:
        if self.config.image_field is not None:
            return self.config.image_field
        async with self._schema_lock:
            if self._schema_fields is None:
                self._schema_fields = await self._fetch_schema_fields()
        for field in IMAGE_FIELDS:
            if field in self._schema_fields:
                return field
        raise errors.UnsupportedRequest(
            f"{self.label}'s {self._model} model takes no image to edit.", provider=self.name
        )

    async def _fetch_schema_fields(self) -> frozenset[str]:
        response = await self._http.request("GET", f"models/{quote(self._model, safe='')}")
        if not 200 <= response.status < 300:
            raise self._error(response, "model schema")
        info = self._read(_ModelInfo, response, "model schema")
        fields = frozenset(info.request_schema.properties)
        log.info("%s: %s takes the fields %s", self.name, self._model, ", ".join(sorted(fields)))
        return fields

    # -- answers ----------------------------------------------------------------------------
    def _status(self, job_id: str, answer: _JobAnswer) -> JobStatus:
        raw = answer.status
        state = _STATES.get(raw.strip().lower(), JobState.RUNNING)
        extra: dict[str, object] = {}
        if answer.status_url:
            extra["status_url"] = answer.status_url
        if answer.credits_remaining is not None:
            extra["credits_remaining"] = answer.credits_remaining
        error: errors.ProviderError | None = None
        images: tuple[ResultImage, ...] = ()
        if state is JobState.SUCCEEDED:
            images = tuple(ResultImage(url=url) for url in _image_urls(answer.output))
            if not images:
                state = JobState.FAILED
                error = errors.GenerationFailed(
                    "the image host finished without an image", provider=self.name
                )
        elif state is JobState.FAILED:
            error = self._job_error(job_id, answer.error)
        return JobStatus(
            job_id=job_id,
            state=state,
            images=images,
            cost=answer.credit_cost,
            error=error,
            host_balance=answer.credits_remaining,
            raw_status=raw,
            extra=extra,
        )

    def _job_error(self, job_id: str, error: str | _ErrorDetail | None) -> errors.ProviderError:
        if isinstance(error, _ErrorDetail):
            code = None if error.code is None else str(error.code)
            message = error.message
        else:
            code, message = None, error
        text = self._http.redact(message)[:300] if message else None
        log.info("%s: job %s failed: %s (code %s)", self.name, job_id, text, code)
        if mentions_content_block(code, message):
            return errors.ContentRejected(provider=self.name, code=code or "content_rejected")
        return errors.GenerationFailed(provider=self.name, code=code)

    def _error(
        self, response: Response, what: str, *, job_lookup: bool = False
    ) -> errors.ProviderError:
        code, message = _error_fields(response)
        status = response.status
        shown = self._http.redact(message)[:300] if message else None
        log.warning(
            "%s: %s refused with HTTP %d, code %s: %s",
            self.name,
            what,
            status,
            code,
            shown if shown is not None else self._snippet(response),
        )
        common: dict[str, Any] = {"provider": self.name, "code": code, "status": status}
        if code == "rate_limited" or status == 429:
            return errors.RateLimited(retry_after=response.retry_after, **common)
        if code == "unauthorized" or status in (401, 403):
            return errors.AuthError(**common)
        if code == "insufficient_credits" or status == 402:
            return errors.OutOfCredits(**common)
        if code == "model_not_found" or (status == 404 and not job_lookup):
            return errors.Unavailable(
                f"{self.label} doesn't offer the model {self._model}", **common
            )
        if status == 404:
            return errors.GenerationFailed("the image host no longer knows this job", **common)
        if code == "internal_error" or status >= 500:
            return errors.Unavailable(**common)
        if 400 <= status < 500 and mentions_content_block(code, message):
            return errors.ContentRejected(**common)
        if code == "invalid_request" or 400 <= status < 500:
            reason = f": {shown}" if shown else ""
            return errors.BadRequest(f"{self.label} refused these options{reason}", **common)
        return errors.Unavailable(**common)

    def _snippet(self, response: Response) -> str:
        return self._http.redact(response.text[:200])


def _image_urls(output: _Output | list[str | _ImageRef] | None) -> list[str]:
    if output is None:
        return []
    if isinstance(output, list):
        items: list[str | _ImageRef] = output
    elif output.images:
        items = output.images
    elif output.image is not None:
        items = [output.image]
    else:
        items = []
    urls = [item if isinstance(item, str) else item.url for item in items]
    return [url for url in urls if url]


def _error_fields(response: Response) -> tuple[str | None, str | None]:
    """The (code, message) of an error answer in any of the three shapes; Nones when unreadable."""
    try:
        body = _ErrorBody.model_validate_json(response.text)
    except ValidationError:
        return None, None
    code = body.code
    message = body.message
    if isinstance(body.error, _ErrorDetail):
        code = body.error.code if body.error.code is not None else code
        message = body.error.message or message
    elif isinstance(body.error, str):
        message = body.error
    return (None if code is None else str(code).lower()), message
