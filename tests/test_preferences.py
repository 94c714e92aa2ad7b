"""Saved defaults: validation, storage form, fitting a provider, the /set line."""

from __future__ import annotations

import pytest

from cogs.render.account import preferences as preferences_line
from wanbot.errors import Refusal
from wanbot.preferences import Preferences, pick
from wanbot.providers.capabilities import Capabilities

EVERYTHING = Capabilities(label="All", negative_prompt=True, safety_checker=True)
PLAIN = Capabilities(
    label="Plain",
    aspect_ratios=("1:1", "16:9"),
    text_sizes=("1K", "2K"),
    thinking=False,
    max_n=2,
)


def test_pick_prefers_what_was_typed() -> None:
    assert pick(None, 3) == 3
    assert pick(1, 3) == 1
    assert pick(False, True) is False


def test_updated_validates_and_round_trips() -> None:
    prefs = Preferences().updated(aspect_ratio="16:9", size="2k", n=2, negative_prompt=" text ")
    assert prefs.to_stored() == {
        "aspect_ratio": "16:9",
        "size": "2K",
        "n": 2,
        "negative_prompt": "text",
    }
    assert Preferences.from_stored(prefs.to_stored()) == prefs
    assert prefs.updated(negative_prompt="none").negative_prompt is None
    assert prefs.updated(thinking=False).thinking is False
    for bad in ({"aspect_ratio": "2:1"}, {"size": "8K"}, {"n": 5}, {"negative_prompt": "x" * 501}):
        with pytest.raises(Refusal):
            prefs.updated(**bad)


def test_stored_values_no_longer_valid_are_ignored() -> None:
    stored = {"aspect_ratio": "7:3", "size": "2K", "n": True, "thinking": "yes", "extra": 1}
    assert Preferences.from_stored(stored) == Preferences(size="2K")


def test_fitted_drops_what_the_provider_cannot_use() -> None:
    prefs = Preferences(
        aspect_ratio="4:5", size="4K", n=4, negative_prompt="blur", thinking=True, private=True
    )
    assert prefs.fitted(EVERYTHING) == prefs
    assert prefs.fitted(PLAIN) == Preferences(n=2, private=True)
    edit = prefs.fitted(EVERYTHING, edit=True)
    assert (edit.aspect_ratio, edit.size, edit.negative_prompt) == (None, None, "blur")


def test_describe() -> None:
    assert preferences_line(Preferences()) == (
        "1:1 · 2K · 1 image · thinking as the host decides · public results"
    )
    prefs = Preferences(
        aspect_ratio="16:9", size="2K", n=2, thinking=False, negative_prompt="blurry, text"
    )
    assert preferences_line(prefs) == (
        '16:9 · 2K · 2 images · thinking off · negative: "blurry, text" · public results'
    )
    assert preferences_line(Preferences(private=True)).endswith("private results")
