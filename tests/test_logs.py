"""Logs: text or JSON, job fields from a context, no secret or token in any record at any level."""

from __future__ import annotations

import asyncio
import io
import json
import logging
from collections.abc import Iterator

import pytest

from wanbot.logs import (
    REDACTED,
    JobContextFilter,
    Redactor,
    configure_logging,
    job_log_context,
    quiet_noisy_loggers,
    tag_job_logs,
)

TOKEN = "aW50ZXJhY3Rpb246MTIzNDU2Nzg5MDpzZWNyZXQtdG9rZW4tdmFsdWU"
KEY = "pd-live-key-0123456789"


class Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def text(self) -> str:
        plain = logging.Formatter("%(name)s %(message)s")
        return "\n".join(plain.format(r) for r in self.records)


@pytest.fixture
def collect() -> Iterator[Collect]:
    handler = Collect()
    root = logging.getLogger()
    saved = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield handler
    finally:
        root.removeHandler(handler)
        root.setLevel(saved)


@pytest.fixture
def redactor() -> Iterator[Redactor]:
    redactor = Redactor([KEY])
    redactor.install()
    try:
        yield redactor
    finally:
        redactor.uninstall()


def test_redact_patterns() -> None:
    r = Redactor([KEY])
    assert r.redact(
        f"POST https://discord.com/api/v10/webhooks/123/{TOKEN}/messages/@original"
    ) == (f"POST https://discord.com/api/v10/webhooks/123/{REDACTED}/messages/@original")
    assert r.redact(f"/interactions/987/{TOKEN}/callback?with_response=true") == (
        f"/interactions/987/{REDACTED}/callback?with_response=true"
    )
    assert r.redact(f"{{'type': 2, 'token': '{TOKEN}', 'id': '5'}}") == (
        f"{{'type': 2, 'token': '{REDACTED}', 'id': '5'}}"
    )
    assert (
        r.redact(f'{{"interaction_token": "{TOKEN}"}}') == f'{{"interaction_token": "{REDACTED}"}}'
    )
    assert r.redact(f"/hooks/pixeldojo/{TOKEN}") == f"/hooks/pixeldojo/{REDACTED}"
    assert r.redact(f"Bearer {KEY}") == f"Bearer {REDACTED}"
    assert r.redact("/webhooks/123 and /interactions/ are fine") == (
        "/webhooks/123 and /interactions/ are fine"
    )


def test_every_handler_sees_redacted_messages_args_and_tracebacks(
    collect: Collect, redactor: Redactor
) -> None:
    log = logging.getLogger("tests.somewhere")
    log.debug("calling %s with %r", f"https://x/webhooks/1/{TOKEN}", {"token": TOKEN})
    log.info("key %s", KEY)
    try:
        raise RuntimeError(f"failed: /interactions/5/{TOKEN}/callback")
    except RuntimeError:
        log.exception("boom")
    log.warning("plain %d", 3)
    text = collect.text()
    assert TOKEN not in text and KEY not in text
    assert text.count(REDACTED) == 5  # the traceback shows the token twice: source, message
    assert "plain 3" in text
    assert collect.records[-1].args == (3,)  # untouched records keep their arguments


def test_json_lines_carry_job_fields() -> None:
    stream = io.StringIO()
    configure_logging("INFO", [KEY], stream, format="json")
    try:
        log = logging.getLogger("wanbot.jobs.test")
        with job_log_context(job_id="j-1", guild_id=42):
            with job_log_context(provider="mock"):
                log.info("submitted %s", KEY)
            log.warning("outer")
        log.info("outside")
    finally:
        _reset_root()
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert [line["message"] for line in lines] == [f"submitted {REDACTED}", "outer", "outside"]
    assert lines[0]["job_id"] == "j-1" and lines[0]["guild_id"] == 42
    assert lines[0]["provider"] == "mock" and lines[0]["level"] == "INFO"
    assert lines[0]["logger"] == "wanbot.jobs.test" and "time" in lines[0]
    assert "provider" not in lines[1] and lines[1]["job_id"] == "j-1"
    assert not {"job_id", "guild_id", "provider"} & set(lines[2])


def test_text_lines_show_job_fields() -> None:
    stream = io.StringIO()
    configure_logging("INFO", [], stream)
    try:
        with job_log_context(job_id="j-2", provider="pixeldojo"):
            logging.getLogger("wanbot.x").info("hello")
        logging.getLogger("wanbot.x").info("bye")
    finally:
        _reset_root()
    first, second = stream.getvalue().splitlines()
    assert first.endswith("wanbot.x: hello [job=j-2 provider=pixeldojo]")
    assert second.endswith("wanbot.x: bye")


async def test_job_context_follows_tasks_not_other_jobs(collect: Collect) -> None:
    collect.addFilter(JobContextFilter())
    log = logging.getLogger("wanbot.jobs.ctx")

    async def job(job_id: str) -> None:
        with job_log_context(job_id=job_id):
            await asyncio.sleep(0)
            log.info("running %s", job_id)
            await asyncio.create_task(asyncio.sleep(0))

    await asyncio.gather(job("a"), job("b"))
    seen = {
        r.getMessage(): getattr(r, "job_id", None) for r in collect.records if r.name == log.name
    }
    assert seen == {"running a": "a", "running b": "b"}


async def test_a_fallback_host_retags_the_rest_of_the_job(collect: Collect) -> None:
    collect.addFilter(JobContextFilter())
    log = logging.getLogger("wanbot.jobs.retag")

    async def job() -> None:
        with job_log_context(job_id="c", provider="pixeldojo"):
            log.info("first")
            tag_job_logs(provider="skillsvideo")
            log.info("after fallback")
            await asyncio.create_task(asyncio.sleep(0))
        log.info("after the job")

    await asyncio.create_task(job())
    seen = [
        (r.getMessage(), getattr(r, "provider", None))
        for r in collect.records
        if r.name == log.name
    ]
    assert seen == [
        ("first", "pixeldojo"),
        ("after fallback", "skillsvideo"),
        ("after the job", None),
    ]


def test_aiosqlite_debug_is_kept_out() -> None:
    sqlite_log = logging.getLogger("aiosqlite")
    saved = sqlite_log.level, list(sqlite_log.filters)
    try:
        quiet_noisy_loggers("DEBUG")
        assert not sqlite_log.isEnabledFor(logging.DEBUG)
        sqlite_log.setLevel(logging.DEBUG)  # even when someone turns it back on
        handler = Collect()
        sqlite_log.addHandler(handler)
        sqlite_log.debug("executing %s", TOKEN)
        sqlite_log.warning("kept")
        sqlite_log.removeHandler(handler)
        assert [r.getMessage() for r in handler.records] == ["kept"]
    finally:
        sqlite_log.setLevel(saved[0])
        sqlite_log.filters[:] = saved[1]


def _reset_root() -> None:
    """configure_logging replaced the root handlers; leave no stream handler behind."""
    from wanbot import logs

    root = logging.getLogger()
    for handler in list(root.handlers):
        if isinstance(handler, logging.StreamHandler) and isinstance(
            handler.formatter, logs.RedactingFormatter | logs.RedactingJsonFormatter
        ):
            root.removeHandler(handler)
    if logs._installed is not None:
        logs._installed.uninstall()
        logs._installed = None
    root.setLevel(logging.WARNING)
