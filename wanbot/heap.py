"""The objects the bot starts with, set aside from Python's cyclic garbage collector.

What exists once the bot is set up (modules, the command tree, catalogs, pydantic models) lives as
long as the process. A full collection walks every tracked object, and on the bot's heap one took
~50 ms: when it fell inside a burst of commands it held up every acknowledgement behind it
(`bench.burst`). Moved to the permanent generation once, those objects are no longer walked; what
the bot makes later (gateway caches, jobs) is collected as before. Freezing is process-wide, so
the first caller freezes and only it gives back.
"""

from __future__ import annotations

import gc


def set_aside() -> bool:
    """Collect once (start-up's own garbage is not kept), then freeze what is left. False, and
    nothing done, when the process has frozen objects already (another bot in it did)."""
    if gc.get_freeze_count():
        return False
    gc.collect()
    gc.freeze()
    return True


def give_back() -> None:
    """Return the frozen objects to the collector (the bot that froze them is closing)."""
    gc.unfreeze()
