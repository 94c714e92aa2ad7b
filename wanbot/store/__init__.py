"""Persistence: narrow store protocols by table family and their implementations."""

from wanbot.store.base import (
    Budget,
    GuildPolicyStore,
    Job,
    JobPhase,
    JobStateError,
    JobStore,
    LedgerEntry,
    LedgerStore,
    MemberDataStore,
    MetaStore,
    NewJob,
    PreferenceStore,
    Settlement,
    SpendCaps,
    StatsStore,
    Store,
    StoreInUse,
    token_digest,
)
from wanbot.store.sqlite import SQLiteStore
from wanbot.store.url import UnsupportedStorageURL, open_store

__all__ = [
    "Budget",
    "GuildPolicyStore",
    "Job",
    "JobPhase",
    "JobStateError",
    "JobStore",
    "LedgerEntry",
    "LedgerStore",
    "MemberDataStore",
    "MetaStore",
    "NewJob",
    "PreferenceStore",
    "SQLiteStore",
    "Settlement",
    "SpendCaps",
    "StatsStore",
    "Store",
    "StoreInUse",
    "UnsupportedStorageURL",
    "open_store",
    "token_digest",
]
