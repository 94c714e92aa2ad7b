"""The store's SQL, one module per table family, written against `wanbot.store.database`.

`SqlStore` combines the families into the whole `Store`; an engine supplies a `Database`.
"""

from __future__ import annotations

from typing import TypeVar

from wanbot.store.database import migrate
from wanbot.store.sql.common import SqlFamily
from wanbot.store.sql.jobs import JobSql
from wanbot.store.sql.leases import LeaseSql
from wanbot.store.sql.ledger import LedgerSql
from wanbot.store.sql.member_data import MemberDataSql
from wanbot.store.sql.meta import MetaSql
from wanbot.store.sql.policy import GuildPolicySql
from wanbot.store.sql.preferences import PreferenceSql
from wanbot.store.sql.stats import StatsSql
from wanbot.store.sql.wallets import WalletSql


class SqlStore(
    MetaSql,
    JobSql,
    LedgerSql,
    GuildPolicySql,
    PreferenceSql,
    StatsSql,
    MemberDataSql,
    LeaseSql,
    WalletSql,
    SqlFamily,
):
    """Every table family over one `Database`."""

    async def migrate(self) -> None:
        """Apply every numbered migration not applied yet."""
        await migrate(self.database, self._clock)

    async def close(self) -> None:
        await self.database.close()


StoreT = TypeVar("StoreT", bound=SqlStore)


async def migrated(store: StoreT) -> StoreT:
    """`store`, migrated; its database closed again if the migration fails."""
    try:
        await store.migrate()
    except BaseException:
        await store.database.close()
        raise
    return store


__all__ = ["SqlStore", "migrated"]
