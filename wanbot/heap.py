"""The objects the bot starts with, set aside from Python's cyclic garbage collector.

What is alive once the bot is ready (modules, the command tree, catalogs, pydantic models, the
first caches) lives as long as the process. A full collection walks every tracked object, and on
the bot's heap one took ~50 ms: when it fell inside a burst of commands it held up every
acknowledgement behind it (`bench.burst`). Moved to the permanent generation once, those objects
are no longer walked; what the bot makes later is collected as before.
"""

from __future__ import annotations

import gc


def set_aside() -> int:
    """Collect once (start-up's own garbage is not kept), then freeze what is left; returns how
    many objects are now out of the collector's walks. The bot calls it once, at its first ready:
    what it makes later comes and goes, and frozen garbage would never be freed."""
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()


def give_back() -> None:
    """Return the frozen objects to the collector (the bot is closing; in a process that runs more
    than one bot, tests and benchmarks, what one bot froze becomes collectable again)."""
    gc.unfreeze()
