#!/usr/bin/env sh
# Create .venv and install wanbot with pinned versions; a no-op when nothing changed since last time.
# Usage: scripts/setup.sh [dev]
set -eu
cd "$(dirname "$0")/.."
extra=${1:-}
python=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$python" -m venv .venv
fi
stamp=".venv/.wanbot-installed${extra:+-$extra}"
want=$(cat pyproject.toml constraints.txt | cksum)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  .venv/bin/python -m pip install --quiet --upgrade pip
  target="."
  [ "$extra" = dev ] && target=".[dev]"
  .venv/bin/python -m pip install --quiet -c constraints.txt -e "$target"
  echo "$want" > "$stamp"
fi
