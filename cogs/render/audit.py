"""The lines the server's audit channel gets: refusals worth a moderator's attention, every
admitted job, every /admin change and host warnings. Written in the server's language
(`guild_locale`), since moderators, not the member, read them."""

from __future__ import annotations

from cogs.render import markup
from cogs.render.account import aside
from cogs.render.i18n import Locale, _, command_name, ngettext, number
from cogs.render.jobs import options_line
from cogs.render.refusals import reason_text
from wanbot.admission import Admitted, Requester
from wanbot.moderation import Refused


def credit_audit(
    actor_id: int,
    member_id: int,
    credits: int,
    reason: str | None,
    locale: Locale,
    *,
    took: bool = False,
) -> str:
    """A grant's audit line; with `took`, a revoke's."""
    if took:
        line = ngettext(
            "%(actor)s took %(credits)s credit from %(member)s%(why)s.",
            "%(actor)s took %(credits)s credits from %(member)s%(why)s.",
            credits,
            locale,
        )
    else:
        line = ngettext(
            "%(actor)s gave %(member)s %(credits)s credit%(why)s.",
            "%(actor)s gave %(member)s %(credits)s credits%(why)s.",
            credits,
            locale,
        )
    return "💳 " + line % {
        "actor": markup.user(actor_id),
        "member": markup.user(member_id),
        "credits": number(credits, locale),
        "why": aside(reason, locale),
    }


def nsfw_audit(actor_id: int, policy: str, locale: Locale = None) -> str:
    return "⚙️ " + _("%(actor)s set the age-restricted channel policy to %(policy)s.", locale) % {
        "actor": markup.user(actor_id),
        "policy": command_name(policy, locale),
    }


def ban_audit(actor_id: int, member_id: int, reason: str | None, locale: Locale = None) -> str:
    return "⛔ " + _("%(actor)s stopped %(member)s from generating%(why)s.", locale) % {
        "actor": markup.user(actor_id),
        "member": markup.user(member_id),
        "why": aside(reason, locale),
    }


def unban_audit(actor_id: int, member_id: int, locale: Locale = None) -> str:
    return "✅ " + _("%(actor)s let %(member)s generate again.", locale) % {
        "actor": markup.user(actor_id),
        "member": markup.user(member_id),
    }


def audit_channel_audit(actor_id: int, locale: Locale = None) -> str:
    return "📋 " + _("%(actor)s set this channel as wanbot's audit log.", locale) % {
        "actor": markup.user(actor_id)
    }


def refusal_audit(
    requester: Requester,
    prompt: str,
    negative_prompt: str | None,
    refusal: Refused,
    locale: Locale = None,
) -> str:
    text = "🚫 " + _("%(who)s in %(where)s: %(why)s Refused, nothing charged.", locale) % {
        "who": markup.user(requester.user_id),
        "where": markup.channel(requester.channel_id),
        "why": reason_text(refusal, locale),
    }
    text += f"\n> {markup.safe(prompt)}"
    if negative_prompt:
        text += "\n> " + _("negative: %(text)s", locale) % {"text": markup.safe(negative_prompt)}
    return text


def job_audit(admitted: Admitted, placeholder_id: int | None, locale: Locale = None) -> str:
    job = admitted.job
    head = "🎨 " + ngettext(
        "%(who)s in %(where)s · /%(kind)s · %(provider)s · %(options)s · %(held)s credit held",
        "%(who)s in %(where)s · /%(kind)s · %(provider)s · %(options)s · %(held)s credits held",
        job.hold_amount,
        locale,
    ) % {
        "who": markup.user(job.user_id),
        "where": markup.channel(job.channel_id),
        "kind": command_name(job.kind, locale),
        "provider": admitted.provider_label,
        "options": options_line(job.request, locale),
        "held": number(job.hold_amount, locale),
    }
    if job.private:
        where = _("private result (only the member sees it)", locale)
    elif placeholder_id is None:
        where = _("no placeholder; the result goes to the channel", locale)
    else:
        where = markup.message_link(job.guild_id, job.channel_id, placeholder_id)
    lines = [head, f"> {markup.safe(job.request.prompt)}"]
    if job.request.negative_prompt:
        negative = markup.safe(job.request.negative_prompt)
        lines.append("> " + _("negative: %(text)s", locale) % {"text": negative})
    lines.append(where)
    return "\n".join(lines)
