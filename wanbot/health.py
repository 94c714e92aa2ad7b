"""Container health checks: ask the bot's /healthz, or (with no HTTP server) a heartbeat file.

python -m wanbot.health http://127.0.0.1:8080/healthz    exits 0 when /healthz answers 200, else 1
python -m wanbot.health [DATA_DIR]                         exits 0 while the heartbeat file is fresh
"""

from __future__ import annotations

import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

HEARTBEAT_FILE = "heartbeat"
STALE_AFTER_S = 90.0
URL_TIMEOUT_S = 4.0


def beat(data_dir: Path) -> None:
    (data_dir / HEARTBEAT_FILE).write_text(f"{time.time():.0f}\n", encoding="utf-8")


def is_healthy(data_dir: Path, now: float | None = None) -> bool:
    try:
        last = float((data_dir / HEARTBEAT_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return (time.time() if now is None else now) - last < STALE_AFTER_S


def url_is_healthy(url: str, timeout_s: float = URL_TIMEOUT_S) -> bool:
    """True when `url` (the bot's /healthz) answers 200; 503, errors and timeouts are False."""
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError, ValueError):
        return False


def main(argv: list[str]) -> int:
    target = argv[0] if argv else "data"
    if target.startswith(("http://", "https://")):
        healthy = url_is_healthy(target)
    else:
        healthy = is_healthy(Path(target))
    return 0 if healthy else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
