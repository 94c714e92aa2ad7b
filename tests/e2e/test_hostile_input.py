"""Hostile input, end to end: hypothesis throws random and extreme /imagine and /edit requests at
one running bot (real discord.py against the fake Discord, mock host) and checks, for each one:

* the fake Discord delivers it exactly when a real Discord would (option types, ranges, choices,
  lengths; a modified client can send anything the fake lets through);
* it is acknowledged in time, and answered either with an ephemeral refusal in plain words (no
  traceback, no "something went wrong (ref …)") and no job, or with a job admitted with the
  options asked for and the right hold;
* where the request is certainly invalid it is refused, and where it is certainly valid admitted;

and at the end: every admitted job finished, the ledger holds only refills and the holds, captures
and releases of admitted jobs (so no refusal cost anything), no message the bot posted pings
@everyone/@here or, apart from the documented channel fallback, anyone at all, the fake saw no
broken rule, nothing was logged at ERROR, and the bot still answers an ordinary /imagine.

The bot runs on its own thread and loop for the whole test; each hypothesis example hops onto that
loop, so one bot (and one database) sees every example, as a real server would.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import io
import logging
import random
import re
import struct
import threading
import unicodedata
import zipfile
import zlib
from collections.abc import Coroutine, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeVar

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from PIL import Image

from cogs.edit import closest_ratio
from tests.e2e.harness import Harness, running_bot
from tests.fakes.discord_server import FakeDiscord, FakeMessage, InteractionHandle
from wanbot.providers.models import ASPECT_RATIOS, MAX_SEED
from wanbot.store.base import Job, JobPhase

T = TypeVar("T")
Verdict = Literal["ok", "bad", "any"]  # certainly admitted / certainly refused / either is fine

IMAGE_COST = 1
ALLOWANCE = 1_000_000
USERS = ("alice", "bob")
CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")  # what wanbot.options strips
MOCK_NEGATIVE_MAX = 500
PROMPT_MAX = 5000
DISCORD_STRING_MAX = 6000
EXAMPLES = 60

CONFIG = f"""
[credits]
allowance = {ALLOWANCE}
image_cost = {IMAGE_COST}
"""
GENERATION = """
max_concurrent_jobs = 8
max_jobs_per_provider = 8
max_running_per_user = 8
max_queued_per_user = 1000
"""


def combine(*verdicts: Verdict) -> Verdict:
    if "bad" in verdicts:
        return "bad"
    return "any" if "any" in verdicts else "ok"


# -- what the bot is expected to make of a prompt ------------------------------------------------


def cleaned(text: str) -> str:
    return CONTROL.sub("", text).strip()


def visible(text: str) -> bool:
    return any(not c.isspace() and unicodedata.category(c) not in ("Cc", "Cf") for c in text)


def text_verdict(text: str, limit: int, *, known_safe: bool) -> Verdict:
    """A prompt is refused when nothing visible is left, it is too long or it names a blocked
    word; a prompt made only of safe words and inert fragments is otherwise admitted, anything
    else may meet the content filter."""
    kept = cleaned(text)
    if not visible(kept) or len(kept) > limit or BLOCKED in kept.split():
        return "bad"
    return "ok" if known_safe else "any"


@dataclass(frozen=True)
class Ids:
    alice: int
    bob: int
    role: int
    channel: int


SAFE_WORDS = ("a", "red", "fox", "in", "snow", "castle", "by", "the", "lake", "at", "dawn", "owl")
BLOCKED = "volcano"  # on the server's blocklist: a prompt naming it is refused


def hostile_fragments(ids: Ids) -> list[str]:
    return [
        "@everyone",
        "@here",
        "@ everyone",
        "@\u200beveryone",
        f"<@{ids.alice}>",
        f"<@!{ids.bob}>",
        f"<@&{ids.role}>",
        f"<#{ids.channel}>",
        "<@1>",
        "<@123456789012345678901234>",
        "**bold**",
        "__under__",
        "~~strike~~",
        "`code`",
        "```py\nprint(1)\n```",
        "||spoiler||",
        "> quote",
        "# Heading",
        "-# small",
        "[link](https://example.com)",
        "https://discord.gg/invite",
        "\\",
        "\u200b",
        "\u200d",
        "\u202e",
        "\ufeff",
        "\u2060",
        "\x00",
        "\x07",
        "\x1b[31m",
        "\x7f",
        "\r\n",
        "\t",
        "\n\n\n",
        "😀",
        "👩‍👩‍👧",
        "e\u0301",
        "\u3164",
        "Ω≈ç√",
        "'; DROP TABLE jobs; --",
        "{prompt}",
        "%s%n",
    ]


def prompts(
    ids: Ids, limit: int = PROMPT_MAX, *, hostile: bool = True
) -> st.SearchStrategy[tuple[str, Verdict]]:
    """(prompt, verdict) pairs: made of safe words and hostile fragments (mentions, markdown,
    control and zero-width characters), or when `hostile` also blank or invisible, around the
    length limits, or arbitrary text."""
    fragments = hostile_fragments(ids)
    composed = st.lists(
        st.one_of(st.sampled_from(SAFE_WORDS), st.sampled_from(fragments), st.just(BLOCKED)),
        min_size=1,
        max_size=14,
    ).map(lambda parts: " ".join(parts))

    def judged(text: str, safe: bool) -> tuple[str, Verdict]:
        return text, text_verdict(text, limit, known_safe=safe)

    if not hostile:
        return composed.map(lambda t: judged(t, True))
    blank = st.sampled_from(
        ["", " ", "   ", "\t\n", "\u200b", "\u200b\u200d \ufeff", "\x00\x01", "\n\u2060\n", "\x7f"]
    )
    long = st.integers(limit - 10, DISCORD_STRING_MAX + 10).map(lambda k: ("fox " * k)[:k])
    return st.one_of(
        blank.map(lambda t: judged(t, True)),
        long.map(lambda t: judged(t, True)),
        st.text(max_size=300).map(lambda t: judged(t, False)),
    )


def discord_string_ok(text: str, low: int, high: int) -> bool:
    return low <= len(text) <= high


# -- palettes ------------------------------------------------------------------------------------

hex_colour = st.integers(0, 0xFFFFFF).map(lambda v: f"#{v:06X}")
separator = st.sampled_from([" ", ",", ", ", "  ", "\t"])
JUNK_ITEMS = (
    "red",
    "#GGGGGG",
    "#FFF",
    "FF0000",
    "#FF0000:abc%",
    "#FF0000:50",
    "#FF0000:-5%",
    "#FF0000:0%",
    "#FF0000:101%",
    "#FF0000:1000%",
    "#FF0000:%",
    "@everyone",
    "<@&123456789012345678>",
    "#FF0000FF",
    "#ＦＦ0000",
)


@st.composite
def palettes(draw: st.DrawFn, hostile: bool) -> tuple[str, Verdict]:
    bad = ["count", "junk", "total", "over", "arbitrary"]
    kind = draw(st.sampled_from(bad if hostile else ["plain", "shares", "partial"]))
    sep = draw(separator)
    if kind == "arbitrary":
        return draw(st.text(max_size=220)), "any"
    if kind == "count":
        count = draw(st.sampled_from([0, 1, 2, 11, 12]))
        colours = draw(st.lists(hex_colour, min_size=count, max_size=count))
        return sep.join(colours) or " ", "bad"
    count = draw(st.integers(3, 10))
    colours = draw(st.lists(hex_colour, min_size=count, max_size=count))
    if kind == "plain":
        return sep.join(colours), "ok"
    if kind == "junk":
        colours[draw(st.integers(0, count - 1))] = draw(st.sampled_from(JUNK_ITEMS))
        return sep.join(colours), "bad"
    if kind == "shares":  # every share given, totalling exactly 100
        cuts = sorted(draw(st.sets(st.integers(1, 99), min_size=count - 1, max_size=count - 1)))
        shares = [b - a for a, b in zip([0, *cuts], [*cuts, 100], strict=True)]
        return sep.join(f"{c}:{s}%" for c, s in zip(colours, shares, strict=True)), "ok"
    if kind == "partial":  # some given, leaving a positive rest for the others
        given = draw(st.integers(1, count - 1))
        share = draw(st.integers(1, 90 // given))
        items = [f"{c}:{share}%" if i < given else c for i, c in enumerate(colours)]
        return sep.join(items), "ok"
    if kind == "total":  # every share given, not totalling 100
        shares = draw(st.lists(st.integers(1, 100), min_size=count, max_size=count))
        if abs(sum(shares) - 100) <= 0.01:
            shares[0] += 1 if shares[0] < 100 else -1
        return sep.join(f"{c}:{s}%" for c, s in zip(colours, shares, strict=True)), "bad"
    # "over": the shares given already reach 100% before every colour has one
    items = [f"{colours[0]}:60%", f"{colours[1]}:40.00%", *colours[2:]]
    return sep.join(items), "bad"


# -- attachments ---------------------------------------------------------------------------------


def _encode(image: Image.Image, kind: str) -> bytes:
    buf = io.BytesIO()
    image.save(buf, format=kind)
    return buf.getvalue()


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_claiming(width: int, height: int) -> bytes:
    """A small PNG whose header claims `width`×`height`: a decompression bomb's calling card."""
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", zlib.compress(b"\0" * 256))
        + _chunk(b"IEND", b"")
    )


@dataclass(frozen=True)
class Upload:
    label: str
    data: bytes
    content_type: str
    extension: str
    verdict: Verdict
    size: tuple[int, int] | None = None  # pixels, for an image the bot can use

    def __repr__(self) -> str:
        return f"<{self.label}>"

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:  # hypothesis' printer
        printer.text(repr(self))


def uploads() -> list[Upload]:
    noise = Image.frombytes("RGB", (400, 300), random.Random(7).randbytes(400 * 300 * 3))
    noisy_png = _encode(noise, "PNG")
    photo = _encode(Image.new("RGB", (640, 480), (10, 120, 200)), "PNG")
    zipped = io.BytesIO()
    with zipfile.ZipFile(zipped, "w") as archive:
        archive.writestr("a.txt", "hello")
    return [
        Upload("png", photo, "image/png", "png", "ok", (640, 480)),
        Upload("tall png", noisy_png, "image/png", "png", "ok", (400, 300)),
        Upload(
            "jpeg",
            _encode(Image.new("RGB", (500, 700), (200, 30, 30)), "JPEG"),
            "image/jpeg",
            "jpg",
            "ok",
            (500, 700),
        ),
        Upload(
            "webp",
            _encode(Image.new("RGB", (400, 400), (30, 200, 30)), "WEBP"),
            "image/webp",
            "webp",
            "ok",
            (400, 400),
        ),
        Upload(
            "bmp",
            _encode(Image.new("RGB", (300, 260), (0, 0, 0)), "BMP"),
            "image/bmp",
            "bmp",
            "ok",
            (300, 260),
        ),
        Upload("png called jpeg", photo, "image/jpeg", "jpg", "ok", (640, 480)),
        Upload(
            "too small",
            _encode(Image.new("RGB", (100, 100)), "PNG"),
            "image/png",
            "png",
            "bad",
        ),
        Upload(
            "gif",
            _encode(Image.new("P", (300, 300)), "GIF"),
            "image/gif",
            "gif",
            "bad",
        ),
        Upload("text", b"hello, not a picture", "text/plain", "txt", "bad"),
        Upload("zip", zipped.getvalue(), "application/zip", "zip", "bad"),
        Upload("zip called png", zipped.getvalue(), "image/png", "png", "bad"),
        Upload("png called octet-stream", photo, "application/octet-stream", "png", "bad"),
        Upload("empty", b"", "image/png", "png", "bad"),
        Upload("truncated png", noisy_png[: len(noisy_png) // 2], "image/png", "png", "bad"),
        Upload("signature only", noisy_png[:8], "image/png", "png", "bad"),
        Upload("bomb 100000x100000", png_claiming(100_000, 100_000), "image/png", "png", "bad"),
        Upload("bomb 9000x9000", png_claiming(9000, 9000), "image/png", "png", "bad"),
        Upload("header only 3000x3000", png_claiming(3000, 3000), "image/png", "png", "bad"),
    ]


def filenames(ids: Ids) -> list[str]:
    return [
        "photo",
        "@everyone",
        "@here",
        f"<@{ids.alice}>",
        f"<@&{ids.role}>",
        "**bold**",
        "__init__",
        "évier ✨",
        "\u202egnp.exe",
        "a" * 150,
    ]


# -- a generated case ----------------------------------------------------------------------------


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
    prompt, verdict = draw(prompts(ids, hostile=wild(draw, rate)))
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
    prompt, verdict = draw(prompts(ids, hostile=wild(draw, rate)))
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


# -- running the bot on its own loop -------------------------------------------------------------


class BotThread:
    """One bot for a whole test, on a thread of its own; `run` hops a coroutine onto its loop."""

    def __init__(self, fake: FakeDiscord, tmp_path: Path) -> None:
        self.fake = fake
        self.tmp_path = tmp_path
        self.loop: asyncio.AbstractEventLoop | None = None
        self.harness: Harness | None = None
        self._ready: concurrent.futures.Future[Harness] = concurrent.futures.Future()
        self._stop: asyncio.Event | None = None
        self.crashed: BaseException | None = None
        self._thread = threading.Thread(target=self._main, name="bot", daemon=True)

    def _main(self) -> None:
        try:
            asyncio.run(self._serve())
        except BaseException as e:
            self.crashed = e

    async def _serve(self) -> None:
        self.loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        try:
            async with running_bot(
                self.fake,
                self.tmp_path,
                extra_toml=CONFIG,
                generation=GENERATION,
                mock_delay=0.05,
            ) as h:
                self._ready.set_result(h)
                await self._stop.wait()
        except BaseException as e:
            if not self._ready.done():
                self._ready.set_exception(e)
            raise

    def __enter__(self) -> BotThread:
        self._thread.start()
        self.harness = self._ready.result(timeout=30)
        return self

    def __exit__(self, *exc: object) -> None:
        if self.loop is not None and self._stop is not None:
            self.loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(timeout=30)
        assert not self._thread.is_alive(), "the bot did not stop"
        if self.crashed is not None and exc[0] is None:
            raise AssertionError("the bot crashed") from self.crashed

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 60) -> T:
        assert self.loop is not None
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)


class ErrorLog(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(f"{record.name}: {record.getMessage()}")


@contextlib.contextmanager
def errors_logged() -> Iterator[ErrorLog]:
    handler = ErrorLog()
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield handler
    finally:
        root.removeHandler(handler)


# -- checking one case ---------------------------------------------------------------------------

DISCORD_REFUSALS = (ValueError, TypeError, LookupError)
MASS_MENTION = re.compile(r"@(everyone|here)")
UNEXPECTED = ("something went wrong", "(ref ", "traceback", "exception", "error:")


@dataclass
class Record:
    """What the test learnt, for the checks at the end."""

    admitted: dict[str, str] = field(default_factory=dict)  # job id → what made it
    refused: int = 0
    undelivered: int = 0


async def answer(handle: InteractionHandle, within_s: float = 10.0) -> FakeMessage:
    """The bot's visible answer: the filled original response, or a followup."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within_s
    while True:
        followups = handle.followups
        if followups:
            return followups[-1]
        message = handle.original_message()
        if message is not None and not message.loading and not message.deleted:
            return message
        if loop.time() > deadline:
            raise AssertionError(f"no answer to {handle} (callbacks {handle.callbacks})")
        await asyncio.sleep(0.02)


async def job_by_token(h: Harness, token: str) -> Job | None:
    for job in await h.store.jobs_in(list(JobPhase)):
        if job.for_interaction(token):
            return job
    return None


async def exercise(h: Harness, case: Case, record: Record) -> None:
    fake = h.fake
    try:
        handle = await fake.slash(
            case.command, case.options, user=case.user, attachments=case.attachments
        )
    except DISCORD_REFUSALS as e:
        assert not case.delivered, f"Discord refused a request it would deliver: {e}"
        record.undelivered += 1
        return
    assert case.delivered, "Discord delivered a request its own checks refuse"
    await handle.wait_acknowledged(timeout=5)
    latency = handle.ack_latency_s
    assert latency is not None and latency < fake.ack_deadline_s, latency
    reply = await answer(handle)
    job = await job_by_token(h, handle.token)
    if job is None:
        text = reply.content
        assert case.verdict != "ok", f"a valid request was refused: {text!r}"
        assert reply.ephemeral and reply.visible_to == h.user_id(case.user), reply
        assert text.strip() and not any(w in text.lower() for w in UNEXPECTED), text
        assert not reply.attachments and not reply.components, reply
        record.refused += 1
        return
    assert case.verdict != "bad", f"an invalid request was admitted as job {job.id}"
    check_admitted(h, case, job)
    rows = await h.store.ledger(fake.guild_id, job.user_id, 1000)
    holds = [(r.held, r.available) for r in rows if r.job_id == job.id and r.kind == "hold"]
    assert holds == [(job.hold_amount, -job.hold_amount)], holds
    assert reply.ephemeral == job.private and reply.content.startswith("🎨")
    record.admitted[job.id] = repr(case)


def check_admitted(h: Harness, case: Case, job: Job) -> None:
    options, request = case.options, job.request
    assert job.kind == case.command and job.user_id == h.user_id(case.user)
    assert job.provider == "mock" and job.image_cost == IMAGE_COST
    assert request.prompt == cleaned(case.prompt)
    assert request.n == options.get("n", 1)
    assert job.hold_amount == IMAGE_COST * request.n
    assert job.private == bool(options.get("private"))
    if "seed" in options:
        assert request.seed == options["seed"]
    assert request.size == options.get("size", "1K")  # 1K is the members' saved default
    if case.command == "imagine":
        assert request.aspect_ratio == options.get("aspect_ratio", "1:1")
        assert request.image_set == bool(options.get("image_set"))
        assert request.thinking == options.get("thinking")
        assert (request.palette is not None) == bool(options.get("palette"))
        negative = options.get("negative_prompt")
        assert request.negative_prompt == (cleaned(negative) if negative else None)
        assert not request.input_images
    else:
        first = case.images[0].size
        assert first is not None
        assert request.aspect_ratio == closest_ratio(*first)
        assert [(i.width, i.height) for i in request.input_images] == [u.size for u in case.images]


# -- the end of the run --------------------------------------------------------------------------


async def settle(h: Harness, record: Record) -> list[Job]:
    for job_id in record.admitted:
        job = await h.wait_job(job_id, within_s=60)
        assert job.state is JobPhase.DONE, (job.id, job.state, job.error)
    jobs = {job.id: job for job in await h.store.jobs_in(list(JobPhase))}
    assert set(jobs) == set(record.admitted), "a job exists that no admitted case accounts for"
    for user in USERS:
        user_id = h.user_id(user)
        rows = await h.store.ledger(h.fake.guild_id, user_id, 100_000)
        spent = 0
        for row in rows:
            if row.job_id is None:
                assert row.kind == "refill", row
                continue
            job = jobs[row.job_id]
            assert job.user_id == user_id
        for job in (j for j in jobs.values() if j.user_id == user_id):
            mine = [r for r in rows if r.job_id == job.id]
            kinds = sorted(r.kind for r in mine)
            delivered = job.images_delivered or 0
            captured = sum(r.held for r in mine if r.kind == "capture")
            assert kinds in (["capture", "hold"], ["capture", "hold", "release"]), kinds
            assert -captured == delivered * IMAGE_COST, (job.id, mine)
            assert sum(r.available for r in mine) == -delivered * IMAGE_COST, mine
            assert sum(r.held for r in mine) == 0, mine
            spent += delivered * IMAGE_COST
        if rows:
            assert await h.store.balance(h.fake.guild_id, user_id) == ALLOWANCE - spent
    return list(jobs.values())


def check_messages(h: Harness, jobs: list[Job]) -> None:
    fake = h.fake
    owner = {m: job.user_id for job in jobs for m in job.message_ids}
    results = 0
    for message in fake.messages(include_deleted=True):
        if message.author_id != fake.bot_user_id:
            continue
        assert not message.mentions_everyone, message
        if not message.ephemeral:  # and what others see stays inert if ever reposted
            assert not MASS_MENTION.search(message.content), message.content
        results += message.id in owner
        if message.mentioned_user_ids:
            # The documented fallback: a result posted to the channel pings its member only.
            assert message.interaction_id is None and message.webhook_id is None, message
            assert message.mentioned_user_ids == [owner.get(message.id)], message
    assert results >= len(jobs)
    assert fake.violations == []


def test_hostile_requests_are_refused_or_admitted_cleanly(make_fake: Any, tmp_path: Path) -> None:
    fake: FakeDiscord = make_fake()
    ids = Ids(
        alice=fake.users["alice"].id,
        bob=fake.users["bob"].id,
        role=fake.admin_role_id,
        channel=fake.channel_id,
    )
    files = uploads()
    record = Record()
    with errors_logged() as errors, BotThread(fake, tmp_path) as bot:
        h = bot.harness
        assert h is not None

        async def prepare() -> None:
            for user in USERS:
                saved = await answer(await fake.slash("set", {"size": "1K"}, user=user))
                assert saved.content.startswith("Saved."), saved.content
            for sub, options in (
                ("audit-channel", {"channel": "nsfw-art"}),
                ("blocklist", {"action": "add", "term": BLOCKED}),
            ):
                done = await answer(
                    await fake.slash("admin", options, user="admin", subcommand=sub)
                )
                assert done.ephemeral and "Nothing" not in done.content, done.content

        bot.run(prepare())

        def hostile(case: Case) -> None:
            bot.run(exercise(h, case, record), timeout=30)

        run = given(case=st.one_of(imagine_cases(ids), edit_cases(ids, files)))(hostile)
        for case in fixed_cases(ids, files):
            run = example(case=case)(run)
        settings(
            max_examples=EXAMPLES,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )(run)()

        async def context_menu() -> None:
            """The only way to hand the bot more than four images: a message with six."""
            photo = next(f for f in files if f.label == "png")
            six = [(f"@everyone{i}.png", photo.data, "image/png") for i in range(6)]
            message_id = await fake.post_user_message("@everyone look", six, user="bob")
            for prompt, count, admitted in (
                (f"<@{ids.alice}> @here **in a hat**", "2", True),
                ("\u200b\u2060", "1", False),
                ("in a hat", "0", False),
                ("in a hat", "x", False),
            ):
                menu = await fake.message_command("Edit image", message_id, user="bob")
                await menu.wait_acknowledged()
                assert menu.modal is not None
                values = {"wanbot:edit-modal:prompt": prompt, "wanbot:edit-modal:n": count}
                submitted = await fake.submit_modal(menu, values, user="bob")
                await submitted.wait_acknowledged()
                reply = await answer(submitted)
                job = await job_by_token(h, submitted.token)
                if not admitted:
                    assert job is None and reply.ephemeral, reply
                    assert not any(w in reply.content.lower() for w in UNEXPECTED), reply
                    record.refused += 1
                    continue
                assert job is not None, reply.content
                assert len(job.request.input_images) == 4 and job.request.n == 2
                record.admitted[job.id] = "context menu on six images"

        jobs: list[Job] = []

        async def finish() -> None:
            handle = await h.imagine("a calm lake at dawn", size="1K")
            await handle.wait_acknowledged()
            job = await job_by_token(h, handle.token)
            assert job is not None, (await answer(handle)).content
            record.admitted[job.id] = "the last, ordinary /imagine"
            jobs.extend(await settle(h, record))

        bot.run(context_menu())
        bot.run(finish(), timeout=120)
        check_messages(h, jobs)
    assert errors.lines == []
    assert record.refused and record.admitted and record.undelivered, record


async def test_private_result_in_several_messages(
    fake: FakeDiscord, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Over ten images make two messages; a private result's second is an ephemeral followup."""
    caplog.set_level(logging.WARNING, logger="wanbot.jobs.service")
    async with running_bot(
        fake, tmp_path, extra_toml=CONFIG, generation=GENERATION, mock_delay=0.05
    ) as h:
        handle = await h.imagine("a fox family", n=12, image_set=True, seed=2, private=True)
        job_id = (await h.job_for(handle)).id

        async def ended_or_failed_once() -> bool:
            job = await h.store.get_job(job_id)
            failed = any("delivery attempt" in r.getMessage() for r in caplog.records)
            return failed or (job is not None and job.state.terminal)

        deadline = asyncio.get_running_loop().time() + 20
        while not await ended_or_failed_once():
            assert asyncio.get_running_loop().time() < deadline, "the job never finished"
            await asyncio.sleep(0.05)
        job = await h.wait_job(job_id, within_s=0.5)  # raises if still retrying
        assert job.state is JobPhase.DONE, job.error
        assert job.images_delivered == 12 and len(job.message_ids) == 2
        assert all(fake.message(m).ephemeral for m in job.message_ids)
