"""Suite-wide guard: no configured secret ever appears in a log line or a Discord message."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from tests import pg
from tests.fakes.dashscope_server import FakeDashScope
from tests.fakes.provider_server import FakeProviderServer

# Every secret a test configures: provider keys here, bot tokens as fakes are made.
SECRETS: set[str] = {FakeProviderServer.api_key, FakeDashScope.api_key}


def remember_secret(value: str) -> None:
    SECRETS.add(value)


def leaked(text: str) -> list[str]:
    return [s for s in SECRETS if s and s in text]


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        text = record.getMessage()
        if record.exc_info and record.exc_info[1] is not None:
            text += "\n" + logging.Formatter().formatException(record.exc_info)
        self.lines.append(text)


@pytest.fixture(autouse=True)
def no_secret_in_logs() -> Iterator[None]:
    """Every record from the bot's own loggers, at DEBUG, and everyone else's at INFO."""
    collector = _Collect()
    root = logging.getLogger()
    ours = [logging.getLogger(name) for name in ("wanbot", "cogs")]
    saved = (root.level, [logger.level for logger in ours])
    root.addHandler(collector)
    root.setLevel(min(root.level or logging.INFO, logging.INFO))
    for logger in ours:
        logger.setLevel(logging.DEBUG)
    try:
        yield
    finally:
        root.removeHandler(collector)
        root.setLevel(saved[0])
        for logger, level in zip(ours, saved[1], strict=True):
            logger.setLevel(level)
    hits = [line for line in collector.lines if leaked(line)]
    assert hits == [], f"a secret was logged: {hits[0][:200]}"


@pytest.fixture(scope="session")
def postgres_server() -> str:
    """The PostgreSQL server's DSN (started if it was down); skips where none is installed."""
    try:
        return pg.ensure_server()
    except pg.NotInstalled as e:
        pytest.skip(str(e))
    except pg.DidNotStart as e:
        pytest.fail(str(e))


@pytest.fixture(scope="session")
def postgres_dsn(postgres_server: str) -> Iterator[str]:
    """A database of this test session's own on that server, dropped at the session's end;
    tests make a schema each inside it (see tests/store/backends.py)."""
    dsn = pg.run(pg.create_database(postgres_server))
    try:
        yield dsn
    finally:
        pg.run(pg.drop_database(postgres_server, dsn))
