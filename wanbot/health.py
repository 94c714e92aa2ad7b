"""A heartbeat file for container health checks: fresh while the bot is connected to Discord.

python -m wanbot.health [DATA_DIR]     exits 0 when healthy, 1 when not
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

HEARTBEAT_FILE = "heartbeat"
STALE_AFTER_S = 90.0


def beat(data_dir: Path) -> None:
    (data_dir / HEARTBEAT_FILE).write_text(f"{time.time():.0f}\n", encoding="utf-8")


def is_healthy(data_dir: Path, now: float | None = None) -> bool:
    try:
        last = float((data_dir / HEARTBEAT_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return (time.time() if now is None else now) - last < STALE_AFTER_S


if __name__ == "__main__":
    folder = Path(sys.argv[1] if len(sys.argv) > 1 else "data")
    sys.exit(0 if is_healthy(folder) else 1)
