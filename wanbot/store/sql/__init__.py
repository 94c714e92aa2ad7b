"""The store's SQL, one module per table family, written against `wanbot.store.database`.

`SqlStore` combines the families into the whole `Store`; an engine supplies a `Database`.
"""

from __future__ import annotations

from wanbot.store.sql.common import SqlFamily
from wanbot.store.sql.jobs import JobSql
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
    WalletSql,
    SqlFamily,
):
    """Every table family over one `Database`."""

    async def close(self) -> None:
        await self.database.close()


__all__ = ["SqlStore"]
