"""What every fake image host shares: a loopback aiohttp server, request log, faults, real PNGs.

A concrete fake (pixeldojo_server.py, ...) adds its routes and validation in `add_routes` and uses
`faults` to misbehave on demand. Faults are consumed in order, so a test can say "the next two
submissions answer 429" and then see the third succeed.
"""

from __future__ import annotations

import asyncio
import io
import itertools
import json
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Literal, Self

from aiohttp import BodyPartReader, web
from PIL import Image

from tests.fakes.local_http import serve_locally

PARSED_BODY = web.RequestKey("parsed_body", object)

FaultKind = Literal["429", "5xx", "malformed", "wrong_key", "slow", "drop"]


@dataclass
class Fault:
    kind: FaultKind
    status: int = 500
    retry_after: float | str | None = None  # a string is sent as it is ("inf", an HTTP-date)
    delay_s: float = 0.0


@dataclass
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]
    body: Any  # parsed JSON, or raw text, or a dict of multipart parts
    query: dict[str, str] = field(default_factory=dict)
    at: float = field(default_factory=time.monotonic)  # when it arrived


def make_png(width: int, height: int, colour: tuple[int, int, int] = (200, 80, 40)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (width, height), colour).save(buf, format="PNG")
    return buf.getvalue()


class FakeProviderServer:
    """Base for fake providers. Subclasses implement `add_routes` and the job model."""

    api_key = "test-key-0123456789abcdef"

    def __init__(self, *, job_duration_s: float = 0.2, result_size: tuple[int, int] = (64, 64)):
        self.job_duration_s = job_duration_s
        self.result_size = result_size
        self.requests: list[RecordedRequest] = []
        self.faults: dict[str, deque[Fault]] = {}
        self.never_finish = False
        self.fail_jobs: str | None = None  # a failure code to end every job with
        self.expire_results = False  # result URLs answer 404 (expired)
        self._ids = itertools.count(1)
        self._runner: web.AppRunner | None = None
        self.base_url = ""
        self.files: dict[str, bytes] = {}

    # -- lifecycle -------------------------------------------------------------------------
    async def start(self) -> str:
        app = web.Application(
            middlewares=[self._record, self._inject_faults], client_max_size=64 << 20
        )
        app.router.add_get("/files/{name}", self._serve_file)
        self.add_routes(app)
        self._runner, port = await serve_locally(app)
        self.origin = f"http://127.0.0.1:{port}"
        self.base_url = self.origin + self.prefix
        return self.base_url

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    prefix = ""

    def add_routes(self, app: web.Application) -> None:
        raise NotImplementedError  # each fake declares its own routes

    # -- faults ----------------------------------------------------------------------------
    def inject(self, route: str, *faults: Fault) -> None:
        """Queue faults for requests whose path contains `route` ("" matches every request)."""
        self.faults.setdefault(route, deque()).extend(faults)

    def _next_fault(self, path: str) -> Fault | None:
        for route, queue in self.faults.items():
            if queue and route in path:
                return queue.popleft()
        return None

    @web.middleware
    async def _record(self, request: web.Request, handler: Any) -> web.StreamResponse:
        body: Any = None
        if request.content_type == "application/json":
            raw = await request.text()
            try:
                body = json.loads(raw)
            except json.JSONDecodeError:
                body = raw
        elif request.content_type.startswith("multipart/"):
            body = {}
            reader = await request.multipart()
            async for part in reader:
                if not isinstance(part, BodyPartReader):
                    continue
                content = await part.read()
                body.setdefault(part.name or "", []).append(
                    {
                        "filename": part.filename,
                        "bytes": bytes(content),
                        "content_type": part.headers.get("Content-Type"),
                    }
                )
        elif request.can_read_body:
            body = await request.text()
        self.requests.append(
            RecordedRequest(
                request.method, request.path, dict(request.headers), body, dict(request.query)
            )
        )
        request[PARSED_BODY] = body
        return await handler(request)  # type: ignore[no-any-return]

    @web.middleware
    async def _inject_faults(self, request: web.Request, handler: Any) -> web.StreamResponse:
        fault = self._next_fault(request.path)
        if fault is not None:
            if fault.kind == "slow":
                await asyncio.sleep(fault.delay_s)
            elif fault.kind == "429":
                headers = {}
                if fault.retry_after is not None:
                    value = fault.retry_after
                    headers["Retry-After"] = value if isinstance(value, str) else f"{value:g}"
                return self.error_response(429, "rate_limited", "Too many requests", headers)
            elif fault.kind == "5xx":
                return self.error_response(fault.status, "internal_error", "Server error")
            elif fault.kind == "malformed":
                return web.Response(status=200, text="{not json", content_type="application/json")
            elif fault.kind == "wrong_key":
                return self.error_response(401, "unauthorized", "Invalid API key")
            elif fault.kind == "drop":
                assert request.transport is not None
                request.transport.close()
                raise ConnectionResetError
        return await handler(request)  # type: ignore[no-any-return]

    def error_response(
        self, status: int, code: str, message: str, headers: dict[str, str] | None = None
    ) -> web.Response:
        """The provider's error body shape; subclasses override to match their docs."""
        return web.json_response({"error": message, "code": code}, status=status, headers=headers)

    # -- shared helpers for subclasses -----------------------------------------------------
    def check_key(self, request: web.Request) -> web.Response | None:
        if request.headers.get("Authorization") != f"Bearer {self.api_key}":
            return self.error_response(401, "unauthorized", "Invalid or missing API key")
        return None

    def new_id(self, prefix: str) -> str:
        return f"{prefix}{next(self._ids)}"

    def add_result_file(
        self, name: str, width: int | None = None, height: int | None = None
    ) -> str:
        w, h = (width or self.result_size[0], height or self.result_size[1])
        self.files[name] = make_png(w, h)
        return f"{self.origin}/files/{name}"

    async def _serve_file(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        if self.expire_results or name not in self.files:
            return web.Response(status=404, text="expired")
        return web.Response(body=self.files[name], content_type="image/png")

    def submissions(self, path_part: str) -> list[RecordedRequest]:
        return [r for r in self.requests if r.method == "POST" and path_part in r.path]
