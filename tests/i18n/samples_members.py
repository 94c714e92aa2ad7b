"""The members' messages: team wallets, /jobs, the prompt suffix and Remix, with realistic values
(see samples.py for the rest)."""

from __future__ import annotations

from dataclasses import replace
from functools import partial
from typing import Any

from cogs.render import jobs as render_jobs
from cogs.render import prompts, queue, refusals, wallets
from tests.i18n.samples import NOW, PROMPT, ROLE, USER, Sample, delivery, job
from wanbot.errors import Refusal, RefusalReason
from wanbot.jobs.listing import MemberJob
from wanbot.jobs.ports import Progress
from wanbot.preferences import Preferences
from wanbot.providers.models import GenerationRequest
from wanbot.store.base import JobPhase, Wallet, WalletFunds

WALLET = "Design team"
CAPTION: dict[str, Any] = {
    "part": 1,
    "parts": 1,
    "first": 1,
    "last": 2,
    "total": 2,
    "mention": False,
}
SUFFIX = "watercolour, soft light"

SUFFIX_DETAILS: dict[str, dict[str, Any]] = {
    "empty": {},
    "too_long": {"limit": 300, "length": 412},
    "too_long_total": {"limit": 5000, "length": 5210},
    "too_long_for_host": {"provider": "DashScope", "limit": 800, "length": 912},
}
WALLET_ADMIN_DETAILS: dict[str, dict[str, Any]] = {
    "name_taken": {"name": WALLET},
    "too_many": {"limit": 25},
    "no_wallet": {"name": WALLET},
    "bad_name": {"limit": 40},
}


def funds(period: str = "daily", balance: int = 46, held: int = 4) -> WalletFunds:
    wallet = Wallet("w" * 32, 1, WALLET, ROLE, 50, period, USER, created_at=NOW - 86_400)
    return WalletFunds(wallet, balance, held)


def _wallet_samples() -> list[Sample]:
    found: list[Sample] = []
    echo = (WALLET,)
    for period in ("daily", "weekly", "monthly", "never"):
        found.append(
            (
                f"wallets.refill_terms {period}",
                partial(wallets.refill_terms, funds(period), NOW),
                (),
            )
        )
    found += [
        ("wallets.credits one", lambda loc: wallets.credits(1, loc), ()),
        ("wallets.credits many", lambda loc: wallets.credits(1046, loc), ()),
        ("wallets.paid_by", lambda loc: wallets.paid_by(WALLET, loc), echo),
        (
            "wallets.member_wallets",
            lambda loc: wallets.member_wallets([funds(), funds("never", 3, 0)], NOW, loc),
            echo,
        ),
        (
            "wallets.wallet_list",
            lambda loc: wallets.wallet_list([funds(), funds("weekly")], NOW, loc),
            echo,
        ),
        ("wallets.wallet_list empty", lambda loc: wallets.wallet_list([], NOW, loc), ()),
        ("wallets.created", lambda loc: wallets.created(funds(held=0), NOW, loc), echo),
        ("wallets.granted", lambda loc: wallets.granted(funds(), 20, loc), echo),
        ("wallets.deleted one held", lambda loc: wallets.deleted(funds(held=1), loc), echo),
        ("wallets.deleted many held", lambda loc: wallets.deleted(funds(held=4), loc), echo),
        ("wallets.deleted nothing held", lambda loc: wallets.deleted(funds(held=0), loc), echo),
        ("wallets.audit_created", lambda loc: wallets.audit_created(USER, funds(), NOW, loc), echo),
        ("wallets.audit_granted", lambda loc: wallets.audit_granted(USER, funds(), 20, loc), echo),
        ("wallets.audit_deleted", lambda loc: wallets.audit_deleted(USER, funds(), loc), echo),
        (
            "wallets.wallet_short",
            lambda loc: wallets.wallet_short({"wallet": WALLET, "wallet_balance": 3}, loc),
            echo,
        ),
    ]
    for problem, details in WALLET_ADMIN_DETAILS.items():
        d = {"problem": problem, **details}
        found.append(
            (
                f"wallets.admin_refusal {problem}",
                partial(wallets.admin_refusal, d),
                echo,
            )
        )
        refusal = Refusal(RefusalReason.WALLET_ADMIN, d)
        found.append(
            (
                f"refusals.refusal wallet {problem}",
                partial(refusals.refusal, refusal),
                echo,
            )
        )
    short = Refusal(
        RefusalReason.INSUFFICIENT_CREDITS,
        {"balance": 1, "needed": 4, "per_image": 2, "wallet": WALLET, "wallet_balance": 3},
    )
    found.append(
        ("refusals.refusal short, wallet short too", lambda loc: refusals.refusal(short, loc), echo)
    )
    paid = replace(delivery(), wallet_name=WALLET)
    found.append(
        (
            "jobs.caption paid by a wallet",
            lambda loc: render_jobs.caption(job(), paid, **CAPTION, locale=loc),
            (PROMPT, WALLET),
        )
    )
    return found


def _entry(phase: JobPhase, progress: Progress | None, cancellable: bool = True) -> MemberJob:
    return MemberJob(job(placeholder_message_id=888), phase, progress, cancellable)


ENTRIES = {
    "queued 2nd": _entry(JobPhase.QUEUED, Progress("queued", "PixelDojo", queue_position=2)),
    "queued elsewhere": _entry(JobPhase.QUEUED, None, cancellable=False),
    "starting": _entry(JobPhase.SUBMITTING, None),
    "running with eta": _entry(
        JobPhase.RUNNING, Progress("running", "PixelDojo", elapsed_s=75, eta_s=40)
    ),
    "running no eta": _entry(JobPhase.RUNNING, Progress("running", "PixelDojo", elapsed_s=75)),
    "running elsewhere": _entry(JobPhase.RUNNING, None, cancellable=False),
    "delivering": _entry(JobPhase.DELIVERING, None, cancellable=False),
}


def _queue_samples() -> list[Sample]:
    found: list[Sample] = []
    for label, entry in ENTRIES.items():
        found.append((f"queue.state {label}", partial(queue.state, entry, NOW), ()))
        found.append(
            (
                f"queue.job_line {label}",
                partial(queue.job_line, 1, entry, "PixelDojo", NOW),
                (PROMPT,),
            )
        )
    some = list(ENTRIES.values())
    many = some * 2
    found += [
        ("queue.member_jobs none", lambda loc: queue.member_jobs([], [], NOW, loc), ()),
        (
            "queue.member_jobs one",
            lambda loc: queue.member_jobs(some[:1], ["PixelDojo"], NOW, loc),
            (PROMPT,),
        ),
        (
            "queue.member_jobs many",
            lambda loc: queue.member_jobs(many, ["PixelDojo"] * len(many), NOW, loc),
            (PROMPT,),
        ),
        ("queue.cancel_label", lambda loc: queue.cancel_label(3, loc), ()),
    ]
    return found


def _prompt_samples() -> list[Sample]:
    found: list[Sample] = []
    for problem, details in SUFFIX_DETAILS.items():
        d = {"problem": problem, **details}
        found.append(
            (
                f"prompts.suffix_refusal {problem}",
                partial(prompts.suffix_refusal, d),
                (),
            )
        )
        refusal = Refusal(RefusalReason.PROMPT_SUFFIX, d)
        found.append(
            (
                f"refusals.refusal suffix {problem}",
                partial(refusals.refusal, refusal),
                (),
            )
        )
    styled = GenerationRequest(prompt=f"{PROMPT}, {SUFFIX}", suffix=SUFFIX, seed=1234567)
    parent = job(id="1" * 32, message_ids=(555,))
    remix = job(
        request=GenerationRequest(prompt="a grey wolf in the snow"), parent_job_id=parent.id
    )
    found += [
        ("prompts.style_line", lambda loc: prompts.style_line(styled, loc) or "", (SUFFIX,)),
        (
            "prompts.suffix_setting",
            lambda loc: prompts.suffix_setting(Preferences(suffix=SUFFIX), loc) or "",
            (SUFFIX,),
        ),
        (
            "prompts.remix_of",
            lambda loc: prompts.remix_of("https://discord.com/channels/1/2/3", loc),
            (),
        ),
        ("prompts.remix_modal_title", prompts.remix_modal_title, ()),
        ("prompts.remix_prompt_label", prompts.remix_prompt_label, ()),
        ("prompts.remix_negative_label", prompts.remix_negative_label, ()),
        ("prompts.remix_choice", prompts.remix_choice, ()),
        (
            "jobs.caption with a style",
            lambda loc: render_jobs.caption(job(request=styled), delivery(), **CAPTION, locale=loc),
            (PROMPT, SUFFIX),
        ),
        ("jobs.origin remix", lambda loc: render_jobs.origin(remix, parent, loc) or "", ()),
    ]
    return found


def member_samples() -> list[Sample]:
    return [*_wallet_samples(), *_queue_samples(), *_prompt_samples()]
