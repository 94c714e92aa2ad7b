#!/usr/bin/env sh
# Set up (first time only) and run the bot. Needs DISCORD_TOKEN; provider keys are optional.
set -eu
cd "$(dirname "$0")"
scripts/setup.sh
exec .venv/bin/python bot.py "$@"
