"""Generated /imagine and /edit requests, each with what Discord and the bot should do."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, TypeVar

from hypothesis import strategies as st

from tests.e2e.hostile.prompts import (
    DISCORD_STRING_MAX,
    MOCK_NEGATIVE_MAX,
    USERS,
    Ids,
    Verdict,
    combine,
    discord_string_ok,
    disguised,
    palettes,
    prompts,
)
from tests.e2e.hostile.uploads import Upload, filenames
from wanbot.providers.models import ASPECT_RATIOS, MAX_SEED

T = TypeVar("T")


@dataclass(frozen=True)
class Case:
    command: Literal["imagine", "edit"]
    user: str
    options: dict[str, Any]
    attachments: dict[str, tuple[str, bytes, str]]
    verdict: Verdict
    delivered: bool  # whether Discord passes it to the bot at all
    prompt: str
    images: tuple[Upload, ...] = ()

    def __repr__(self) -> str:  # readable in hypothesis' falsifying example
        shown = {
            k: (v[:80] + f"…({len(v)})" if isinstance(v, str) and len(v) > 80 else v)
            for k, v in self.options.items()
        }
        files = {k: (v[0][:40], v[2], len(v[1])) for k, v in self.attachments.items()}
        return (
            f"Case(/{self.command} as {self.user}, {shown}, files={files}, "
            f"verdict={self.verdict}, delivered={self.delivered})"
        )

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:  # hypothesis' printer
        printer.text(repr(self))


def maybe(strategy: st.SearchStrategy[T]) -> st.SearchStrategy[T | None]:
    return st.one_of(st.none(), strategy)


EXTREME_INTS = [0, -1, 13, 20, 2**31, 2**31 - 1, 2**53, 2**63, -(2**63), 10**30]


def wild(draw: st.DrawFn, rate: int) -> bool:
    """Whether this field gets a hostile value; `rate` is the case's percentage."""
    return rate > 0 and draw(st.integers(0, 99)) < rate


HOSTILITY = st.sampled_from([0, 0, 0, 15, 30, 60])


@st.composite
def imagine_cases(draw: st.DrawFn, ids: Ids) -> Case:
    rate = draw(HOSTILITY)
    options: dict[str, Any] = {}
    verdicts: list[Verdict] = []
    delivered = True
    prompt, verdict = draw(
        disguised() if draw(st.integers(0, 5)) == 0 else prompts(ids, hostile=wild(draw, rate))
    )
    options["prompt"] = prompt
    verdicts.append(verdict)
    delivered &= discord_string_ok(prompt, 1, DISCORD_STRING_MAX)

    if draw(st.integers(0, 3)) == 0:
        negative, verdict = draw(prompts(ids, MOCK_NEGATIVE_MAX, hostile=wild(draw, rate)))
        options["negative_prompt"] = negative
        verdicts.append(verdict)
        delivered &= discord_string_ok(negative, 1, 2000)

    image_set = draw(maybe(st.booleans()))
    if image_set is not None:
        options["image_set"] = image_set
    if wild(draw, rate):
        n: int | None = draw(st.one_of(st.integers(5, 12), st.sampled_from(EXTREME_INTS)))
    else:
        n = draw(maybe(st.integers(1, 12 if image_set else 4)))
    count = 1 if n is None else n
    if n is not None:
        options["n"] = n
        delivered &= 1 <= n <= 12
    if count > 4 and not image_set:
        verdicts.append("bad")

    # Rendering is the slow part; keep 4K to single images.
    sizes = [None, "1K", "1K", "1K", "2K"] + (["4K"] if count <= 1 else [])
    size = draw(st.text(max_size=8) if wild(draw, rate) else st.sampled_from(sizes))
    if size is not None:
        options["size"] = size
        delivered &= size in ("1K", "2K", "4K")
    ratios = st.sampled_from([None, *ASPECT_RATIOS])
    ratio = draw(st.text(max_size=8) if wild(draw, rate) else ratios)
    if ratio is not None:
        options["aspect_ratio"] = ratio
        delivered &= ratio in ASPECT_RATIOS

    hostile_seed = st.sampled_from(EXTREME_INTS)
    seed = draw(hostile_seed if wild(draw, rate) else maybe(st.integers(0, MAX_SEED)))
    if seed is not None:
        options["seed"] = seed
        delivered &= 0 <= seed <= MAX_SEED
    for name in ("thinking", "private"):
        value = draw(maybe(st.booleans()))
        if value is not None:
            options[name] = value
    if options.get("private") and count > 10:
        del options["private"]  # a known bug: see test_private_result_in_several_messages
    if draw(st.integers(0, 2)) == 0:
        palette, verdict = draw(palettes(wild(draw, rate)))
        options["palette"] = palette
        verdicts.append(verdict)
        delivered &= discord_string_ok(palette, 1, 200)
        if image_set and palette.strip():
            verdicts.append("bad")
    provider = draw(providers(wild(draw, rate)))
    if provider is not None:
        options["provider"] = provider[0]
        verdicts.append(provider[1])
        delivered &= discord_string_ok(provider[0], 0, DISCORD_STRING_MAX)
    return Case(
        command="imagine",
        user=draw(st.sampled_from(USERS)),
        options=options,
        attachments={},
        verdict=combine(*verdicts),
        delivered=delivered,
        prompt=prompt,
    )


def providers(hostile: bool) -> st.SearchStrategy[tuple[str, Verdict] | None]:
    def judged(name: str) -> tuple[str, Verdict]:
        return name, "ok" if name.strip().casefold() in ("", "mock") else "bad"

    if not hostile:
        return st.sampled_from([None, None, None, ("mock", "ok"), ("Mock", "ok")])
    named = st.sampled_from(
        [
            " MOCK ",
            "pixeldojo",
            "skillsvideo",
            "dashscope",
            "openai",
            "",
            "mock\u200b",
            "@everyone",
            "**mock**",
            "../../etc/passwd",
            "x" * 3000,
            "y" * DISCORD_STRING_MAX,
            "z" * (DISCORD_STRING_MAX + 1),
        ]
    )
    return st.one_of(named.map(judged), st.text(max_size=40).map(judged))


@st.composite
def edit_cases(draw: st.DrawFn, ids: Ids, files: list[Upload]) -> Case:
    rate = draw(HOSTILITY)
    options: dict[str, Any] = {}
    verdicts: list[Verdict] = []
    prompt, verdict = draw(
        disguised() if draw(st.integers(0, 5)) == 0 else prompts(ids, hostile=wild(draw, rate))
    )
    options["prompt"] = prompt
    verdicts.append(verdict)
    delivered = discord_string_ok(prompt, 1, DISCORD_STRING_MAX)

    usable = [f for f in files if f.verdict == "ok"]
    if wild(draw, rate):
        count = draw(st.sampled_from([0, 1, 1, 2, 3, 4, 5]))
        chosen = draw(st.lists(st.sampled_from(files), min_size=count, max_size=count))
    else:
        count = draw(st.sampled_from([1, 1, 1, 2, 3, 4]))
        chosen = draw(st.lists(st.sampled_from(usable), min_size=count, max_size=count))
    names = draw(st.lists(st.sampled_from(filenames(ids)), min_size=count, max_size=count))
    slots = ["image", "image2", "image3", "image4", "image5"]
    attachments = {
        slot: (f"{name}.{upload.extension}", upload.data, upload.content_type)
        for slot, upload, name in zip(slots, chosen, names, strict=False)
    }
    delivered &= 1 <= count <= 4  # /edit needs `image` and has no fifth attachment option
    verdicts.extend(upload.verdict for upload in chosen)

    hostile_n = st.sampled_from(EXTREME_INTS)
    n = draw(hostile_n if wild(draw, rate) else maybe(st.integers(1, 4)))
    if n is not None:
        options["n"] = n
        delivered &= 1 <= n <= 4
    hostile_seed = st.sampled_from(EXTREME_INTS)
    seed = draw(hostile_seed if wild(draw, rate) else maybe(st.integers(0, MAX_SEED)))
    if seed is not None:
        options["seed"] = seed
        delivered &= 0 <= seed <= MAX_SEED
    private = draw(maybe(st.booleans()))
    if private is not None:
        options["private"] = private
    provider = draw(providers(wild(draw, rate)))
    if provider is not None:
        options["provider"] = provider[0]
        verdicts.append(provider[1])
        delivered &= discord_string_ok(provider[0], 0, DISCORD_STRING_MAX)
    return Case(
        command="edit",
        user=draw(st.sampled_from(USERS)),
        options=options,
        attachments=attachments,
        verdict=combine(*verdicts),
        delivered=delivered,
        prompt=prompt,
        images=tuple(chosen),
    )


def fixed_cases(ids: Ids, files: list[Upload]) -> list[Case]:
    """Cases that always run, whatever hypothesis draws: one of each kind the brief names."""
    by_label = {f.label: f for f in files}

    def imagine(verdict: Verdict, delivered: bool = True, **options: Any) -> Case:
        options.setdefault("prompt", "a red fox")
        return Case("imagine", "alice", options, {}, verdict, delivered, options["prompt"])

    def edit(verdict: Verdict, labels: list[str], **options: Any) -> Case:
        chosen = tuple(by_label[label] for label in labels)
        slots = ["image", "image2", "image3", "image4", "image5"]
        attachments = {
            slot: (f"@everyone.{u.extension}", u.data, u.content_type)
            for slot, u in zip(slots, chosen, strict=False)
        }
        options.setdefault("prompt", "make it snow")
        delivered = 1 <= len(chosen) <= 4
        return Case(
            "edit", "bob", options, attachments, verdict, delivered, options["prompt"], chosen
        )

    mentions = f"@everyone @here <@{ids.alice}> <@!{ids.bob}> <@&{ids.role}> **fox** ||x||"
    return [
        imagine("ok", prompt=mentions, negative_prompt=mentions),
        imagine("bad", prompt="\u200b\u200d\ufeff"),
        imagine("bad", prompt="a p\u202aorn fox"),
        imagine("bad", prompt="a p\u034forn fox"),
        imagine("bad", prompt="vol\U000e0063\U000e007fcano at dawn"),
        imagine("bad", prompt="n\u200bs\u2060f\ufeffw"),
        imagine("ok", prompt=f"a fox \u202e<@{ids.bob}> \u2066owl\u2069 \u200fby the lake"),
        imagine("bad", prompt=" \t\n "),
        imagine("bad", prompt=("fox " * 1500)[:6000]),
        imagine("bad", False, prompt=("fox " * 1501)[:6001]),
        imagine("bad", prompt="\x00\x1b" + "é" * 5001),
        imagine("ok", provider="Mock"),
        imagine("bad", provider="y" * DISCORD_STRING_MAX),
        imagine("bad", provider="pixeldojo"),
        imagine("bad", n=5),
        imagine("ok", n=12, image_set=True, seed=1),  # an odd seed: the mock makes 11
        imagine("bad", False, n=0),
        imagine("bad", False, n=2**63),
        imagine("bad", False, seed=-1),
        imagine("bad", False, seed=2**31),
        imagine("bad", False, aspect_ratio="21:9"),
        imagine("bad", False, size="8K"),
        imagine("bad", palette="#FF0000 #00FF00"),
        imagine("bad", palette=" ".join(f"#{i:02X}0000" for i in range(11))),
        imagine("bad", palette="#FF0000:50% #00FF00:30% #0000FF:10%"),
        imagine("bad", palette="#FF0000 #00FF00 #0000FF", image_set=True, n=3),
        imagine("ok", palette="#FF0000:33.33% #00FF00:33.33% #0000FF", thinking=True),
        edit("ok", ["png", "jpeg", "webp", "bmp"], n=4, private=True),
        edit("bad", ["bomb 100000x100000"]),
        edit("bad", ["bomb 9000x9000"]),
        edit("bad", ["png", "truncated png"]),
        edit("bad", ["gif"]),
        edit("bad", ["zip"]),
        edit("bad", ["text"]),
        edit("bad", ["empty"]),
        edit("bad", ["png", "png", "png", "png", "png"]),
    ]
