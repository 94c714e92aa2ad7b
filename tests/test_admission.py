"""Admission without Discord: every reason it refuses for (nothing written when it does), the
host it chooses, the price, the cooldown and the hold. A real SQLite file; the mock host and a
scripted one that can do less."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from tests.jobs.kit import CHANNEL, GUILD, USER, Kit, ScriptedHost, SwitchedHost, open_kit
from wanbot.admission import Requester
from wanbot.config import CreditsConfig
from wanbot.errors import InsufficientCredits, QueueFull, Refusal, RefusalReason, SpendCapReached
from wanbot.moderation import Refused
from wanbot.store.base import JobPhase


class Clock:
    def __init__(self, now: float = 1_750_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


async def refused(kit: Kit, **options: Any) -> Refusal:
    with pytest.raises(Refusal) as caught:
        await kit.admit(**options)
    return caught.value


async def nothing_written(kit: Kit, user_id: int = USER) -> None:
    """No job and no ledger entry (not even a refill) for the member."""
    jobs = await kit.store.jobs_in(list(JobPhase))
    assert [job for job in jobs if job.user_id == user_id] == []
    assert [r.kind for r in await kit.store.ledger(GUILD, user_id)] == []


# -- the screen ------------------------------------------------------------------------------


async def test_a_banned_member_is_refused_and_audited(tmp_path: Path) -> None:
    async with open_kit(tmp_path, start=False) as kit:
        await kit.store.ban_member(GUILD, USER, actor_id=1, reason="spam")
        await kit.store.set_audit_channel(GUILD, 77)
        refusal = await refused(kit)
        assert refusal.reason is RefusalReason.BANNED
        assert isinstance(refusal, Refused) and refusal.audited
        assert [r.reason for r in kit.audit.refusals] == [RefusalReason.BANNED]
        await nothing_written(kit)


async def test_a_denied_channel_is_refused_with_where_else(tmp_path: Path) -> None:
    async with open_kit(tmp_path, start=False) as kit:
        await kit.store.set_channel_rule(GUILD, 5, "allow", actor_id=1)
        refusal = await refused(kit)
        assert refusal.reason is RefusalReason.CHANNEL_DENIED
        assert refusal.details == {"channel_id": CHANNEL, "usable": [5]}
        assert kit.audit.refusals == []  # not worth a moderator's attention
        await nothing_written(kit)


@pytest.mark.parametrize(
    ("prompt", "category"),
    [("a volcano at dawn", "server"), ("p\u200born", "sexual"), ("a loli", "minors")],
)
async def test_a_blocked_prompt_is_refused_audited_not_charged(
    tmp_path: Path, prompt: str, category: str
) -> None:
    async with open_kit(tmp_path, start=False) as kit:
        await kit.store.add_blocked(GUILD, "volcano", False, actor_id=1)
        await kit.store.set_audit_channel(GUILD, 77)
        refusal = await refused(kit, prompt=prompt)
        assert refusal.reason is RefusalReason.PROMPT_BLOCKED
        assert refusal.details["category"] == category and refusal.details["field"] == "prompt"
        assert len(kit.audit.refusals) == 1
        await nothing_written(kit)


async def test_precheck_screens_and_checks_the_cooldown_without_writing(tmp_path: Path) -> None:
    clock = Clock()
    async with open_kit(tmp_path, start=False, cooldown_s=30, clock=clock) as kit:
        requester = Requester(GUILD, CHANNEL, CHANNEL, False, USER)
        cleared = await kit.admission.precheck(requester, "a red fox")
        assert cleared.review.filtered and cleared.settings.guild_id == GUILD
        await nothing_written(kit)
        await kit.admit()
        clock.now += 10
        with pytest.raises(Refusal) as caught:
            await kit.admission.precheck(requester, "a red fox")
        assert caught.value.reason is RefusalReason.COOLDOWN
        assert caught.value.details == {"ready_at": int(clock.now + 20)}


# -- the host and its price ------------------------------------------------------------------


async def test_the_host_is_found_by_key_or_label_in_any_case(tmp_path: Path) -> None:
    async with open_kit(tmp_path, start=False, hosts=(ScriptedHost(),)) as kit:
        for name in ("Scripted", " scripted ", "SCRIPTED"):
            assert kit.admission.provider_key(name) == "scripted"
        assert kit.admission.provider_key("") is None
        admitted = await kit.admit(provider=" Scripted ")
        assert admitted.job.provider == "scripted" and admitted.provider_label == "Scripted"
        assert (await kit.admit()).job.provider == "mock"  # the default
        assert [key for _, key in kit.admission.provider_choices("scr")] == ["scripted"]


async def test_a_host_not_enabled_is_refused_naming_those_that_are(tmp_path: Path) -> None:
    async with open_kit(tmp_path, start=False) as kit:
        refusal = await refused(kit, provider="pixeldojo")
        assert refusal.reason is RefusalReason.PROVIDER_NOT_ENABLED
        assert refusal.details == {"name": "pixeldojo", "enabled": ["Mock"]}
        await nothing_written(kit)


async def test_an_option_the_host_cannot_honour_is_refused_with_one_that_can(
    tmp_path: Path,
) -> None:
    # The scripted host has no negative prompt; the mock has, but is never suggested.
    switched = SwitchedHost()
    async with open_kit(tmp_path, start=False, hosts=(ScriptedHost(), switched)) as kit:
        refusal = await refused(kit, provider="scripted", negative_prompt="blur")
        assert refusal.reason is RefusalReason.UNSUPPORTED_OPTION
        assert refusal.details["provider"] == "scripted" and refusal.details["asked_for"]
        assert "negative prompt" in str(refusal.details["problem"])
        assert refusal.details["other"] is None
        await nothing_written(kit)


async def test_the_price_is_the_hosts_and_the_hold_is_n_times_it(tmp_path: Path) -> None:
    async with open_kit(
        tmp_path, start=False, hosts=(ScriptedHost(),), prices={"scripted": 3, "mock": 0}
    ) as kit:
        paid = await kit.admit(provider="scripted", n=4)
        assert (paid.job.image_cost, paid.job.hold_amount, paid.balance) == (3, 12, 38)
        free = await kit.admit(n=2)
        assert (free.job.image_cost, free.job.hold_amount, free.balance) == (0, 0, 38)
        assert await kit.ledger(paid.job.id) == {"hold": (-12, 12)}
        job = await kit.store.get_job(paid.job.id)
        assert job is not None and job.state is JobPhase.QUEUED and job.hold_amount == 12


async def test_the_safety_switch_is_set_for_the_host_chosen(tmp_path: Path) -> None:
    async with open_kit(tmp_path, start=False, hosts=(ScriptedHost(), SwitchedHost())) as kit:
        on = await kit.admit(provider="switched")
        assert on.job.request.filtered and on.job.request.safety_checker is True
        off = await kit.admit(provider="scripted")
        assert off.job.request.filtered and off.job.request.safety_checker is None
        await kit.store.set_nsfw_policy(GUILD, "allow")
        free = await kit.admit(provider="switched", nsfw=True, prompt="a figure study")
        assert not free.job.request.filtered and free.job.request.safety_checker is None


async def test_a_reroll_does_not_carry_the_old_jobs_safety_decision(tmp_path: Path) -> None:
    async with open_kit(tmp_path, start=False, hosts=(ScriptedHost(),)) as kit:
        # A request as stored for a host with the switch, rerolled on one without it.
        rerolled = await kit.admit(provider="scripted", safety_checker=True, filtered=True)
        assert rerolled.job.request.safety_checker is None


# -- money and pace ----------------------------------------------------------------------------


async def test_not_enough_credits_says_when_the_allowance_refills(tmp_path: Path) -> None:
    clock = Clock()
    async with open_kit(tmp_path, start=False, clock=clock, max_queued_per_user=10) as kit:
        await kit.admit(n=4)  # 8 of 50
        with pytest.raises(InsufficientCredits) as caught:
            for _ in range(6):
                await kit.admit(n=4)
        error = caught.value
        assert error.reason is RefusalReason.INSUFFICIENT_CREDITS
        assert (error.balance, error.needed, error.per_image) == (2, 8, 2)
        assert error.details["refills_at"] == kit.admission.credits.next_refill(clock.now)
        assert await kit.balance() == 2


async def test_a_role_allowance_is_the_best_of_the_members_roles(tmp_path: Path) -> None:
    credits = CreditsConfig(allowance=10, image_cost=2, role_allowances={"7": 100, "8": 40})
    async with open_kit(tmp_path, start=False, credits=credits) as kit:
        rich = await kit.admit(user_id=11, roles=(8, 7), n=1)
        assert rich.balance == 98
        plain = await kit.admit(user_id=12, n=1)
        assert plain.balance == 8


async def test_the_queue_limit_and_spend_caps_refuse_without_writing(tmp_path: Path) -> None:
    async with open_kit(tmp_path, start=False, max_queued_per_user=2) as kit:
        await kit.admit()
        await kit.admit()
        with pytest.raises(QueueFull) as full:
            await kit.admit()
        assert full.value.details == {"limit": 2}
        assert len(await kit.store.jobs_in(list(JobPhase))) == 2

    capped = CreditsConfig(allowance=50, image_cost=2, daily_cap_per_guild=6)
    async with open_kit(tmp_path / "capped", start=False, credits=capped) as kit:
        await kit.admit(user_id=21, n=2)
        with pytest.raises(SpendCapReached) as cap:
            await kit.admit(user_id=22, n=2)
        assert cap.value.details == {"scope": "guild"}
        await nothing_written(kit, user_id=22)


async def test_the_cooldown_runs_from_the_last_admission(tmp_path: Path) -> None:
    clock = Clock()
    async with open_kit(tmp_path, start=False, cooldown_s=30, clock=clock) as kit:
        await kit.admit()
        clock.now += 29
        refusal = await refused(kit)
        assert refusal.reason is RefusalReason.COOLDOWN
        clock.now += 1
        await kit.admit()
        assert await kit.admit(user_id=99)  # another member is not held up


async def test_one_members_admissions_cannot_slip_past_the_cooldown_together(
    tmp_path: Path,
) -> None:
    async with open_kit(tmp_path, start=False, cooldown_s=60) as kit:
        results = await asyncio.gather(*(kit.admit() for _ in range(5)), return_exceptions=True)
        admitted = [r for r in results if not isinstance(r, BaseException)]
        refusals = [r for r in results if isinstance(r, Refusal)]
        assert len(admitted) == 1 and len(refusals) == 4
        assert {r.reason for r in refusals} == {RefusalReason.COOLDOWN}
        assert len(await kit.store.jobs_in(list(JobPhase))) == 1


async def test_saved_defaults_are_fitted_to_the_host_that_will_run_the_job(tmp_path: Path) -> None:
    async with open_kit(tmp_path, start=False, hosts=(ScriptedHost(),)) as kit:
        await kit.store.save_preferences(
            GUILD, USER, {"negative_prompt": "blur", "n": 3, "size": "4K"}
        )
        mock = await kit.admission.defaults(GUILD, USER, None, edit=False)
        assert (mock.negative_prompt, mock.n, mock.size) == ("blur", 3, "4K")
        scripted = await kit.admission.defaults(GUILD, USER, "Scripted", edit=False)
        assert scripted.negative_prompt is None and scripted.n == 3
        edit = await kit.admission.defaults(GUILD, USER, None, edit=True)
        assert edit.size is None  # 4K is for new images only


async def test_who_keeps_results_private_is_known_from_the_start_and_follows_reads(
    tmp_path: Path,
) -> None:
    async with open_kit(tmp_path, start=False) as kit:
        admission = kit.admission
        await kit.store.save_preferences(GUILD, USER, {"private": True})
        assert admission.private_hint(GUILD, USER) is None  # nothing known yet
        await admission.learn_private_defaults()
        assert admission.private_hint(GUILD, USER) is True
        assert admission.private_hint(GUILD, USER + 1) is False
        # Changed behind its back (another process): known again at the next read.
        await kit.store.save_preferences(GUILD, USER, {})
        await kit.store.save_preferences(GUILD, USER + 1, {"private": True})
        assert admission.private_hint(GUILD, USER + 1) is False
        await admission.defaults(GUILD, USER, None, edit=False)
        await admission.defaults(GUILD, USER + 1, None, edit=False)
        assert admission.private_hint(GUILD, USER) is False
        assert admission.private_hint(GUILD, USER + 1) is True
        admission.remember_private(GUILD, USER + 1, False)  # /set in this process
        assert admission.private_hint(GUILD, USER + 1) is False
