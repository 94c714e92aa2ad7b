"""wanbot: make and edit images with Wan 2.7 Pro from Discord.

    python bot.py [--config PATH] [--check]

Exit codes: 0 clean shutdown, 1 bad configuration or missing secret, 2 unexpected crash.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import logging
import signal
import sys

import discord

from wanbot.config import (
    Config,
    ConfigError,
    check_runnable,
    load_config,
    resolve_path,
    warnings_for,
)
from wanbot.logs import configure_logging
from wanbot.store import StoreInUse

log = logging.getLogger("wanbot")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Run the wanbot Discord bot.")
    parser.add_argument("--config", metavar="PATH", help="config file (or set WANBOT_CONFIG)")
    parser.add_argument(
        "--check", action="store_true", help="validate config and environment, then exit"
    )
    return parser.parse_args(argv)


async def run(config: Config) -> int:
    from cogs.client import open_bot

    async with open_bot(config) as bot:
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, functools.partial(_shutdown, bot, signum))
        assert config.secrets.discord_token is not None
        try:
            await bot.start(config.secrets.discord_token)
        except discord.LoginFailure:
            log.error("Discord rejected DISCORD_TOKEN: check the bot token")
            return 1
    log.info("stopped cleanly")
    return 0


def _shutdown(bot: discord.Client, signum: int) -> None:
    log.info("received %s; finishing current writes and stopping", signal.Signals(signum).name)
    asyncio.get_running_loop().create_task(bot.close())


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        config = load_config(resolve_path(args.config))
    except ConfigError as e:
        for problem in e.problems:
            print(f"config error: {problem}", file=sys.stderr)
        return 1
    problems = check_runnable(config)
    if problems:
        for problem in problems:
            print(f"config error: {problem}", file=sys.stderr)
        return 1
    if args.check:
        source = config.source or "built-in defaults"
        enabled = ", ".join(config.enabled_providers())
        print(f"config OK ({source}); providers: {enabled}; default: {config.default_provider}")
        for warning in warnings_for(config):
            print(f"warning: {warning}")
        return 0
    log_settings = config.settings.logging
    configure_logging(log_settings.level, config.secrets.values(), format=log_settings.format)
    try:
        return asyncio.run(run(config))
    except StoreInUse as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0
    except Exception:
        log.critical("wanbot crashed", exc_info=True)
        return 2


if __name__ == "__main__":
    with contextlib.suppress(BrokenPipeError):
        sys.exit(main())
