"""/admin: credits, team wallets, channels, blocklist, bans, audit channel, NSFW policy and stats.

Discord hides /admin from members without Manage Server (default permissions), but a server can
override that per role or channel, so every subcommand checks the permission itself too.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from typing import Any, Literal

import discord
from discord import app_commands
from discord.ext import commands

from cogs.admin_wallets import WalletAdmin
from cogs.audit import DiscordAudit
from cogs.client import WanBot
from cogs.render import account as render_account
from cogs.render import admin as render
from cogs.render import audit as render_audit
from cogs.render import operators as render_operators
from cogs.respond import acknowledged_if_slow, guild_locale_of, locale_of, reply
from cogs.slash import BLOCKLIST
from wanbot.balance import BalanceTracker
from wanbot.credits import CreditPolicy, credit_summary, day_start
from wanbot.errors import Refusal, RefusalReason
from wanbot.member_data import MemberData
from wanbot.moderation import clean_entry
from wanbot.providers.registry import ProviderSet
from wanbot.store.base import Store

log = logging.getLogger(__name__)

NO_PINGS = discord.AllowedMentions.none()
MAX_GRANT = 1_000_000
MAX_BLOCKLIST = 200


def month_start(now: float) -> float:
    day = dt.datetime.fromtimestamp(now, tz=dt.UTC).date().replace(day=1)
    return dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC).timestamp()


# -- /admin -----------------------------------------------------------------------------------
@app_commands.guild_only()
@app_commands.default_permissions(manage_guild=True)
class Admin(
    WalletAdmin,
    commands.GroupCog,
    group_name="admin",
    group_description="Manage wanbot on this server (Manage Server)",
):
    def __init__(
        self,
        *,
        store: Store,
        credits: CreditPolicy,
        audit: DiscordAudit,
        providers: ProviderSet,
        balances: BalanceTracker,
        member_data: MemberData,
    ) -> None:
        self.store = store
        self.credits = credits
        self.audit = audit
        self.providers = providers
        self.balances = balances
        self.member_data = member_data
        super().__init__()

    async def interaction_check(self, interaction: discord.Interaction[Any], /) -> bool:
        if interaction.guild_id is None or not interaction.permissions.manage_guild:
            refusal = Refusal(RefusalReason.ADMIN_INPUT, {"problem": "not_admin"})
            raise app_commands.CheckFailure() from refusal
        return True

    @staticmethod
    async def _reply(interaction: discord.Interaction[Any], text: str) -> None:
        await interaction.response.send_message(
            text[:2000], ephemeral=True, allowed_mentions=NO_PINGS
        )

    async def _audit(self, guild_id: int, text: str) -> None:
        settings = await self.store.guild_settings(guild_id)
        await self.audit.post(settings.audit_channel_id, text)

    # -- credits ---------------------------------------------------------------------------
    @app_commands.command(name="grant", description="Add credits to a member's balance")
    @app_commands.describe(user="Who gets them", amount="How many credits", reason="Why (shown)")
    async def grant(
        self,
        interaction: discord.Interaction[Any],
        user: discord.Member,
        amount: app_commands.Range[int, 1, MAX_GRANT],
        reason: app_commands.Range[str, 1, 200] | None = None,
    ) -> None:
        await self._change(interaction, user, amount, reason)

    @app_commands.command(name="revoke", description="Take credits from a member's balance")
    @app_commands.describe(user="From whom", amount="How many credits", reason="Why (shown)")
    async def revoke(
        self,
        interaction: discord.Interaction[Any],
        user: discord.Member,
        amount: app_commands.Range[int, 1, MAX_GRANT],
        reason: app_commands.Range[str, 1, 200] | None = None,
    ) -> None:
        await self._change(interaction, user, -amount, reason)

    async def _change(
        self,
        interaction: discord.Interaction[Any],
        user: discord.Member,
        amount: int,
        reason: str | None,
    ) -> None:
        assert interaction.guild_id is not None
        if user.bot:
            raise Refusal(RefusalReason.ADMIN_INPUT, {"problem": "bot_credits"})
        guild_id, store = interaction.guild_id, self.store
        allowance, _ = self.credits.allowance_for(r.id for r in user.roles)
        # Apply the refill due first, so it can't swallow the grant ("top up to the allowance").
        budget = self.credits.budget(time.time(), allowance)
        before = await store.balance(guild_id, user.id, budget)
        after = await store.grant(guild_id, user.id, amount, interaction.user.id, reason)
        changed = after - before
        locale, server = locale_of(interaction), guild_locale_of(interaction)
        actor = interaction.user.id
        if amount > 0:
            text = render.granted(user.id, changed, after, reason, locale)
            audit = render_audit.credit_audit(actor, user.id, changed, reason, server)
        else:
            text = render.revoked(user.id, -changed, -amount, before, after, reason, locale)
            audit = render_audit.credit_audit(actor, user.id, -changed, reason, server, took=True)
        await self._reply(interaction, text)
        await self._audit(guild_id, audit)

    @app_commands.command(name="balance", description="A member's credits and recent activity")
    @app_commands.describe(user="Whose balance")
    async def balance(self, interaction: discord.Interaction[Any], user: discord.Member) -> None:
        assert interaction.guild_id is not None
        roles = [r.id for r in user.roles]
        summary = await credit_summary(
            self.store, self.credits, interaction.guild_id, user.id, roles, time.time()
        )
        locale = locale_of(interaction)
        text = render_account.credits_summary(summary, locale)
        await self._reply(interaction, render.member_balance(user.id, text, locale))

    # -- where and what ------------------------------------------------------------------------
    @app_commands.command(name="channels", description="Allow or deny image generation by channel")
    @app_commands.describe(
        action="allow: only allowed channels may generate; deny: never here; clear: remove "
        "the channel's rule (or all rules, without a channel); list: show the rules",
        channel="Which channel",
    )
    async def channels(
        self,
        interaction: discord.Interaction[Any],
        action: Literal["allow", "deny", "clear", "list"],
        channel: discord.TextChannel | None = None,
    ) -> None:
        assert interaction.guild_id is not None
        guild_id, store = interaction.guild_id, self.store
        if action == "clear" and channel is None:
            removed = await store.clear_channel_rules(guild_id)
            await self._reply(
                interaction, render.channel_rules_cleared(removed, locale_of(interaction))
            )
            return
        if action != "list":
            if channel is None:
                raise Refusal(
                    RefusalReason.ADMIN_INPUT, {"problem": "which_channel", "action": action}
                )
            rule = None if action == "clear" else action
            await store.set_channel_rule(guild_id, channel.id, rule, interaction.user.id)
        settings = await store.guild_settings(guild_id)
        await self._reply(interaction, render.channel_rules(settings, locale_of(interaction)))

    @app_commands.command(name="blocklist", description="Words or patterns prompts may not use")
    @app_commands.describe(**BLOCKLIST)
    async def blocklist(
        self,
        interaction: discord.Interaction[Any],
        action: Literal["add", "remove", "list"],
        term: app_commands.Range[str, 1, 200] | None = None,
        regex: bool | None = None,
    ) -> None:
        assert interaction.guild_id is not None
        guild_id, store = interaction.guild_id, self.store
        if action == "list":
            settings = await store.guild_settings(guild_id)
            await self._reply(
                interaction, render.blocklist(settings.blocklist, locale_of(interaction))
            )
            return
        if term is None:
            raise Refusal(RefusalReason.ADMIN_INPUT, {"problem": "what_term", "action": action})
        if action == "remove":
            removed = await store.remove_blocked(guild_id, term.strip())
            if not removed:
                removed = await store.remove_blocked(guild_id, clean_entry(term, False))
            await self._reply(
                interaction, render.blocklist_removed(removed, locale_of(interaction))
            )
            return
        entry = clean_entry(term, bool(regex))
        settings = await store.guild_settings(guild_id)
        if len(settings.blocklist) >= MAX_BLOCKLIST:
            raise Refusal(
                RefusalReason.ADMIN_INPUT, {"problem": "blocklist_full", "limit": MAX_BLOCKLIST}
            )
        added = await store.add_blocked(guild_id, entry, bool(regex), interaction.user.id)
        text = render.blocklist_added(entry, bool(regex), added, locale_of(interaction))
        await self._reply(interaction, text)

    @app_commands.command(name="nsfw", description="What age-restricted channels allow")
    @app_commands.describe(
        policy="filter (default): the same checks as everywhere; allow: no built-in term "
        "filter and the host's own safety setting (the blocklist still applies)"
    )
    async def nsfw(
        self,
        interaction: discord.Interaction[Any],
        policy: Literal["allow", "filter"] | None = None,
    ) -> None:
        assert interaction.guild_id is not None
        if policy is not None:
            await self.store.set_nsfw_policy(interaction.guild_id, policy)
            await self._audit(
                interaction.guild_id,
                render_audit.nsfw_audit(interaction.user.id, policy, guild_locale_of(interaction)),
            )
        settings = await self.store.guild_settings(interaction.guild_id)
        await self._reply(
            interaction, render.nsfw_policy(settings.nsfw_policy, locale_of(interaction))
        )

    # -- who --------------------------------------------------------------------------------
    @app_commands.command(name="ban", description="Stop a member from generating images")
    @app_commands.describe(user="Who", reason="Why (kept for other admins)")
    async def ban(
        self,
        interaction: discord.Interaction[Any],
        user: discord.Member,
        reason: app_commands.Range[str, 1, 200] | None = None,
    ) -> None:
        assert interaction.guild_id is not None
        added = await self.store.ban_member(
            interaction.guild_id, user.id, interaction.user.id, reason
        )
        await self._reply(interaction, render.banned(user.id, added, locale_of(interaction)))
        if added:
            await self._audit(
                interaction.guild_id,
                render_audit.ban_audit(
                    interaction.user.id, user.id, reason, guild_locale_of(interaction)
                ),
            )

    @app_commands.command(name="unban", description="Let a member generate images again")
    @app_commands.describe(user="Who")
    async def unban(self, interaction: discord.Interaction[Any], user: discord.Member) -> None:
        assert interaction.guild_id is not None
        removed = await self.store.unban_member(interaction.guild_id, user.id)
        await self._reply(interaction, render.unbanned(user.id, removed, locale_of(interaction)))
        if removed:
            await self._audit(
                interaction.guild_id,
                render_audit.unban_audit(
                    interaction.user.id, user.id, guild_locale_of(interaction)
                ),
            )

    @app_commands.command(name="bans", description="Members who can't generate images")
    async def bans(self, interaction: discord.Interaction[Any]) -> None:
        assert interaction.guild_id is not None
        found = await self.store.bans(interaction.guild_id)
        await self._reply(interaction, render.bans(found, locale_of(interaction)))

    # -- audit and stats ------------------------------------------------------------------------
    @app_commands.command(name="audit-channel", description="Where every job is logged")
    @app_commands.describe(channel="Log jobs here", clear="Stop logging")
    async def audit_channel(
        self,
        interaction: discord.Interaction[Any],
        channel: discord.TextChannel | None = None,
        clear: bool | None = None,
    ) -> None:
        assert interaction.guild_id is not None
        store = self.store
        locale = locale_of(interaction)
        if clear:
            await store.set_audit_channel(interaction.guild_id, None)
            await self._reply(interaction, render.audit_channel_cleared(locale))
            return
        if channel is None:
            current = (await store.guild_settings(interaction.guild_id)).audit_channel_id
            await self._reply(interaction, render.audit_channel(current, locale))
            return
        await store.set_audit_channel(interaction.guild_id, channel.id)
        await self._reply(interaction, render.audit_channel_set(channel.id, locale))
        await self.audit.post(
            channel.id,
            render_audit.audit_channel_audit(interaction.user.id, guild_locale_of(interaction)),
        )

    @app_commands.command(name="stats", description="Jobs and spending today and this month")
    async def stats(self, interaction: discord.Interaction[Any]) -> None:
        assert interaction.guild_id is not None
        now = time.time()
        stats = await self.store.guild_stats(interaction.guild_id, day_start(now), month_start(now))
        locale = locale_of(interaction)
        text = render.stats(stats, locale)
        balances = render_operators.host_balances(self._host_balances(), locale)
        if balances:
            text += "\n" + balances
        await self._reply(interaction, text)

    def _host_balances(self) -> dict[str, tuple[float, float] | None]:
        """{label: (balance, seen at)} of the enabled hosts that report one (None: not yet)."""
        known = self.balances.snapshot()
        return {
            self.providers.label(name): known.get(name)
            for name in self.providers.providers
            if name in self.balances.hosts
        }

    # -- members' data -------------------------------------------------------------------------
    @app_commands.command(name="forget", description="Remove a member's data from wanbot")
    @app_commands.describe(
        user="Whose prompts, saved defaults and kept images to remove (their credits stay)"
    )
    async def forget(self, interaction: discord.Interaction[Any], user: discord.User) -> None:
        """Their unfinished jobs are stopped and refunded first (see wanbot.member_data)."""
        assert interaction.guild_id is not None
        async with acknowledged_if_slow(interaction, ephemeral=True):
            done = await self.member_data.forget(interaction.guild_id, user.id)
        locale = locale_of(interaction)
        await reply(interaction, render_operators.forgotten(user.id, done, locale))
        await self._audit(
            interaction.guild_id,
            render_operators.forget_audit(
                interaction.user.id, user.id, done, guild_locale_of(interaction)
            ),
        )


async def setup(bot: WanBot) -> None:
    services = bot.services
    await bot.add_cog(
        Admin(
            store=services.store,
            credits=services.credits,
            audit=bot.audit,
            providers=services.providers,
            balances=services.balances,
            member_data=services.member_data,
        )
    )
