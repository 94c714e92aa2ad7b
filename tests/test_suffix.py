"""A member's prompt suffix: saved with the defaults, put on the prompt, and taken off again."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from tests.store.helpers import Clock, make_job
from wanbot.errors import Refusal, RefusalReason
from wanbot.options import MAX_PROMPT, MAX_SUFFIX, build_request, suffixed
from wanbot.preferences import Preferences
from wanbot.providers.capabilities import Capabilities
from wanbot.providers.models import GenerationRequest
from wanbot.store import Budget, SpendCaps, SQLiteStore


def test_saved_cleaned_and_cleared_with_none() -> None:
    prefs = Preferences().updated(suffix="  watercolor,\n  soft   light ")
    assert prefs.suffix == "watercolor, soft light"
    assert Preferences.from_stored(prefs.to_stored()) == prefs
    assert prefs.updated(suffix="None").suffix is None
    assert prefs.updated(suffix="-").to_stored() == {}
    assert prefs.updated(n=2).suffix == "watercolor, soft light"


@pytest.mark.parametrize(("text", "problem"), [("\x01 \u200b", "empty"), ("x" * 301, "too_long")])
def test_a_bad_suffix_is_refused(text: str, problem: str) -> None:
    with pytest.raises(Refusal) as refused:
        Preferences().updated(suffix=text)
    assert refused.value.reason is RefusalReason.PROMPT_SUFFIX
    assert refused.value.details["problem"] == problem


def test_stored_suffix_that_no_longer_fits_is_skipped() -> None:
    assert Preferences.from_stored({"suffix": "x" * (MAX_SUFFIX + 1)}).suffix is None
    assert Preferences.from_stored({"suffix": 5}).suffix is None


def test_a_provider_fit_keeps_the_suffix() -> None:
    prefs = Preferences(suffix="watercolor")
    assert prefs.fitted(Capabilities(label="X", prompt_max=10)).suffix == "watercolor"


def test_the_request_carries_the_whole_prompt_and_gives_the_typed_one_back() -> None:
    request = build_request(prompt="  a red fox ", suffix="watercolor")
    assert request.prompt == "a red fox, watercolor" == suffixed("a red fox", "watercolor")
    assert (request.suffix, request.typed_prompt) == ("watercolor", "a red fox")
    stored = GenerationRequest.model_validate_json(request.model_dump_json())
    assert stored.typed_prompt == "a red fox"
    plain = build_request(prompt="a red fox")
    assert (plain.suffix, plain.typed_prompt) == (None, "a red fox")
    # A stored request from before suffixes existed reads as having none.
    old = GenerationRequest.model_validate({"prompt": "a cat"})
    assert (old.suffix, old.typed_prompt) == (None, "a cat")


def test_the_suffix_counts_toward_the_longest_prompt() -> None:
    build_request(prompt="x" * (MAX_PROMPT - 12), suffix="watercolor")  # exactly the most
    with pytest.raises(Refusal) as refused:
        build_request(prompt="x" * (MAX_PROMPT - 11), suffix="watercolor")
    assert refused.value.reason is RefusalReason.PROMPT_SUFFIX
    assert refused.value.details == {
        "problem": "too_long_total",
        "length": MAX_PROMPT + 1,
        "limit": MAX_PROMPT,
    }


async def test_forgetting_a_member_removes_their_suffix_from_their_jobs(tmp_path: Path) -> None:
    store = await SQLiteStore.open(tmp_path / "wanbot.db", clock=Clock())
    try:
        job = make_job("j1")
        job = dataclasses.replace(job, request=build_request(prompt="a", suffix="mine"))
        await store.admit_job(job, Budget(10, "p"), SpendCaps(day_start=0.0), 5)
        await store.settle_failed("j1", "cancelled", cancelled=True)
        await store.forget_member(job.guild_id, job.user_id)
        forgotten = await store.get_job("j1")
        assert forgotten is not None
        assert (forgotten.request.suffix, forgotten.request.negative_prompt) == (None, None)
        assert "mine" not in forgotten.request.model_dump_json()
    finally:
        await store.close()
