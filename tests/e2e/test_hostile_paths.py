"""Hostile input on the paths a member or a server admin opens besides /imagine and /edit, end to
end against one running bot (real discord.py, the fake Discord, the mock host):

* "Edit image" on messages whose embeds point anywhere: the bot reads only `proxy_url`, fetches it
  only from Discord's CDN (here the fake's own host), and refuses everything else without a single
  request, to the embed's own `url` least of all;
* blocklist patterns a server admin may type, catastrophic ones included: each is refused with a
  reason or stored, and no prompt then takes the bot longer than Discord's 3 s to answer;

and at the end: the "elsewhere" server never saw a request, every admitted job was charged only
for what it delivered, the fake saw no broken rule and nothing was logged at ERROR.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from tests.e2e.harness import Harness, png_bytes
from tests.e2e.hostile.running import BotThread, answer, errors_logged, job_by_token
from tests.fakes.discord_server import FakeDiscord, InteractionHandle
from tests.fakes.local_http import serve_locally
from wanbot.store.base import JobPhase
from wanbot.text import BIDI_CONTROLS

UNEXPECTED = ("something went wrong", "(ref ", "traceback", "exception")


class Elsewhere:
    """A server that is not Discord: any request reaching it is a failure of the test."""

    def __init__(self) -> None:
        self.hits: list[str] = []
        self.base = ""
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        async def anything(request: web.Request) -> web.StreamResponse:
            self.hits.append(request.path)
            return web.Response(body=png_bytes(640, 480), content_type="image/png")

        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", anything)
        self._runner, port = await serve_locally(app)
        self.base = f"http://127.0.0.1:{port}"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()


# -- embeds --------------------------------------------------------------------------------------

# Where an embed's `proxy_url` may point; only "discord" (an attachment on the fake's host, which
# stands for Discord's CDN) may be fetched.
PROXIES = ("discord", "elsewhere", "lookalike", "metadata", "file", "scheme", "none", "empty")


@dataclass(frozen=True)
class EmbedCase:
    proxies: tuple[str, ...]  # one embed each
    thumbnails: tuple[bool, ...]  # whether each carries its image as a thumbnail

    @property
    def usable(self) -> list[str]:
        """The proxies the bot sees as images (those with a proxy_url)."""
        return [p for p in self.proxies if p not in ("none", "empty")]

    @property
    def admitted(self) -> bool:
        return bool(self.usable) and all(p == "discord" for p in self.usable[:4])


embed_cases = st.builds(
    lambda pairs: EmbedCase(tuple(p for p, _ in pairs), tuple(t for _, t in pairs)),
    st.lists(st.tuples(st.sampled_from(PROXIES), st.booleans()), min_size=1, max_size=5),
)


def proxy_url(kind: str, discord_image: str, elsewhere: str, index: int) -> str | None:
    return {
        "discord": discord_image,
        "elsewhere": f"{elsewhere}/proxied/{index}.png",
        "lookalike": f"https://images-ext-1.discordapp.net.{elsewhere[7:]}/x/{index}.png",
        "metadata": "http://169.254.169.254/latest/meta-data/iam/security-credentials/",
        "file": "file:///etc/passwd",
        "scheme": "gopher://127.0.0.1:70/_x",
        "none": None,
        "empty": "",
    }[kind]


def embeds_of(case: EmbedCase, discord_image: str, elsewhere: str) -> list[dict[str, Any]]:
    found = []
    for index, (kind, thumbnail) in enumerate(zip(case.proxies, case.thumbnails, strict=True)):
        media: dict[str, Any] = {
            "url": f"{elsewhere}/original/{index}.png",
            "width": 640,
            "height": 480,
        }
        proxy = proxy_url(kind, discord_image, elsewhere, index)
        if proxy is not None:
            media["proxy_url"] = proxy
        found.append(
            {"type": "rich", "title": "look", "thumbnail" if thumbnail else "image": media}
        )
    return found


@dataclass
class Seen:
    admitted: list[str] = field(default_factory=list)
    refused: int = 0


async def edit_image_of(h: Harness, message_id: int, seen: Seen, admitted: bool) -> None:
    fake = h.fake
    menu = await fake.message_command("Edit image", message_id, user="bob")
    await menu.wait_acknowledged()
    assert menu.ack_latency_s is not None and menu.ack_latency_s < fake.ack_deadline_s
    if menu.modal is None:  # refused at once: no image on that message
        reply = await answer(menu)
        assert not admitted and reply.ephemeral, reply
        assert "no images" in reply.content and "Nothing was charged" in reply.content
        seen.refused += 1
        return
    values = {"wanbot:edit-modal:prompt": "make it snow", "wanbot:edit-modal:n": "1"}
    submitted = await fake.submit_modal(menu, values, user="bob")
    await submitted.wait_acknowledged()
    assert submitted.ack_latency_s is not None
    assert submitted.ack_latency_s < fake.ack_deadline_s
    reply = await answer(submitted)
    job = await job_by_token(h, submitted.token)
    if not admitted:
        assert job is None, reply.content
        assert reply.ephemeral and "Nothing was charged" in reply.content, reply
        assert not any(w in reply.content.lower() for w in UNEXPECTED), reply.content
        seen.refused += 1
        return
    assert job is not None, reply.content
    assert all(
        i.source_url and i.source_url.startswith(fake.origin) for i in job.request.input_images
    )
    seen.admitted.append(job.id)


# -- blocklist patterns --------------------------------------------------------------------------

CATASTROPHIC = (
    "(a+)+$",
    "(a|a)*$",
    "(a|aa)+$",
    "(x+x+)+y",
    "(.*a){12}",
    "^(a?){25}a{25}$",
    "((a+)+)+b",
    r"(\w+\s?)+$",
    "(a*)*b",
)
UNUSABLE = ("(unclosed", r"(a)\1", "(?<!x)y", "[z-a]", "a{2,1}", "*", "x{1001}")
EVERYTHING = (".*", "a*", "^", "(?:)", "|")
NASTY_PROMPTS = ("a" * 40 + "!", "a" * 3000 + "b", "x" * 2000, "aaaa aaaa aaaa aaaa !")

patterns = st.one_of(
    st.sampled_from(CATASTROPHIC + UNUSABLE + EVERYTHING),
    st.text(alphabet="ax()+*?|[]{}\\.^$1,-!", min_size=1, max_size=40),
    st.text(max_size=30),
)
pattern_prompts = st.one_of(st.sampled_from(NASTY_PROMPTS), st.text(min_size=1, max_size=200))


async def admin(h: Harness, options: dict[str, Any]) -> tuple[InteractionHandle, str]:
    handle = await h.fake.slash("admin", options, user="admin", subcommand="blocklist")
    await handle.wait_acknowledged()
    latency = handle.ack_latency_s
    assert latency is not None and latency < h.fake.ack_deadline_s, latency
    return handle, (await answer(handle)).content


async def try_pattern(h: Harness, pattern: str, prompt: str, seen: Seen) -> None:
    fake = h.fake
    options = {"action": "add", "term": pattern, "regex": True}
    try:
        _, text = await admin(h, options)
    except (ValueError, TypeError, LookupError):
        assert not 1 <= len(pattern) <= 200, "Discord refused an option it would deliver"
        return
    stored = text.startswith("Pattern ") or "on the blocklist already" in text
    assert stored or text.endswith("Nothing was changed."), text
    assert not any(w in text.lower() for w in UNEXPECTED), text
    try:
        started = time.monotonic()
        handle = await h.imagine(prompt, size="1K")
    except (ValueError, TypeError, LookupError):
        handle = None  # an empty prompt: Discord itself refuses it
    if handle is not None:
        await handle.wait_acknowledged()
        assert handle.ack_latency_s is not None and handle.ack_latency_s < fake.ack_deadline_s
        reply = await answer(handle)
        assert time.monotonic() - started < fake.ack_deadline_s, "a prompt took too long to judge"
        assert not any(w in reply.content.lower() for w in UNEXPECTED), reply.content
        job = await job_by_token(h, handle.token)
        if job is None:
            seen.refused += 1
        else:
            seen.admitted.append(job.id)
    if stored:
        _, text = await admin(h, {"action": "remove", "term": pattern})
        assert text == "Removed.", text


# -- the test ------------------------------------------------------------------------------------


def test_hostile_embeds_and_patterns(make_fake: Any, tmp_path: Path) -> None:
    fake: FakeDiscord = make_fake()
    elsewhere = Elsewhere()
    seen = Seen()
    with errors_logged() as errors, BotThread(fake, tmp_path) as bot:
        h = bot.harness
        assert h is not None
        bot.run(elsewhere.start())
        photo = ("photo.png", png_bytes(640, 480), "image/png")
        source = bot.run(fake.post_user_message("here is a photo", [photo], user="alice"))
        discord_image = fake.message(source).attachment_urls[0]

        def embeds(case: EmbedCase) -> None:
            async def run() -> None:
                message_id = await fake.post_user_message(
                    "look at this", [], embeds_of(case, discord_image, elsewhere.base), user="bob"
                )
                await edit_image_of(h, message_id, seen, case.admitted)

            bot.run(run(), timeout=30)

        run_embeds = given(case=embed_cases)(embeds)
        for fixed in (
            EmbedCase(("discord",), (False,)),
            EmbedCase(("elsewhere",), (False,)),
            EmbedCase(("discord", "elsewhere"), (False, True)),
            EmbedCase(("none", "empty"), (False, False)),
            EmbedCase(("metadata", "file", "lookalike", "scheme"), (True, False, True, False)),
        ):
            run_embeds = example(case=fixed)(run_embeds)
        settings(
            max_examples=25,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )(run_embeds)()

        def pattern(pattern: str, prompt: str) -> None:
            bot.run(try_pattern(h, pattern, prompt, seen), timeout=30)

        run_patterns = given(pattern=patterns, prompt=pattern_prompts)(pattern)
        for catastrophic in CATASTROPHIC:
            run_patterns = example(pattern=catastrophic, prompt="a" * 40 + "!")(run_patterns)
        for unusable in UNUSABLE + EVERYTHING:
            run_patterns = example(pattern=unusable, prompt="a red fox")(run_patterns)
        settings(
            max_examples=30,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )(run_patterns)()

        async def finish() -> None:
            for job_id in seen.admitted:
                job = await h.wait_job(job_id, within_s=60)
                assert job.state is JobPhase.DONE, (job.id, job.state, job.error)
                rows = await h.store.ledger(fake.guild_id, job.user_id, 10_000)
                captured = sum(-r.held for r in rows if r.job_id == job_id and r.kind == "capture")
                assert captured == (job.images_delivered or 0) * job.image_cost
            jobs = await h.store.jobs_in(list(JobPhase))
            assert sorted(j.id for j in jobs) == sorted(seen.admitted)
            await elsewhere.stop()

        bot.run(finish(), timeout=120)
        for message in fake.messages(include_deleted=True):
            if message.author_id == fake.bot_user_id:
                assert not BIDI_CONTROLS & {ord(c) for c in message.content}, message.content
        assert fake.violations == []
    assert elsewhere.hits == [], elsewhere.hits
    assert errors.lines == []
    assert seen.refused and seen.admitted, seen
