"""Every kind of /set, /credits and /admin reply and every audit line, rendered with realistic
values (see samples.py for jobs and refusals)."""

from __future__ import annotations

from dataclasses import replace
from functools import partial

from cogs.render import account, admin, audit, operators
from tests.i18n.samples import (
    ADMIN,
    CHANNEL,
    GUILD,
    NEGATIVE,
    NOW,
    PROMPT,
    REASON,
    ROLE,
    USER,
    Sample,
    job,
    request,
)
from wanbot.admission import Admitted, Requester
from wanbot.credits import CreditSummary
from wanbot.errors import RefusalReason
from wanbot.member_data import Forgotten
from wanbot.moderation import Refused
from wanbot.preferences import Preferences
from wanbot.store.base import (
    Activity,
    BlockEntry,
    GuildSettings,
    GuildStats,
    MemberBan,
    MemberSpend,
    PeriodStats,
)


def _activity(kind: str, amount: int, **changes: object) -> Activity:
    base = Activity(
        kind=kind,
        amount=amount,
        job_kind=None,
        prompt=None,
        job_state=None,
        actor_id=None,
        reason=None,
        created_at=NOW,
    )
    return replace(base, **changes)  # type: ignore[arg-type]


ACTIVITIES = {
    "hold imagine": _activity("hold", -4, job_kind="imagine", prompt=PROMPT),
    "hold edit": _activity("hold", -2, job_kind="edit", prompt=PROMPT),
    "release failed": _activity("release", 4, job_state="failed"),
    "release cancelled": _activity("release", 2, job_state="cancelled"),
    "release not delivered": _activity("release", 2, job_state="done"),
    "release other": _activity("release", 2, job_state="running"),
    "refill": _activity("refill", 50),
    "grant by admin": _activity("grant", 1000, actor_id=ADMIN, reason=REASON),
    "grant by the bot": _activity("grant", 10),
    "revoke": _activity("revoke", -5, actor_id=ADMIN, reason=REASON),
}


def _summary(**changes: object) -> CreditSummary:
    base = CreditSummary(
        balance=1046,
        allowance=50,
        role_id=None,
        period="daily",
        refills_at=NOW + 3600,
        held=4,
        recent=tuple(ACTIVITIES.values())[:5],
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def _account() -> list[Sample]:
    found: list[Sample] = []
    preferences = {
        "defaults": Preferences(),
        "all set": Preferences("16:9", "4K", 3, NEGATIVE, True, True),
        "thinking off": Preferences(n=1, thinking=False, private=False),
    }
    for name, prefs in preferences.items():
        found.append(
            (
                f"account.preferences {name}",
                partial(account.preferences, prefs),
                (NEGATIVE,),
            )
        )
        for head in (None, "saved", "cleared"):
            found.append(
                (
                    f"account.defaults_reply {name} {head}",
                    partial(account.defaults_reply, prefs, head),
                    (NEGATIVE,),
                )
            )
    for period in ("daily", "weekly", "monthly", "never"):
        for name, entry in ACTIVITIES.items():
            found.append(
                (
                    f"account.activity {name} {period}",
                    partial(account.activity, entry, period),
                    (PROMPT[:19], REASON),
                )
            )
    summaries = {
        "daily": _summary(),
        "weekly from a role": _summary(period="weekly", role_id=ROLE, balance=1, held=1),
        "monthly": _summary(period="monthly", held=0),
        "never, nothing yet": _summary(period="never", refills_at=None, recent=(), held=0),
    }
    for name, summary in summaries.items():
        found.append(
            (
                f"account.credits_summary {name}",
                partial(account.credits_summary, summary),
                (PROMPT[:19], REASON),
            )
        )
    found.append(("account.aside", lambda loc: account.aside(REASON, loc), (REASON,)))
    return found


def _admin() -> list[Sample]:
    settings = GuildSettings(
        GUILD,
        allowed_channels=frozenset({1, 2}),
        denied_channels=frozenset({3}),
        blocklist=(BlockEntry(1, "fox", False), BlockEntry(2, r"\bcat\w*", True)),
    )
    only_denied = GuildSettings(GUILD, denied_channels=frozenset({3}))
    stats = GuildStats(
        today=PeriodStats(jobs=1, failed=0, credits=1),
        month=PeriodStats(jobs=12, failed=2, credits=48),
        top=(MemberSpend(USER, 1, 2), MemberSpend(ADMIN, 20, 1)),
    )
    quiet = GuildStats(PeriodStats(0, 0, 0), PeriodStats(0, 0, 0), ())
    ban = MemberBan(USER, REASON, ADMIN, NOW)
    bans = [ban, MemberBan(ADMIN, None, None, NOW)] * 16
    samples: dict[str, tuple[object, tuple[str, ...]]] = {
        "admin.granted": (lambda loc: admin.granted(USER, 1000, 1050, REASON, loc), (REASON,)),
        "admin.granted one, no reason": (lambda loc: admin.granted(USER, 1, 51, None, loc), ()),
        "admin.revoked": (lambda loc: admin.revoked(USER, 5, 5, 50, 45, REASON, loc), (REASON,)),
        "admin.revoked, had only 1": (lambda loc: admin.revoked(USER, 1, 5, 1, 0, None, loc), ()),
        "admin.member_balance": (
            lambda loc: admin.member_balance(USER, account.credits_summary(_summary(), loc), loc),
            (PROMPT[:19], REASON),
        ),
        "admin.credits_count": (lambda loc: admin.credits_count(3, loc), ()),
        "admin.channel_rules_cleared": (lambda loc: admin.channel_rules_cleared(2, loc), ()),
        "admin.channel_rules_cleared one": (lambda loc: admin.channel_rules_cleared(1, loc), ()),
        "admin.channel_rules": (lambda loc: admin.channel_rules(settings, loc), ()),
        "admin.channel_rules only denied": (lambda loc: admin.channel_rules(only_denied, loc), ()),
        "admin.channel_rules none": (
            lambda loc: admin.channel_rules(GuildSettings(GUILD), loc),
            (),
        ),
        "admin.blocklist": (
            lambda loc: admin.blocklist(settings.blocklist, loc),
            ("fox", r"\bcat\w*"),
        ),
        "admin.blocklist empty": (lambda loc: admin.blocklist((), loc), ()),
        "admin.blocklist_removed": (lambda loc: admin.blocklist_removed(True, loc), ()),
        "admin.blocklist_removed not there": (lambda loc: admin.blocklist_removed(False, loc), ()),
        "admin.blocklist_added word": (
            lambda loc: admin.blocklist_added("red fox", False, True, loc),
            ("red fox",),
        ),
        "admin.blocklist_added pattern": (
            lambda loc: admin.blocklist_added("fox+", True, True, loc),
            ("fox+",),
        ),
        "admin.blocklist_added already": (
            lambda loc: admin.blocklist_added("red fox", False, False, loc),
            ("red fox",),
        ),
        "admin.nsfw_policy filter": (lambda loc: admin.nsfw_policy("filter", loc), ()),
        "admin.nsfw_policy allow": (lambda loc: admin.nsfw_policy("allow", loc), ()),
        "admin.banned": (lambda loc: admin.banned(USER, True, loc), ()),
        "admin.banned already": (lambda loc: admin.banned(USER, False, loc), ()),
        "admin.unbanned": (lambda loc: admin.unbanned(USER, True, loc), ()),
        "admin.unbanned not banned": (lambda loc: admin.unbanned(USER, False, loc), ()),
        "admin.bans": (lambda loc: admin.bans(bans, loc), (REASON,)),
        "admin.bans one": (lambda loc: admin.bans([ban], loc), (REASON,)),
        "admin.bans none": (lambda loc: admin.bans([], loc), ()),
        "admin.audit_channel": (lambda loc: admin.audit_channel(CHANNEL, loc), ()),
        "admin.audit_channel none": (lambda loc: admin.audit_channel(None, loc), ()),
        "admin.audit_channel_cleared": (admin.audit_channel_cleared, ()),
        "admin.audit_channel_set": (lambda loc: admin.audit_channel_set(CHANNEL, loc), ()),
        "admin.period": (lambda loc: admin.period("month", stats.month, loc), ()),
        "admin.stats": (lambda loc: admin.stats(stats, loc), ()),
        "admin.stats quiet": (lambda loc: admin.stats(quiet, loc), ()),
    }
    return [(label, render, echoed) for label, (render, echoed) in samples.items()]  # type: ignore[misc]


def _audit() -> list[Sample]:
    requester = Requester(GUILD, CHANNEL, CHANNEL, False, USER)
    blocked = Refused(
        RefusalReason.PROMPT_BLOCKED,
        {"field": "prompt", "channel_id": CHANNEL, "category": "sexual", "matched": "nude"},
        audited=True,
    )
    banned = Refused(RefusalReason.BANNED, audited=True)
    edit = job(kind="edit", request=request(negative_prompt=NEGATIVE), private=True)
    admitted = Admitted(job(), 1046, "PixelDojo", CHANNEL)
    one = Admitted(job(request=request(), image_cost=1), 1, "Mock", CHANNEL)
    private = Admitted(edit, 1046, "PixelDojo", CHANNEL)
    return [
        (
            "audit.refusal_audit",
            lambda loc: audit.refusal_audit(requester, PROMPT, NEGATIVE, blocked, loc),
            (PROMPT, NEGATIVE, "nude"),
        ),
        (
            "audit.refusal_audit banned",
            lambda loc: audit.refusal_audit(requester, PROMPT, None, banned, loc),
            (PROMPT,),
        ),
        ("audit.job_audit", lambda loc: audit.job_audit(admitted, 999, loc), (PROMPT,)),
        (
            "audit.job_audit one credit, no placeholder",
            lambda loc: audit.job_audit(one, None, loc),
            (PROMPT,),
        ),
        (
            "audit.job_audit private edit",
            lambda loc: audit.job_audit(private, 999, loc),
            (PROMPT, NEGATIVE),
        ),
        (
            "audit.credit_audit",
            lambda loc: audit.credit_audit(ADMIN, USER, 1000, REASON, loc),
            (REASON,),
        ),
        ("audit.credit_audit one", lambda loc: audit.credit_audit(ADMIN, USER, 1, None, loc), ()),
        (
            "audit.credit_audit took",
            lambda loc: audit.credit_audit(ADMIN, USER, 5, REASON, loc, took=True),
            (REASON,),
        ),
        ("audit.nsfw_audit", lambda loc: audit.nsfw_audit(ADMIN, "allow", loc), ()),
        ("audit.ban_audit", lambda loc: audit.ban_audit(ADMIN, USER, REASON, loc), (REASON,)),
        ("audit.unban_audit", lambda loc: audit.unban_audit(ADMIN, USER, loc), ()),
        ("audit.audit_channel_audit", lambda loc: audit.audit_channel_audit(ADMIN, loc), ()),
    ]


def account_samples() -> list[Sample]:
    """/set, /credits, /admin and the audit channel."""
    return [*_account(), *_admin(), *_audit(), *_operators()]


def _operators() -> list[Sample]:
    """Host balances and /admin forget."""
    everything = Forgotten(cancelled=2, jobs=14, preferences=1, inputs_deleted=3, still_active=1)
    one = Forgotten(cancelled=1, jobs=1, preferences=0, inputs_deleted=1, still_active=0)
    nothing = Forgotten(cancelled=0, jobs=0, preferences=0, inputs_deleted=0, still_active=0)
    balances = {"PixelDojo": (14.5, NOW - 90), "skills.video": None}
    found: list[Sample] = [
        ("operators.amount", lambda loc: operators.amount(12.5), ()),
        (
            "operators.low_balance one",
            partial(operators.low_balance, "PixelDojo", 1, 10),
            ("PixelDojo",),
        ),
        (
            "operators.low_balance many",
            partial(operators.low_balance, "PixelDojo", 8.5, 10),
            ("PixelDojo",),
        ),
        (
            "operators.host_balances",
            lambda loc: operators.host_balances(balances, loc) or "",
            ("PixelDojo", "skills.video"),
        ),
    ]
    for label, done in (("all", everything), ("one", one), ("nothing", nothing)):
        found.append((f"operators.forgotten {label}", partial(operators.forgotten, USER, done), ()))
        found.append(
            (
                f"operators.forget_audit {label}",
                partial(operators.forget_audit, ADMIN, USER, done),
                (),
            )
        )
    return found
