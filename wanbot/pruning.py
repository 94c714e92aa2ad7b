"""Removing what the bot kept on disk once it is old: inputs, a crash's leftovers, mock images."""

from __future__ import annotations

import shutil
import time
from pathlib import Path


def prune_older(
    folder: Path, max_age_s: float, now: float | None = None, *, folders: bool = False
) -> int:
    """Delete the files in `folder` (with `folders`, the folders in it instead) last written more
    than `max_age_s` ago; return how many."""
    if not folder.is_dir():
        return 0
    cutoff = (time.time() if now is None else now) - max_age_s
    removed = 0
    for path in folder.iterdir():
        if (path.is_dir() if folders else path.is_file()) and path.stat().st_mtime < cutoff:
            if folders:
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)
            removed += 1
    return removed
