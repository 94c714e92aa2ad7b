"""Persistence: the Store protocol and its implementations."""

from wanbot.store.base import (
    Budget,
    Job,
    JobPhase,
    LedgerEntry,
    NewJob,
    Settlement,
    SpendCaps,
    Store,
)
from wanbot.store.sqlite import JobStateError, SQLiteStore

__all__ = [
    "Budget",
    "Job",
    "JobPhase",
    "JobStateError",
    "LedgerEntry",
    "NewJob",
    "SQLiteStore",
    "Settlement",
    "SpendCaps",
    "Store",
]
