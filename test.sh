#!/usr/bin/env sh
# Set up (first time only) and run the whole test suite. Extra arguments go to pytest.
set -eu
cd "$(dirname "$0")"
scripts/setup.sh dev
exec .venv/bin/python -m pytest "$@"
