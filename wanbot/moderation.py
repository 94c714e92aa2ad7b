"""A server's generation policy, without Discord: who may generate where, and which prompts pass.

Checked for every job before anything is charged: the member's ban, the channel rules, then the
prompt and negative prompt against the built-in terms and the server's blocklist. Outside
age-restricted channels (and inside them when the server's `nsfw_policy` is "filter") the built-in
terms apply and the provider's safety checker is switched on; sexual content involving minors is
refused everywhere.

A negative prompt lists what to keep *out* of an image ("nudity, gore" is a common one), so only
the never-allowed terms and the server's blocklist apply to it, not the explicit or gore terms.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from wanbot.errors import Refusal, RefusalReason
from wanbot.patterns import MAX_PATTERN, MAX_TEXT, PatternError, compile_pattern
from wanbot.store.base import BlockEntry, GuildSettings, MemberBan
from wanbot.text import strip_invisible

NSFW_POLICIES = ("allow", "filter")
MAX_WORD = 100
MAX_REGEX = MAX_PATTERN
# Letters spelt out with separators ("p.o.r.n", "s e x") are joined before matching.
_SPACED = re.compile(r"\b(?:\w[\s.\-_*]){2,}\w\b")
_LEET = str.maketrans(
    {"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "@": "a", "$": "s"}
)

# Kept small and conservative on purpose: each entry is a regex fragment matched on word
# boundaries against the normalised prompt; a server adds its own words with /admin blocklist.
_ALWAYS = (
    r"loli(?:con)?s?",
    r"shota(?:con)?s?",
    r"jailbait",
    r"p(?:a)?edo(?:phil\w*)?s?",
    r"child porn\w*",
    r"csam",
)
_MINORS = (
    r"child(?:ren)?",
    r"kids?",
    r"minors?",
    r"under ?age(?:d)?",
    r"pre ?teens?",
    r"teen(?:s|ager|agers)?",
    r"toddlers?",
    r"infants?",
    r"bab(?:y|ies)",
    r"little (?:girl|boy)s?",
    r"school ?(?:girl|boy)s?",
    r"(?:[1-9]|1[0-7]) ?(?:yo|y/o|years? old)",
)
_SEXUAL = (
    r"porn\w*",
    r"nudes?",
    r"nudity",
    r"naked",
    r"topless",
    r"nsfw",
    r"hentai",
    r"xxx",
    r"sex",
    r"sexual(?:ly)?",
    r"intercourse",
    r"orgasm\w*",
    r"masturbat\w*",
    r"blowjobs?",
    r"handjobs?",
    r"cumshots?",
    r"genital\w*",
    r"penis(?:es)?",
    r"vagina\w*",
    r"vulva",
    r"clitoris",
    r"dildos?",
    r"nipples?",
    r"erotic\w*",
    r"bdsm",
    r"gangbang\w*",
    r"rap(?:e|ed|es|ing|ist)",
)
_GORE = (
    r"(?<!al )gore",
    r"gory",
    r"dismember\w*",
    r"disembowel\w*",
    r"decapitat\w*",
    r"behead\w*",
    r"mutilat\w*",
    r"eviscerat\w*",
    r"entrails",
)


def _terms(fragments: Iterable[str]) -> re.Pattern[str]:
    return re.compile(r"\b(?:" + "|".join(fragments) + r")\b")


def normalise(text: str) -> str:
    """Case-folded, compatibility-normalised text with invisible characters and spaced-out
    letters removed, and runs of whitespace made single (at most MAX_TEXT characters looked at)."""
    text = strip_invisible(unicodedata.normalize("NFKC", strip_invisible(text[:MAX_TEXT])))
    text = text.casefold()
    text = _SPACED.sub(lambda m: re.sub(r"[\s.\-_*]", "", m[0]), text)
    return " ".join(text.split())


def variants(text: str) -> tuple[str, str]:
    """The normalised text, and the same with light leetspeak undone ("s3x" → "sex")."""
    plain = normalise(text)
    return plain, plain.translate(_LEET)


@dataclass(frozen=True)
class Block:
    """Why a text was refused: the rule that matched and the words that matched it."""

    category: str  # minors, sexual, gore, server
    matched: str


class ContentFilter:
    """Built-in terms and a server's blocklist, matched on normalised text."""

    def __init__(self) -> None:
        self._always = _terms(_ALWAYS)
        self._minors = _terms(_MINORS)
        self._sexual = _terms(_SEXUAL)
        self._gore = _terms(_GORE)

    def check(
        self,
        text: str,
        *,
        filtered: bool,
        server: Sequence[BlockEntry] = (),
        negative: bool = False,
    ) -> Block | None:
        """The first rule `text` breaks, or None.

        `filtered`: apply the built-in explicit and gore terms; `negative`: `text` is a negative
        prompt, checked only against the never-allowed terms and the server's blocklist.
        """
        if not text:
            return None
        found = self._minor_abuse(text, negative=negative)
        if found:
            return found
        for entry in server:
            matched = match_entry(entry, text)
            if matched is not None:
                return Block("server", matched)
        if not filtered or negative:
            return None
        for category, pattern in (("sexual", self._sexual), ("gore", self._gore)):
            for candidate in variants(text):
                m = pattern.search(candidate)
                if m:
                    return Block(category, m[0])
        return None

    def _minor_abuse(self, text: str, *, negative: bool) -> Block | None:
        plain, leet = variants(text)
        for candidate in (plain, leet):
            m = self._always.search(candidate)
            if m:
                return Block("minors", m[0])
        if negative:
            return None
        minor = self._minors.search(plain) or self._minors.search(leet)
        sexual = self._sexual.search(plain) or self._sexual.search(leet)
        if minor and sexual:
            return Block("minors", f"{minor[0]} … {sexual[0]}")
        return None


def clean_entry(pattern: str, is_regex: bool) -> str:
    """A blocklist entry as stored, or a BAD_BLOCKLIST_ENTRY Refusal whose `problem` says what
    is wrong with it: pattern_length, invalid_pattern (with RE2's `detail`), matches_everything,
    word_length."""
    if is_regex:
        pattern = pattern.strip()
        try:
            compiled = compile_pattern(pattern)
        except PatternError as e:
            if e.reason == "too_long":
                raise bad_entry("pattern_length", limit=MAX_REGEX) from None
            raise bad_entry("invalid_pattern", detail=e.detail) from None
        if compiled.search("") is not None:
            raise bad_entry("matches_everything")
        return pattern
    word = normalise(pattern)
    if not 1 <= len(word) <= MAX_WORD:
        raise bad_entry("word_length", limit=MAX_WORD)
    return word


def bad_entry(problem: str, **values: object) -> Refusal:
    return Refusal(RefusalReason.BAD_BLOCKLIST_ENTRY, {"problem": problem, **values})


def match_entry(entry: BlockEntry, text: str) -> str | None:
    """The part of `text` a blocklist entry matches, or None."""
    plain, leet = variants(text)
    if entry.is_regex:
        try:
            matched = compile_pattern(entry.pattern).search(plain)
        except PatternError:
            return None  # stored before patterns ran on RE2, and RE2 can't run it
        return None if matched is None else (matched or entry.pattern)
    word = normalise(entry.pattern)
    if not word:
        return None
    # \b only works next to word characters; a phrase like "c++" needs looser edges.
    left = r"\b" if word[0].isalnum() or word[0] == "_" else r"(?<!\S)"
    right = r"\b" if word[-1].isalnum() or word[-1] == "_" else r"(?!\S)"
    for form, candidate in ((word, plain), (word.translate(_LEET), leet)):
        pattern = left + r"\s+".join(re.escape(part) for part in form.split()) + right
        m = re.search(pattern, candidate)
        if m:
            return m[0]
    return None


class Refused(Refusal):
    """A job refused by the server's policy; `audited`: moderators should hear of it."""

    def __init__(
        self, reason: RefusalReason, details: dict[str, object] | None = None, *, audited: bool
    ) -> None:
        super().__init__(reason, details)
        self.audited = audited


@dataclass(frozen=True)
class Review:
    """A request that passed: whether it runs filtered (built-in terms, safety checker on)."""

    filtered: bool


class Moderator:
    """Decides whether a member may generate this prompt in this channel."""

    def __init__(self, content: ContentFilter | None = None) -> None:
        self.content = content or ContentFilter()

    def review(
        self,
        settings: GuildSettings,
        *,
        channel_id: int,
        channel_nsfw: bool,
        ban: MemberBan | None,
        prompt: str,
        negative_prompt: str | None = None,
    ) -> Review:
        """Return how the request runs, or raise Refused saying which rule stopped it."""
        if ban is not None:
            raise Refused(RefusalReason.BANNED, audited=True)
        refusal = channel_refusal(settings, channel_id)
        if refusal:
            raise refusal
        filtered = not channel_nsfw or settings.nsfw_policy != "allow"
        for field, text in (("prompt", prompt), ("negative_prompt", negative_prompt or "")):
            block = self.content.check(
                text,
                filtered=filtered,
                server=settings.blocklist,
                negative=field == "negative_prompt",
            )
            if block is not None:
                raise Refused(
                    RefusalReason.PROMPT_BLOCKED,
                    {
                        "field": field,
                        "channel_id": channel_id,
                        "category": block.category,
                        "matched": block.matched,
                    },
                    audited=True,
                )
        return Review(filtered=filtered)


def channel_refusal(settings: GuildSettings, channel_id: int) -> Refused | None:
    """Why images can't be made in this channel (with up to three that can), or None."""
    allowed = settings.allowed_channels
    if channel_id not in settings.denied_channels and (not allowed or channel_id in allowed):
        return None
    usable = sorted(allowed - settings.denied_channels)[:3]
    return Refused(
        RefusalReason.CHANNEL_DENIED, {"channel_id": channel_id, "usable": usable}, audited=False
    )


def cooldown_until(last_job_at: float | None, cooldown_s: float, now: float) -> float | None:
    """When the member may start another job, if that is still in the future."""
    if last_job_at is None or cooldown_s <= 0:
        return None
    ready = last_job_at + cooldown_s
    return ready if ready > now else None
