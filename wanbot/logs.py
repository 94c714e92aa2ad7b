"""Logging, configured once by `bot.py`: text or JSON lines, job fields, no secret or token at all.

Redaction happens where each record is made (a log record factory), so every handler at every level
sees the redacted message, arguments and traceback: the configured secrets (bot token, host keys),
Discord interaction and webhook tokens in URLs (`/webhooks/<id>/<token>`,
`/interactions/<id>/<token>/`) and in gateway payloads (`'token': '...'`), and the path of our own
host webhooks (`/hooks/<provider>/<token>`). aiosqlite's DEBUG records, which print every SQL call
with its parameters (interaction tokens among them), are dropped at their logger.

Job fields: inside `with job_log_context(job_id=..., guild_id=..., provider=...)` every record a
handler of ours emits carries those fields (JSON keys, or a `[job=... guild=...]` suffix in text).
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import re
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping
from types import MappingProxyType
from typing import Any, Final, Literal, TextIO

from pythonjsonlogger.json import JsonFormatter

REDACTED: Final = "[redacted]"
CONTEXT_FIELDS: Final = ("job_id", "guild_id", "provider")
TEXT_FORMAT: Final = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"
DATE_FORMAT: Final = "%Y-%m-%d %H:%M:%S"

# Tokens in URLs and payloads that are credentials though not configured secrets.
_TOKEN_PATTERNS: Final = (
    re.compile(r"(/(?:webhooks|interactions)/\d+/)[^/?#\s'\"]+"),
    re.compile(r"(/hooks/[^/?#\s'\"]+/)[^/?#\s'\"]+"),
    re.compile(r"""(['"](?:token|interaction_token)['"]\s*:\s*['"])[^'"]+"""),
)

job_context: contextvars.ContextVar[Mapping[str, object]] = contextvars.ContextVar(
    "job_context", default=MappingProxyType({})
)


@contextlib.contextmanager
def job_log_context(
    *, job_id: str | None = None, guild_id: int | None = None, provider: str | None = None
) -> Iterator[None]:
    """Tag every record logged inside (this task and the tasks it starts) with these fields."""
    given = {"job_id": job_id, "guild_id": guild_id, "provider": provider}
    fields = {**job_context.get(), **{k: v for k, v in given.items() if v is not None}}
    reset = job_context.set(MappingProxyType(fields))
    try:
        yield
    finally:
        job_context.reset(reset)


def tag_job_logs(*, provider: str) -> None:
    """Change a field of the current job's log context for the rest of this task (a job that
    falls back to another host); the enclosing `job_log_context` still restores it on exit."""
    job_context.set(MappingProxyType({**job_context.get(), "provider": provider}))


class Redactor:
    """Removes secrets and tokens from text; `install()` applies it to every new log record."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        # Longest first, so a secret containing another is removed whole.
        self._secrets = sorted({s for s in secrets if len(s) >= 6}, key=len, reverse=True)
        self._previous: Callable[..., logging.LogRecord] | None = None

    def redact(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, REDACTED)
        for pattern in _TOKEN_PATTERNS:
            text = pattern.sub(rf"\g<1>{REDACTED}", text)
        return text

    def redact_record(self, record: logging.LogRecord) -> None:
        try:
            message = record.getMessage()
        except Exception:
            return  # a broken format string: logging reports it at emit time
        clean = self.redact(message)
        if clean != message:
            record.msg, record.args = clean, ()
        if record.exc_info and record.exc_info[1] is not None and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.redact(record.exc_text)
        if record.stack_info:
            record.stack_info = self.redact(record.stack_info)

    def install(self) -> None:
        if self._previous is not None:
            return
        previous = logging.getLogRecordFactory()
        self._previous = previous

        def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
            record = previous(*args, **kwargs)
            self.redact_record(record)
            return record

        logging.setLogRecordFactory(factory)

    def uninstall(self) -> None:
        if self._previous is not None:
            logging.setLogRecordFactory(self._previous)
            self._previous = None


class JobContextFilter(logging.Filter):
    """Copies the current `job_log_context` onto each record (fields given via `extra` win)."""

    def filter(self, record: logging.LogRecord) -> bool:
        for key, value in job_context.get().items():
            if not hasattr(record, key):
                setattr(record, key, value)
        return True


class _DropDebug(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno > logging.DEBUG


class RedactingFormatter(logging.Formatter):
    """Text lines with the job fields as a suffix; the finished line is redacted once more."""

    def __init__(self, redactor: Redactor, fmt: str = TEXT_FORMAT, datefmt: str = DATE_FORMAT):
        super().__init__(fmt, datefmt)
        self._redactor = redactor

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        fields = [
            f"{key.removesuffix('_id')}={getattr(record, key)}"
            for key in CONTEXT_FIELDS
            if hasattr(record, key)
        ]
        if fields:
            head, newline, rest = text.partition("\n")
            text = f"{head} [{' '.join(fields)}]{newline}{rest}"
        return self._redactor.redact(text)


class RedactingJsonFormatter(JsonFormatter):
    """One JSON object per line: time, level, logger, message, job fields, exc_info."""

    def __init__(self, redactor: Redactor) -> None:
        super().__init__(
            "%(asctime)s %(levelname)s %(name)s %(message)s",
            rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
            datefmt="%Y-%m-%dT%H:%M:%S%z",
        )
        self._redactor = redactor

    def format(self, record: logging.LogRecord) -> str:
        return self._redactor.redact(super().format(record))


_installed: Redactor | None = None


def configure_logging(
    level: str,
    secrets: Iterable[str],
    stream: TextIO | None = None,
    *,
    format: Literal["text", "json"] = "text",
) -> Redactor:
    """Set up the root logger once; returns the installed Redactor."""
    global _installed
    redactor = Redactor(secrets)
    if _installed is not None:
        _installed.uninstall()
    redactor.install()
    _installed = redactor
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.addFilter(JobContextFilter())
    handler.setFormatter(
        RedactingJsonFormatter(redactor) if format == "json" else RedactingFormatter(redactor)
    )
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    quiet_noisy_loggers(level)
    return redactor


def quiet_noisy_loggers(level: str) -> None:
    # discord.py's gateway chatter at INFO is useful; its HTTP debug lines are not.
    logging.getLogger("discord.http").setLevel(max(logging.getLevelName(level), logging.INFO))
    # aiosqlite's DEBUG lines print each SQL call with its parameters, interaction tokens included.
    sqlite_log = logging.getLogger("aiosqlite")
    sqlite_log.setLevel(max(logging.getLevelName(level), logging.INFO))
    if not any(isinstance(f, _DropDebug) for f in sqlite_log.filters):
        sqlite_log.addFilter(_DropDebug())
