"""Config: the example file documents every key, and each problem names its key."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from wanbot.config import ConfigError, Settings, anchored, load_config, resolve_path

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "config.example.toml"


def _keys(model: type[Settings], prefix: str = "") -> set[str]:
    keys: set[str] = set()
    for name, field in model.model_fields.items():
        annotation = field.annotation
        if isinstance(annotation, type) and hasattr(annotation, "model_fields"):
            keys |= _keys(annotation, f"{prefix}{name}.")
        else:
            keys.add(f"{prefix}{name}")
    return keys


def test_example_loads_and_equals_defaults() -> None:
    config = load_config(EXAMPLE, env={})
    assert config.settings == anchored(Settings(), Path.cwd())


def test_relative_paths_are_made_absolute_once_at_load(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    config = load_config(None, env={})
    data_dir = Path(config.settings.generation.data_dir)
    assert data_dir.is_absolute() and data_dir == tmp_path.resolve() / "data"
    assert config.settings.storage.sqlite_path == tmp_path.resolve() / "data" / "wanbot.db"
    # A mock result must be expressible as a file URI (it raised ValueError on a relative path).
    assert (data_dir / "mock" / "x.png").as_uri().startswith("file:///")
    monkeypatch.chdir(ROOT)
    assert Path(config.settings.generation.data_dir) == tmp_path.resolve() / "data"


def test_absolute_paths_are_kept(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text(
        f'[storage]\nurl = "sqlite:///{tmp_path}/x.db"\n[generation]\ndata_dir = "{tmp_path}/d"\n'
    )
    settings = load_config(path, env={}).settings
    assert settings.storage.sqlite_path == tmp_path / "x.db"
    assert settings.generation.data_dir == str(tmp_path / "d")


def test_example_documents_every_key() -> None:
    text = EXAMPLE.read_text()
    missing = [key for key in sorted(_keys(Settings)) if key.rsplit(".", 1)[1] not in text]
    assert missing == []
    # Every key the example sets is a real key (extra keys are refused by the models anyway).
    tomllib.loads(text)


def test_bad_value_names_the_key(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text(
        '[credits]\nperiod = "hourly"\nimage_cost = -1\n[discord]\napi_base_url = "x"\n'
    )
    with pytest.raises(ConfigError) as caught:
        load_config(path, env={})
    problems = caught.value.problems
    assert any(p.startswith("credits.period:") and "hourly" in p for p in problems)
    assert any(p.startswith("credits.image_cost:") for p in problems)
    assert any(p.startswith("discord.api_base_url:") for p in problems)


def test_unknown_key_and_bad_toml(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text("[generation]\nprovidr = 'mock'\n")
    with pytest.raises(ConfigError) as caught:
        load_config(path, env={})
    assert caught.value.problems == ["generation.providr: unknown key"]
    path.write_text("[generation\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(path, env={})


def test_provider_without_key_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text('[generation]\nprovider = "dashscope"\n')
    with pytest.raises(ConfigError, match="DASHSCOPE_API_KEY"):
        load_config(path, env={})
    config = load_config(path, env={"DASHSCOPE_API_KEY": "k" * 20})
    assert config.default_provider == "dashscope"


def test_auto_picks_first_keyed_provider_else_mock() -> None:
    assert load_config(None, env={}).default_provider == "mock"
    env = {"SKILLSVIDEO_API_KEY": "abc123456", "DASHSCOPE_API_KEY": "def123456"}
    config = load_config(None, env=env)
    assert config.default_provider == "skillsvideo"
    assert config.enabled_providers() == ["skillsvideo", "dashscope", "mock"]
    assert "abc123456" not in repr(config.secrets)


def test_resolve_path_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert resolve_path(None, env={}) is None
    (tmp_path / "config.toml").write_text("")
    assert resolve_path(None, env={}) == Path("config.toml")
    assert resolve_path(None, env={"WANBOT_CONFIG": "/x.toml"}) == Path("/x.toml")
    assert resolve_path("/y.toml", env={"WANBOT_CONFIG": "/x.toml"}) == Path("/y.toml")


def test_storage_url_takes_postgresql_and_never_echoes_a_refused_one(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text('[storage]\nurl = "postgresql://bot:hunter2@db:5432/wanbot"\n')
    url = load_config(path, env={}).settings.storage.url
    assert url == "postgresql://bot:hunter2@db:5432/wanbot"  # kept as written, not anchored
    path.write_text('[storage]\nurl = "mysql://bot:hunter2@db/wanbot"\n')
    with pytest.raises(ConfigError) as caught:
        load_config(path, env={})
    assert [p.split(":", 1)[0] for p in caught.value.problems] == ["storage.url"]
    assert "hunter2" not in str(caught.value.problems)
