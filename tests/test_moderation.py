"""The server policy without Discord: content filter, blocklist entries, channels, bans, budgets."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from cogs.render.refusals import block_reason, refusal
from cogs.render.refusals import refusal as said
from wanbot.config import ConfigError, load_config
from wanbot.credits import role_allowance
from wanbot.errors import Refusal, RefusalReason
from wanbot.moderation import (
    ContentFilter,
    Moderator,
    Refused,
    Review,
    channel_refusal,
    clean_entry,
    cooldown_until,
    match_entry,
    normalise,
)
from wanbot.store.base import BlockEntry, GuildSettings, MemberBan

FILTER = ContentFilter()
GENERAL = 100
ART = 200


def word(pattern: str) -> BlockEntry:
    return BlockEntry(id=1, pattern=clean_entry(pattern, False), is_regex=False)


def regex(pattern: str) -> BlockEntry:
    return BlockEntry(id=2, pattern=clean_entry(pattern, True), is_regex=True)


# -- normalising ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("  A  Red\tFOX ", "a red fox"),
        ("s.e.x", "sex"),
        ("p o r n", "porn"),
        ("na\u200bked", "naked"),
        ("ｎａｋｅｄ", "naked"),  # full-width letters
        ("a red fox", "a red fox"),  # single letters next to words are left alone
    ],
)
def test_normalise(text: str, expected: str) -> None:
    assert normalise(text) == expected


# -- built-in terms -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    "prompt",
    [
        "a red fox in snow",
        "children playing in a park",
        "a baby elephant",
        "Sussex countryside",
        "grape harvest",
        "a torpedo boat",
        "Al Gore giving a speech",
        "a teen reading a book",
        "the essex coast at dawn",
        "a gorgeous sunset",
    ],
)
def test_ordinary_prompts_pass(prompt: str) -> None:
    assert FILTER.check(prompt, filtered=True) is None


@pytest.mark.parametrize(
    ("prompt", "category"),
    [
        ("a naked man", "sexual"),
        ("PORNOGRAPHIC poster", "sexual"),
        ("s3x scene", "sexual"),
        ("p.o.r.n", "sexual"),
        ("hentai girl", "sexual"),
        ("a gory battlefield", "gore"),
        ("decapitated soldier", "gore"),
        ("a naked child", "minors"),
        ("a 12 yo girl, nude", "minors"),
        ("loli", "minors"),
        ("l0li art", "minors"),
    ],
)
def test_blocked_prompts(prompt: str, category: str) -> None:
    block = FILTER.check(prompt, filtered=True)
    assert block is not None and block.category == category


def test_unfiltered_allows_adult_terms_but_never_minors() -> None:
    assert FILTER.check("a naked man", filtered=False) is None
    assert FILTER.check("a gory battlefield", filtered=False) is None
    block = FILTER.check("naked teenager", filtered=False)
    assert block is not None and block.category == "minors"
    assert "never allowed" in block_reason(block.category, block.matched)


def test_negative_prompts_may_name_what_to_keep_out() -> None:
    for text in ("nsfw, nudity, gore", "children, naked"):
        assert FILTER.check(text, filtered=True, negative=True) is None
    assert FILTER.check("lolicon", filtered=True, negative=True) is not None
    server = [word("clown")]
    assert FILTER.check("clowns, clown", filtered=True, server=server, negative=True) is not None


# -- server blocklist ---------------------------------------------------------------------------
def test_words_match_whole_words_any_case_and_light_leetspeak() -> None:
    entry = word("Dragon")
    assert entry.pattern == "dragon"
    assert match_entry(entry, "a red DRAGON") == "dragon"
    assert match_entry(entry, "a red dr4g0n") == "dragon"
    assert match_entry(entry, "d r a g o n") == "dragon"
    assert match_entry(entry, "dragonfly") is None
    assert match_entry(entry, "snapdragon") is None


def test_phrases_and_symbols() -> None:
    assert match_entry(word("Red  Fox"), "a red\nfox") == "red fox"
    assert match_entry(word("red fox"), "a reddish fox") is None
    assert match_entry(word("c++"), "learn c++ today") == "c++"
    assert match_entry(word("c++"), "learn c++x") is None


def test_regex_entries() -> None:
    entry = regex(r"\bcat(s|nip)?\b")
    assert match_entry(entry, "Two CATS") == "cats"
    assert match_entry(entry, "a catalogue") is None


@pytest.mark.parametrize(
    ("pattern", "is_regex", "complaint"),
    [
        ("(unclosed", True, "not a valid regular expression"),
        (r"(a)\1", True, "no backreferences"),  # fine for Python's re, not for RE2
        (r"(?<!al )gore", True, "not a valid regular expression"),
        (".*", True, "matches every prompt"),
        ("x" * 201, True, "1 to 200"),
        ("   ", False, "1 to 100"),
    ],
)
def test_bad_entries_refused(pattern: str, is_regex: bool, complaint: str) -> None:
    with pytest.raises(Refusal) as caught:
        clean_entry(pattern, is_regex)
    assert caught.value.reason is RefusalReason.BAD_BLOCKLIST_ENTRY
    reply = said(caught.value)
    assert complaint in reply and reply.endswith(" Nothing was changed.")
    assert reply.count("Nothing was") == 1


def test_catastrophic_pattern_is_matched_in_linear_time() -> None:
    entry = regex("(a+)+$")
    # With backtracking this takes about 2**40 steps; on RE2 it is one pass over the text.
    assert match_entry(entry, "a" * 40 + "!") is None
    assert match_entry(entry, "a" * 7_000 + "!") is None
    assert match_entry(entry, "xaaaa") == "aaaa"


def test_server_patterns_never_run_on_pythons_re(monkeypatch: pytest.MonkeyPatch) -> None:
    import re

    import re2

    from wanbot import patterns

    seen: list[str] = []
    real_compile, real_search = re.compile, re.search

    def spy_compile(pattern: Any, flags: int = 0) -> Any:
        seen.append(str(pattern))
        return real_compile(pattern, flags)

    def spy_search(pattern: Any, string: str, flags: int = 0) -> Any:
        seen.append(str(pattern))
        return real_search(pattern, string, flags)

    monkeypatch.setattr(re, "compile", spy_compile)
    monkeypatch.setattr(re, "search", spy_search)
    patterns.compile_pattern.cache_clear()
    entry = regex(r"dr[a4]g(o|0)n+")
    assert match_entry(entry, "a DRAGONNN") == "dragonnn"
    assert not any("dr[a4]g" in p for p in seen)
    assert patterns.compile_pattern(entry.pattern).search is not None
    assert isinstance(patterns.compile_pattern(entry.pattern)._program, type(re2.compile("x")))


def test_pattern_and_text_lengths_are_bounded() -> None:
    with pytest.raises(Refusal) as caught:
        clean_entry("a" * 201, True)
    assert caught.value.details == {"problem": "pattern_length", "limit": 200}
    assert "1 to 200" in said(caught.value)
    entry = regex("needle")
    assert match_entry(entry, "hay " * 1000 + "needle") == "needle"
    # Past the bound nothing is looked at: a prompt can't make matching arbitrarily long.
    assert match_entry(entry, "hay " * 5000 + "needle") is None


def test_stored_pattern_re2_cannot_run_matches_nothing() -> None:
    legacy = BlockEntry(id=3, pattern=r"(a)\1", is_regex=True)
    assert match_entry(legacy, "aa") is None


def test_server_list_checked_before_builtin_and_shown_in_the_reason() -> None:
    block = FILTER.check("a naked dragon", filtered=True, server=[word("dragon")])
    assert block is not None and block.category == "server"
    assert block_reason(block.category, block.matched) == (
        'it matches this server\'s blocklist ("dragon")'
    )


# -- the whole review ---------------------------------------------------------------------------
def review(
    settings: GuildSettings,
    prompt: str = "a red fox",
    *,
    channel_nsfw: bool = False,
    ban: MemberBan | None = None,
    negative_prompt: str | None = None,
) -> Review:
    return Moderator().review(
        settings,
        channel_id=GENERAL,
        channel_nsfw=channel_nsfw,
        ban=ban,
        prompt=prompt,
        negative_prompt=negative_prompt,
    )


def test_review_passes_filtered_outside_nsfw_channels() -> None:
    settings = GuildSettings(guild_id=1)
    assert review(settings).filtered
    assert review(settings, channel_nsfw=True).filtered
    allow = GuildSettings(guild_id=1, nsfw_policy="allow")
    assert not review(allow, "a naked man", channel_nsfw=True).filtered
    with pytest.raises(Refused) as refused:
        review(allow, "a naked man")
    assert "explicit sexual content" in refusal(refused.value)


def test_blocked_prompt_message_and_audit() -> None:
    settings = GuildSettings(guild_id=1, blocklist=(word("dragon"),))
    with pytest.raises(Refused) as refused:
        review(settings, "a Dragon")
    assert refusal(refused.value) == (
        f"That prompt can't be used in <#{GENERAL}>: it matches this server's blocklist "
        '("dragon"). Nothing was charged.'
    )
    assert refused.value.audited and refused.value.details["category"] == "server"
    with pytest.raises(Refused) as negative:
        review(settings, negative_prompt="no dragons, dragon")
    assert refusal(negative.value).startswith("That negative prompt can't be used")


def test_ban_refused_and_audited() -> None:
    ban = MemberBan(user_id=5, reason=None, actor_id=None, created_at=0)
    with pytest.raises(Refused) as refused:
        review(GuildSettings(guild_id=1), ban=ban)
    assert "turned off image generation for you" in refusal(refused.value)
    assert refused.value.audited


def test_channel_rules() -> None:
    assert channel_refusal(GuildSettings(guild_id=1), GENERAL) is None
    denied = GuildSettings(guild_id=1, denied_channels=frozenset({GENERAL}))
    denied_here = channel_refusal(denied, GENERAL)
    assert denied_here is not None
    assert refusal(denied_here) == f"Images can't be made in <#{GENERAL}>. Nothing was charged."
    assert channel_refusal(denied, ART) is None
    allowed = GuildSettings(guild_id=1, allowed_channels=frozenset({ART}))
    assert channel_refusal(allowed, ART) is None
    elsewhere = channel_refusal(allowed, GENERAL)
    assert elsewhere is not None and f"Try <#{ART}>." in refusal(elsewhere)
    with pytest.raises(Refused) as refused:
        review(allowed)
    assert not refused.value.audited  # a wrong channel is not worth a moderator's attention


# -- budgets and pacing -------------------------------------------------------------------------
def test_role_allowance_takes_the_highest_configured_role() -> None:
    table = {"10": 200, "20": 100, "30": 5}
    assert role_allowance([1, 2], table) is None
    assert role_allowance([20, 10, 1], table) == (200, 10)
    assert role_allowance([30], table) == (5, 30)  # a role may also lower the allowance


def test_cooldown_until() -> None:
    assert cooldown_until(None, 30, 100) is None
    assert cooldown_until(90, 0, 100) is None
    assert cooldown_until(90, 30, 100) == 120
    assert cooldown_until(60, 30, 100) is None


def test_role_allowances_config_needs_role_ids(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text('[credits]\nrole_allowances = { " 123 " = 200 }\n')
    assert load_config(path, env={}).settings.credits.role_allowances == {"123": 200}
    path.write_text('[credits]\nrole_allowances = { "Patrons" = 200 }\n')
    with pytest.raises(ConfigError, match=r"credits\.role_allowances: keys must be role ids"):
        load_config(path, env={})
