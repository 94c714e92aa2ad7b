"""skills.video's Wan 2.7 Pro: submit and poll, or submit and watch a Server-Sent Events stream.

Endpoints (base `https://open.skills.video/api/v1`, `Authorization: Bearer KEY`):

- `POST /generation/{model}` starts a job: `{id, status, usage}`.
- `GET /generation/{id}` reads it: `data` (the images) is null until the job is done; a failed job
  carries `code` and `message`.
- `POST /generation/sse/{model}` starts a job and streams `data: {id, status, data, usage}` events
  until a terminal status. An error before the stream opens is an ordinary JSON error.

Choices made where the host's documentation is silent or awkward:

- **Size.** The host has no size tiers: it derives the output size from `aspect_ratio`. A request's
  `size` defaults to "2K", so the tiers 1K and 2K are accepted and ignored (the host picks the
  pixels); 4K and an explicit `W*H` are refused by the capability check, since the host can't honour
  them.
- Two status vocabularies exist (`starting|processing|succeeded|failed|canceled` and
  `IN_QUEUE|IN_PROGRESS|COMPLETED|FAILED|CANCELED`); both are read case-insensitively and anything
  unknown counts as still running.
- A finished status whose `data` is still null is reported as RUNNING (the result is not readable
  yet); a finished job whose `data` holds no image is a failure.
- Edit inputs are local files, sent as `multipart/form-data` with the JSON field names, each
  `image_urls` item a file part. A file that has gone missing falls back to its source URL.
- Errors are mapped by `code` first (suffixes too: `IMAGE_GENERATION_RATE_LIMITED` is a rate limit),
  then by HTTP status. A 422 with no code is a validation error, not a moderation block.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncGenerator, AsyncIterator, Mapping
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import quote

import aiohttp
from pydantic import ValidationError

from wanbot.config import SkillsVideoConfig
from wanbot.providers import errors
from wanbot.providers.capabilities import Capabilities
from wanbot.providers.hosted import HostedProvider
from wanbot.providers.http import RETRYABLE_SUBMIT, Response
from wanbot.providers.models import GenerationRequest, JobState, JobStatus, ResultImage
from wanbot.providers.skillsvideo_answers import (
    CODE_LIKE,
    SHOW_HOST_MESSAGE,
    Credits,
    ErrorBody,
    Generation,
    error_type_for_code,
    error_type_for_status,
    job_state,
)

log = logging.getLogger(__name__)

#: How long a stream may stay silent before it counts as broken (the caller then polls).
STREAM_IDLE_S = 120.0
_MESSAGE_MAX = 300


def _form_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


class SkillsVideoProvider(HostedProvider[SkillsVideoConfig]):
    name: ClassVar[str] = "skillsvideo"
    # Where skills.video differs from Wan 2.7 Pro's own limits (the Capabilities defaults).
    capabilities: ClassVar[Capabilities] = Capabilities(
        label="skills.video",
        aspect_ratios=("1:1", "3:4", "9:16", "4:3", "16:9"),
        text_sizes=("1K", "2K"),
        explicit_size=False,
        image_set=False,
        negative_prompt=True,
        palette=False,
        thinking=False,
        safety_checker=True,
        prompt_max=2000,
        min_input_side=384,
        push_updates=True,
    )

    def _setup(self) -> None:
        model = self.config.model.strip("/")
        self._submit_path = f"generation/{model}"
        self._stream_path = f"generation/sse/{model}"

    # -- the Provider interface ------------------------------------------------------------
    async def submit(self, request: GenerationRequest) -> JobStatus:
        self.check(request)
        json_body, form = await self._payload(request)
        response = await self._http.request(
            "POST", self._submit_path, json_body=json_body, data=form, submit=True
        )
        generation = self._parse(response, job_lookup=False)
        if not generation.id:
            raise errors.Unavailable("the image host answered without a job id", provider=self.name)
        log.info("%s job %s submitted (%s)", self.name, generation.id, generation.status)
        return self._job_status(generation, generation.id)

    async def get_status(self, job_id: str) -> JobStatus:
        response = await self._http.request("GET", f"generation/{quote(job_id, safe='')}")
        generation = self._parse(response, job_lookup=True)
        return self._job_status(generation, generation.id or job_id)

    async def balance(self) -> float | None:
        response = await self._http.request("GET", "credits")
        if response.status >= 300:
            raise self._error(response, job_lookup=False)
        try:
            credits = Credits.model_validate_json(response.text)
        except ValidationError:
            raise errors.Unavailable(
                f"the image host sent an unreadable balance (http {response.status})",
                provider=self.name,
            ) from None
        if credits.total is not None:
            return credits.total
        if credits.subscription is None and credits.permanent is None:
            return None
        return (credits.subscription or 0.0) + (credits.permanent or 0.0)

    @property
    def pushes_updates(self) -> bool:
        return self.config.use_stream

    async def submit_and_watch(self, request: GenerationRequest) -> AsyncGenerator[JobStatus, None]:
        self.check(request)
        json_body, form = await self._payload(request)
        response = await self._open_stream(json_body, form)
        try:
            if "text/event-stream" not in response.headers.get("Content-Type", ""):
                # Not a stream after all: one JSON status, then the caller polls for the rest.
                text = await response.text(errors="replace")
                status = self._job_status_from_json(text, None)
                yield status
                if not status.state.terminal:
                    raise errors.Unavailable(
                        "the image host did not stream this job's progress", provider=self.name
                    )
                return
            job_id: str | None = None
            async for payload in self._events(response):
                status = self._job_status_from_json(payload, job_id)
                job_id = status.job_id
                yield status
                if status.state.terminal:
                    return
            raise errors.Unavailable(
                "the image host's status stream ended before the job finished", provider=self.name
            )
        finally:
            response.close()

    # -- requests --------------------------------------------------------------------------
    def _fields(self, request: GenerationRequest) -> dict[str, object]:
        fields: dict[str, object] = {
            "prompt": request.prompt,
            "aspect_ratio": request.aspect_ratio,
            "n": request.n,
        }
        if request.negative_prompt:
            fields["negative_prompt"] = request.negative_prompt
        if request.seed is not None:
            fields["seed"] = request.seed
        if request.safety_checker is not None:
            fields["enable_safety_checker"] = request.safety_checker
        return fields

    async def _payload(
        self, request: GenerationRequest
    ) -> tuple[dict[str, object] | None, aiohttp.FormData | None]:
        """The JSON body for text-to-image, or a multipart form carrying the files to edit."""
        fields = self._fields(request)
        if not request.is_edit:
            return fields, None
        form = aiohttp.FormData(default_to_multipart=True)
        for key, value in fields.items():
            form.add_field(key, _form_value(value))
        for image in request.input_images:
            try:
                content = await asyncio.to_thread(Path(image.path).read_bytes)
            except OSError:
                if image.source_url:
                    form.add_field("image_urls", image.source_url)
                    continue
                raise errors.BadRequest(
                    "the image to edit is no longer available; attach it again",
                    provider=self.name,
                ) from None
            form.add_field(
                "image_urls", content, filename=image.filename, content_type=image.content_type
            )
        return None, form

    async def _open_stream(
        self, json_body: dict[str, object] | None, form: aiohttp.FormData | None
    ) -> aiohttp.ClientResponse:
        """POST to the stream endpoint, retrying only where the host surely started no job."""
        http = self._http
        url = http.url(self._stream_path)
        headers = {**http.auth_headers(), "Accept": "text/event-stream"}
        timeout = aiohttp.ClientTimeout(
            total=None,
            sock_connect=min(self.config.timeout_s, 10),
            sock_read=max(self.config.timeout_s, STREAM_IDLE_S),
        )
        attempts = http.retry.attempts
        for attempt in range(attempts):
            last = attempt + 1 == attempts
            try:
                response = await http.session.post(
                    url, json=json_body, data=form, headers=headers, timeout=timeout
                )
            except aiohttp.ClientConnectorError as e:
                if last:
                    raise http.transport_error(e) from e
                delay = http.retry.backoff(attempt, None)
                reason = type(e).__name__
            except (aiohttp.ClientError, TimeoutError) as e:
                # The body may have reached the host: retrying could start a second paid job.
                raise http.transport_error(e, after_send=True) from e
            else:
                if response.status < 300:
                    return response
                try:
                    text = await response.text(errors="replace")
                except (aiohttp.ClientError, TimeoutError) as e:
                    raise http.transport_error(e, after_send=True) from e
                finally:
                    response.release()
                answer = http.response(response.status, dict(response.headers), text)
                http.report_busy(answer)
                if last or answer.status not in RETRYABLE_SUBMIT:
                    raise self._error(answer, job_lookup=False)
                delay = http.retry.backoff(attempt, answer.retry_after)
                reason = str(answer.status)
            log.info(
                "%s stream POST %s: %s, retrying in %.1fs (attempt %d of %d)",
                self.name,
                self._stream_path,
                reason,
                delay,
                attempt + 1,
                attempts,
            )
            await asyncio.sleep(delay)
        raise AssertionError("unreachable")

    async def _events(self, response: aiohttp.ClientResponse) -> AsyncIterator[str]:
        """The `data` of each Server-Sent Event (`event:`, `id:`, `retry:` and comments unused)."""
        data: list[str] = []
        try:
            async for raw in response.content:
                line = raw.decode("utf-8", errors="replace").rstrip("\r\n")
                if not line:
                    if data:
                        yield "\n".join(data)
                        data = []
                    continue
                if line.startswith(":"):
                    continue
                field, _, value = line.partition(":")
                if field == "data":
                    data.append(value.removeprefix(" "))
        except (aiohttp.ClientError, TimeoutError, ValueError) as e:
            raise errors.Unavailable(
                f"the image host's status stream broke ({type(e).__name__})", provider=self.name
            ) from e
        if data:
            yield "\n".join(data)

    # -- answers ---------------------------------------------------------------------------
    def _parse(self, response: Response, *, job_lookup: bool) -> Generation:
        if response.status >= 300:
            raise self._error(response, job_lookup=job_lookup)
        try:
            return Generation.model_validate_json(response.text)
        except ValidationError:
            raise errors.Unavailable(
                f"the image host sent an unreadable answer (http {response.status})",
                provider=self.name,
            ) from None

    def _job_status_from_json(self, text: str, job_id: str | None) -> JobStatus:
        """One stream event (or non-stream answer) as a status; the first must name the job."""
        try:
            generation = Generation.model_validate_json(text)
        except ValidationError:
            generation = None
        if generation is None:
            try:
                body = ErrorBody.model_validate_json(text)
            except ValidationError:
                body = None
            if job_id is None and body is not None and (body.code or body.error or body.message):
                raise self._build_error(body, status=None, retry_after=None, job_lookup=False)
            raise errors.Unavailable(
                "the image host sent an unreadable status update", provider=self.name
            )
        known_id = generation.id or job_id
        if not known_id:
            raise errors.Unavailable("the image host's stream named no job", provider=self.name)
        return self._job_status(generation, known_id)

    def _job_status(self, generation: Generation, job_id: str) -> JobStatus:
        state = job_state(generation.status)
        data = generation.data
        images: tuple[ResultImage, ...] = ()
        if data is not None:
            found = data.images or ([data.image] if data.image else [])
            images = tuple(
                ResultImage(url=i.url, width=i.width, height=i.height, content_type=i.content_type)
                for i in found
            )
        error: errors.ProviderError | None = None
        if state is JobState.SUCCEEDED and data is None:
            state = JobState.RUNNING
        elif state is JobState.SUCCEEDED and not images:
            state = JobState.FAILED
            error = errors.GenerationFailed(
                "the image host finished without any image", provider=self.name, code="NO_IMAGES"
            )
        elif state is JobState.FAILED:
            error = self._build_error(
                ErrorBody(code=generation.code, message=generation.message, error=generation.error),
                status=None,
                retry_after=None,
                job_lookup=True,
            )
        extra: dict[str, object] = {}
        if data is not None and data.actual_prompt:
            extra["actual_prompt"] = data.actual_prompt
        return JobStatus(
            job_id=job_id,
            state=state,
            images=images,
            cost=generation.usage.total if generation.usage else None,
            error=error,
            raw_status=generation.status,
            extra=extra,
        )

    def _error(self, response: Response, *, job_lookup: bool) -> errors.ProviderError:
        try:
            body = ErrorBody.model_validate_json(response.text)
        except ValidationError:
            body = ErrorBody()
        return self._build_error(
            body, status=response.status, retry_after=response.retry_after, job_lookup=job_lookup
        )

    def _build_error(
        self,
        body: ErrorBody,
        *,
        status: int | None,
        retry_after: float | None,
        job_lookup: bool,
    ) -> errors.ProviderError:
        """Map an error body (and HTTP status, when there is one) onto the shared hierarchy."""
        nested: Mapping[str, Any] = body.error if isinstance(body.error, dict) else {}
        code = body.code or _str_or_none(nested.get("code"))
        message = body.message or _str_or_none(nested.get("message"))
        if isinstance(body.error, str):
            if not code and CODE_LIKE.match(body.error):
                code = body.error  # older bodies put the code in `error`
            elif not message and not CODE_LIKE.match(body.error):
                message = body.error
        error_type = error_type_for_code(code)
        if error_type is None:
            if status is None:
                error_type = errors.GenerationFailed  # a failed job with no usable code
            else:
                error_type = error_type_for_status(
                    status, has_code=bool(code), job_lookup=job_lookup
                )
        host_message = self._http.redact(message.strip())[:_MESSAGE_MAX] if message else None
        user_message = None
        if host_message and issubclass(error_type, SHOW_HOST_MESSAGE):
            user_message = f"{error_type.default_message}: {host_message}"
        log.info(
            "%s error http=%s code=%s -> %s: %s",
            self.name,
            status,
            code,
            error_type.__name__,
            host_message,
        )
        if error_type is errors.RateLimited:
            return errors.RateLimited(
                user_message, retry_after=retry_after, provider=self.name, code=code, status=status
            )
        return error_type(user_message, provider=self.name, code=code, status=status)


def _str_or_none(value: object) -> str | None:
    return value if isinstance(value, str) and value else None
