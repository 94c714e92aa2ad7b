"""Persistent job buttons: one DynamicItem template for cancel, reroll, vary, remix, edit and
delete.

The `custom_id` carries the action and the job id, so a button keeps working after a restart.
What each action does is registered by the cogs on an ActionRouter the client holds; every
click goes through the error boundary.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable
from typing import Any, Protocol, cast

import discord

from cogs.render.i18n import N_, Locale, _
from cogs.respond import guarded, guild_allowed
from wanbot.errors import Refusal, RefusalReason

log = logging.getLogger(__name__)

Handler = Callable[[discord.Interaction[Any], str], Awaitable[None]]
# action: (label, marked for the catalogs, and emoji)
ACTIONS: dict[str, tuple[str, str | None]] = {
    "cancel": (N_("Cancel"), None),
    "reroll": (N_("Reroll"), "🔁"),
    "vary": (N_("Vary"), "🎨"),
    "remix": (N_("Remix"), "🖌️"),
    "edit": (N_("Edit"), "✏️"),
    "delete": (N_("Delete"), "🗑"),
}
RESULT_ACTIONS = ("reroll", "vary", "remix", "edit", "delete")


class ActionRouter:
    """Which coroutine handles which job action."""

    def __init__(self, allowed_guilds: list[int] | None = None) -> None:
        self._handlers: dict[str, Handler] = {}
        self.allowed_guilds = list(allowed_guilds or [])

    def register(self, action: str, handler: Handler) -> None:
        if action not in ACTIONS:
            raise ValueError(f"unknown job action {action!r}")
        self._handlers[action] = handler

    def unregister(self, action: str) -> None:
        self._handlers.pop(action, None)

    def handler(self, action: str) -> Handler | None:
        return self._handlers.get(action)


class HasActions(Protocol):
    job_actions: ActionRouter


class JobButton(
    discord.ui.DynamicItem[discord.ui.Button[Any]],
    template=r"wanbot:(?P<action>cancel|reroll|vary|remix|edit|delete):(?P<job>[0-9a-f]{32})",
):
    def __init__(self, action: str, job_id: str, locale: Locale = None) -> None:
        """`locale`: the language of the label, which the message keeps; a button rebuilt from
        its custom_id to handle a click needs none."""
        label, emoji = ACTIONS[action]
        super().__init__(
            discord.ui.Button(
                label=_(label, locale),
                emoji=emoji,
                style=discord.ButtonStyle.secondary,
                custom_id=f"wanbot:{action}:{job_id}",
            )
        )
        self.action = action
        self.job_id = job_id

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction[Any], item: discord.ui.Item[Any], match: re.Match[str]
    ) -> JobButton:
        return cls(match["action"], match["job"])

    async def callback(self, interaction: discord.Interaction[Any]) -> None:
        router = cast(HasActions, interaction.client).job_actions
        async with guarded(interaction, f"{self.action} button", self.job_id):
            if not guild_allowed(router.allowed_guilds, interaction.guild_id):
                raise Refusal(RefusalReason.NOT_ALLOWED_GUILD)
            handler = router.handler(self.action)
            if handler is None:
                raise RuntimeError(f"no handler for job action {self.action}")
            await handler(interaction, self.job_id)


def progress_view(job_id: str, locale: Locale = None) -> discord.ui.View:
    view = discord.ui.View(timeout=None)
    view.add_item(JobButton("cancel", job_id, locale))
    return view


def result_view(job_id: str, locale: Locale = None) -> discord.ui.View:
    view = discord.ui.View(timeout=None)
    for action in RESULT_ACTIONS:
        view.add_item(JobButton(action, job_id, locale))
    return view


def may_moderate(interaction: discord.Interaction[Any]) -> bool:
    perms = interaction.permissions
    return bool(perms.manage_messages or perms.manage_guild)
