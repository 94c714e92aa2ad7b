"""Every number a member or moderator reads is written as their language writes it ("12,345",
never "12345"): counts, credits, limits and balances. Seeds stay plain digits (a member copies
one back into /imagine), as do a W×H size, ids, Discord markup and colours."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import replace

import pytest

from cogs.render import account, admin, audit, jobs, operators, prompts, queue, refusals, wallets
from cogs.render.i18n import Locale
from tests.i18n.samples import ADMIN, CHANNEL, NOW, PROMPT, USER, delivery, job, request
from tests.i18n.samples_account import ACTIVITIES, _summary
from tests.i18n.samples_members import ENTRIES, WALLET, funds
from tests.i18n.test_every_message import SAMPLES
from wanbot.admission import Admitted, Requester
from wanbot.errors import Refusal, RefusalReason
from wanbot.jobs.ports import FailureReason, JobOutcome, Progress
from wanbot.member_data import Forgotten
from wanbot.moderation import Refused
from wanbot.store.base import GuildStats, MemberBan, MemberSpend, PeriodStats

R = RefusalReason
BIG, HUGE = 12345, 1_000_000
LOCALES = ("en-US", "zh-CN")
SEED = 1234567  # the samples' seed
# What keeps its digits: Discord markup and links, colours, W×H sizes, seeds.
PLAIN = re.compile(
    r"<[^>]*>|https://\S+|#[0-9A-Fa-f]{6}|\d+×\d+|"
    rf"\b(?:{SEED}|2147483647)\b"
)
UNGROUPED = re.compile(r"\d{4,}")


def ungrouped(text: str) -> list[str]:
    return UNGROUPED.findall(PLAIN.sub("", text))


def refusal(reason: RefusalReason, **details: object) -> Callable[[Locale], str]:
    return lambda loc: refusals.refusal(Refusal(reason, details), loc)


MANY_JOBS, MANY_HOSTS = [ENTRIES["queued 2nd"]] * BIG, ["PixelDojo"] * BIG
FAR_IN_LINE = replace(
    ENTRIES["queued 2nd"], progress=Progress("queued", "PixelDojo", queue_position=BIG)
)
RICH = funds("weekly", balance=HUGE, held=BIG)
RICH = replace(RICH, wallet=replace(RICH.wallet, allowance=BIG))
BIG_JOB = job(image_cost=BIG, request=request(n=1))
MANY_DONE = Forgotten(cancelled=BIG, jobs=BIG, preferences=1, inputs_deleted=BIG, still_active=BIG)
STATS = GuildStats(
    today=PeriodStats(jobs=BIG, failed=BIG, credits=HUGE),
    month=PeriodStats(jobs=BIG, failed=BIG, credits=HUGE),
    top=(MemberSpend(USER, BIG, HUGE),),
)
SHORT = Refusal(
    R.INSUFFICIENT_CREDITS,
    {"balance": BIG, "needed": HUGE, "per_image": BIG, "wallet": WALLET, "wallet_balance": BIG},
)

# (label, render, the numbers it shows): each must appear grouped, none ungrouped.
CASES: list[tuple[str, Callable[[Locale], str], tuple[int, ...]]] = [
    # team wallets
    ("wallets.credits", lambda loc: wallets.credits(BIG, loc), (BIG,)),
    ("wallets.refill_terms", lambda loc: wallets.refill_terms(RICH, NOW, loc), (BIG,)),
    (
        "wallets.refill_terms never",
        lambda loc: wallets.refill_terms(
            replace(RICH, wallet=replace(RICH.wallet, period="x")), 0, loc
        ),
        (BIG,),
    ),
    ("wallets.member_wallets", lambda loc: wallets.member_wallets([RICH], NOW, loc), (BIG, HUGE)),
    ("wallets.wallet_list", lambda loc: wallets.wallet_list([RICH], NOW, loc), (BIG, HUGE)),
    ("wallets.created", lambda loc: wallets.created(RICH, NOW, loc), (BIG, HUGE)),
    ("wallets.granted", lambda loc: wallets.granted(RICH, BIG, loc), (BIG, HUGE)),
    ("wallets.deleted", lambda loc: wallets.deleted(RICH, loc), (BIG,)),
    ("wallets.audit_created", lambda loc: wallets.audit_created(ADMIN, RICH, NOW, loc), (BIG,)),
    ("wallets.audit_granted", lambda loc: wallets.audit_granted(ADMIN, RICH, BIG, loc), (BIG,)),
    (
        "wallets.admin_refusal",
        lambda loc: wallets.admin_refusal({"problem": "too_many", "limit": BIG}, loc),
        (BIG,),
    ),
    (
        "wallets.wallet_short",
        lambda loc: wallets.wallet_short({"wallet": WALLET, "wallet_balance": BIG}, loc),
        (BIG,),
    ),
    # /admin
    ("admin.granted", lambda loc: admin.granted(USER, BIG, HUGE, None, loc), (BIG, HUGE)),
    ("admin.revoked", lambda loc: admin.revoked(USER, BIG, HUGE, BIG, 0, None, loc), (BIG,)),
    ("admin.credits_count", lambda loc: admin.credits_count(BIG, loc), (BIG,)),
    ("admin.channel_rules_cleared", lambda loc: admin.channel_rules_cleared(BIG, loc), (BIG,)),
    (
        "admin.bans",
        lambda loc: admin.bans([MemberBan(USER, None, None, NOW)] * (BIG + admin.BANS_SHOWN), loc),
        (BIG,),
    ),
    ("admin.period", lambda loc: admin.period("today", STATS.today, loc), (BIG, HUGE)),
    ("admin.stats", lambda loc: admin.stats(STATS, loc), (BIG, HUGE)),
    # /jobs
    ("queue.state", lambda loc: queue.state(FAR_IN_LINE, NOW, loc), (BIG,)),
    ("queue.job_line", lambda loc: queue.job_line(BIG, FAR_IN_LINE, "PixelDojo", NOW, loc), (BIG,)),
    ("queue.member_jobs", lambda loc: queue.member_jobs(MANY_JOBS, MANY_HOSTS, NOW, loc), (BIG,)),
    ("queue.cancel_label", lambda loc: queue.cancel_label(BIG, loc), (BIG,)),
    # hosts and /admin forget
    ("operators.amount", lambda loc: operators.amount(BIG, loc), (BIG,)),
    ("operators.low_balance", lambda loc: operators.low_balance("X", BIG, HUGE, loc), (BIG, HUGE)),
    (
        "operators.host_balances",
        lambda loc: operators.host_balances({"X": (BIG, NOW)}, loc) or "",
        (BIG,),
    ),
    ("operators.forgotten", lambda loc: operators.forgotten(USER, MANY_DONE, loc), (BIG,)),
    (
        "operators.forget_audit",
        lambda loc: operators.forget_audit(ADMIN, USER, MANY_DONE, loc),
        (BIG,),
    ),
    # jobs
    (
        "jobs.placeholder",
        lambda loc: jobs.placeholder(
            request(), Progress("queued", "PixelDojo", queue_position=BIG), NOW, loc
        ),
        (BIG,),
    ),
    (
        "jobs.placeholder estimate",
        lambda loc: jobs.placeholder(
            request(),
            Progress("running", "PixelDojo", elapsed_s=1, eta_s=1, eta_basis=BIG),
            NOW,
            loc,
        ),
        (BIG,),
    ),
    (
        "jobs.caption",
        lambda loc: jobs.caption(
            job(),
            replace(delivery(), charged=BIG, balance_after=HUGE),
            part=1,
            parts=1,
            first=1,
            last=2,
            total=2,
            mention=False,
            locale=loc,
        ),
        (BIG, HUGE),
    ),
    ("jobs.megabytes", lambda loc: jobs.megabytes(BIG * 1_000_000, loc), (BIG,)),
    ("jobs.refund", lambda loc: jobs.refund(BIG, loc), (BIG,)),
    (
        "jobs.failure",
        lambda loc: jobs.failure(JobOutcome(FailureReason.DEADLINE, "X", BIG), loc),
        (BIG,),
    ),
    # /credits
    (
        "account.activity grant",
        lambda loc: account.activity(replace(ACTIVITIES["grant by admin"], amount=BIG), "x", loc),
        (BIG,),
    ),
    (
        "account.credits_summary",
        lambda loc: account.credits_summary(_summary(balance=HUGE, allowance=BIG, held=BIG), loc),
        (BIG, HUGE),
    ),
    # refusals
    ("refusals.refusal short", lambda loc: refusals.refusal(SHORT, loc), (BIG, HUGE)),
    ("refusals.refusal queue full", refusal(R.QUEUE_FULL, limit=BIG), (BIG,)),
    ("refusals.refusal too many", refusal(R.TOO_MANY_IMAGES, limit=BIG, count=HUGE), (BIG, HUGE)),
    (
        "refusals.refusal too long",
        refusal(R.BAD_OPTION, problem="too_long", field="prompt", length=HUGE, limit=BIG),
        (BIG, HUGE),
    ),
    (
        "refusals.refusal default negative",
        refusal(R.BAD_OPTION, problem="default_negative_too_long", limit=BIG),
        (BIG,),
    ),
    (
        "refusals.refusal palette total",
        refusal(R.BAD_OPTION, problem="palette_total", total=float(BIG)),
        (BIG,),
    ),
    (
        "refusals.refusal blocklist full",
        refusal(R.ADMIN_INPUT, problem="blocklist_full", limit=BIG),
        (BIG,),
    ),
    (
        "refusals.refusal pattern length",
        refusal(R.BAD_BLOCKLIST_ENTRY, problem="pattern_length", limit=BIG),
        (BIG,),
    ),
    (
        "refusals.refusal input too large",
        refusal(R.BAD_INPUT_IMAGE, name="a.png", problem="too_large", size_mb=HUGE, mb=BIG),
        (BIG, HUGE),
    ),
    (
        "refusals.refusal suffix",
        refusal(R.PROMPT_SUFFIX, problem="too_long_total", limit=BIG, length=HUGE),
        (BIG, HUGE),
    ),
    (
        "refusals.issue_text prompt_max",
        lambda loc: refusals.issue_text(
            "prompt_max", {"name": "X", "max": BIG, "length": HUGE}, loc
        ),
        (BIG, HUGE),
    ),
    (
        "refusals.issue_text input_large",
        lambda loc: refusals.issue_text(
            "input_large", {"name": "X", "width": 20000, "height": 9000, "max": BIG}, loc
        ),
        (BIG,),
    ),
    (
        "prompts.suffix_refusal",
        lambda loc: prompts.suffix_refusal(
            {"problem": "too_long", "limit": BIG, "length": HUGE}, loc
        ),
        (BIG, HUGE),
    ),
    # the audit channel
    ("audit.credit_audit", lambda loc: audit.credit_audit(ADMIN, USER, BIG, None, loc), (BIG,)),
    (
        "audit.job_audit",
        lambda loc: audit.job_audit(Admitted(BIG_JOB, HUGE, "X", CHANNEL), None, loc),
        (BIG,),
    ),
    (
        "audit.refusal_audit",
        lambda loc: audit.refusal_audit(
            Requester(1, CHANNEL, CHANNEL, False, USER),
            PROMPT,
            None,
            Refused(R.QUEUE_FULL, {"limit": BIG}, audited=True),
            loc,
        ),
        (BIG,),
    ),
]


@pytest.mark.parametrize("locale", LOCALES)
@pytest.mark.parametrize(("label", "render", "shown"), CASES, ids=[c[0] for c in CASES])
def test_large_numbers_are_grouped(
    label: str, render: Callable[[Locale], str], shown: tuple[int, ...], locale: str
) -> None:
    text = render(locale)
    for value in shown:
        assert f"{value:,}" in text, (label, text)
    assert ungrouped(text) == [], (label, text)


@pytest.mark.parametrize("locale", LOCALES)
@pytest.mark.parametrize(("label", "render", "echoed"), SAMPLES, ids=[s[0] for s in SAMPLES])
def test_no_sample_shows_an_ungrouped_number(
    label: str, render: Callable[[Locale], str], echoed: tuple[str, ...], locale: str
) -> None:
    text = render(locale)
    for own in echoed:  # the member's own words are theirs
        text = text.replace(own, "")
    assert ungrouped(text) == [], (label, text)


@pytest.mark.parametrize("locale", LOCALES)
def test_a_seed_stays_as_the_member_types_it(locale: str) -> None:
    seeded = job(request=request(seed=123456789))
    text = jobs.caption(
        seeded, delivery(), part=1, parts=1, first=1, last=2, total=2, mention=False, locale=locale
    )
    assert "123456789" in text and "123,456,789" not in text
    bound = refusals.refusal(
        Refusal(R.BAD_OPTION, {"problem": "seed_range", "max": 2147483647}), locale
    )
    assert "2147483647" in bound and "2,147,483,647" not in bound


@pytest.mark.parametrize("locale", LOCALES)
def test_a_size_keeps_its_digits_and_a_host_balance_its_cents(locale: str) -> None:
    large = refusals.issue_text(
        "input_large", {"name": "X", "width": 20000, "height": 9000, "max": 8192}, locale
    )
    assert "20000×9000" in large and "8,192" in large
    pixels = refusals.refusal(
        Refusal(
            R.BAD_INPUT_IMAGE,
            {"name": "a.png", "problem": "too_many_pixels", "width": 20000, "height": 9000},
        ),
        locale,
    )
    assert "20000×9000" in pixels and "20,000" not in pixels
    assert operators.amount(12000.5, locale) == "12,000.50"
    assert operators.amount(8, locale) == "8"
