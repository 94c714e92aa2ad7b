"""The store's records and protocols in one import (what consumers have always imported)."""

from wanbot.store import models, protocols
from wanbot.store.models import *  # noqa: F403
from wanbot.store.protocols import *  # noqa: F403

__all__: list[str] = []
__all__ += models.__all__
__all__ += protocols.__all__
