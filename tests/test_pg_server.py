"""How the tests find PostgreSQL: the DSN override, and a clear reason where none is installed."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests import pg


def test_the_dsn_can_be_pointed_elsewhere(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WANBOT_TEST_PG_DSN", raising=False)
    assert pg.server_dsn() == pg.DEFAULT_DSN
    monkeypatch.setenv("WANBOT_TEST_PG_DSN", "postgresql://ci@db.internal:6543/ci")
    assert pg.server_dsn() == "postgresql://ci@db.internal:6543/ci"


def test_no_server_and_none_installed_says_so(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # Nothing listens on port 1, and this machine "has no cluster": the tests skip with a reason.
    monkeypatch.setenv("WANBOT_TEST_PG_DSN", "postgresql://postgres@127.0.0.1:1/test")
    monkeypatch.setattr(pg, "CLUSTERS", tmp_path / "no-postgresql")
    with pytest.raises(pg.NotInstalled, match="not installed"):
        pg.ensure_server()


def test_settings_and_databases_go_into_the_dsn() -> None:
    dsn = "postgresql://postgres@127.0.0.1:5432/test"
    assert pg.with_database(dsn, "other") == "postgresql://postgres@127.0.0.1:5432/other"
    once = pg.with_setting(dsn, "search_path", "t_1")
    assert once == "postgresql://postgres@127.0.0.1:5432/test?search_path=t_1"
    assert pg.with_setting(once, "application_name", "x").endswith(
        "search_path=t_1&application_name=x"
    )
