"""`python bot.py --check` as an operator runs it: exit codes and one readable line."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run_bot(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.endswith(("_API_KEY", "TOKEN"))}
    clean.pop("WANBOT_CONFIG", None)
    return subprocess.run(
        [sys.executable, str(ROOT / "bot.py"), *args],
        env={**clean, **env},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_check_without_token_fails_with_one_line(tmp_path: Path) -> None:
    result = run_bot("--check", env={}, cwd=tmp_path)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert lines == ["config error: DISCORD_TOKEN is not set: put the bot token in the environment"]


def test_check_with_bad_value_names_the_key(tmp_path: Path) -> None:
    config = tmp_path / "bad.toml"
    config.write_text('[credits]\nallowance = "lots"\n')
    result = run_bot(
        "--check", "--config", str(config), env={"DISCORD_TOKEN": "x" * 30}, cwd=tmp_path
    )
    assert result.returncode == 1
    assert "credits.allowance" in result.stderr
    assert "Traceback" not in result.stderr


def test_check_reads_wanbot_config_and_passes(tmp_path: Path) -> None:
    config = tmp_path / "ok.toml"
    config.write_text('[generation]\nprovider = "mock"\n')
    result = run_bot(
        "--check", env={"DISCORD_TOKEN": "x" * 30, "WANBOT_CONFIG": str(config)}, cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    assert "config OK" in result.stdout and "ok.toml" in result.stdout


def test_missing_config_file(tmp_path: Path) -> None:
    result = run_bot(
        "--check", "--config", "nope.toml", env={"DISCORD_TOKEN": "x" * 30}, cwd=tmp_path
    )
    assert result.returncode == 1
    assert "does not exist" in result.stderr


def test_check_warns_while_any_server_may_use_the_bot(tmp_path: Path) -> None:
    env = {"DISCORD_TOKEN": "x" * 30}
    open_to_all = run_bot("--check", env=env, cwd=tmp_path)
    assert open_to_all.returncode == 0, open_to_all.stderr
    warnings = [line for line in open_to_all.stdout.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1, open_to_all.stdout
    assert "discord.allowed_guilds is empty" in warnings[0] and "Public Bot" in warnings[0]

    config = tmp_path / "config.toml"
    config.write_text("[discord]\nallowed_guilds = [123456789012345678]\n")
    listed = run_bot("--check", env=env, cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    assert "warning" not in listed.stdout + listed.stderr
