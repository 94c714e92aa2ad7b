"""Remix end to end: the button (and Vary's menu) opens the prompt to change; the new words reach
the host with the same options, the member who clicked pays, and the caption links back."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.harness import Harness, png_bytes, running_bot
from tests.e2e.test_account_admin import answer
from tests.fakes.discord_server import FakeDiscord, InteractionHandle, Json, _walk_components
from tests.fakes.pixeldojo_server import FakePixelDojo
from wanbot.store.base import Job, JobPhase

PROMPT_INPUT = "wanbot:remix-modal:prompt"
NEGATIVE_INPUT = "wanbot:remix-modal:negative"


@pytest.fixture
async def pixeldojo() -> AsyncIterator[FakePixelDojo]:
    async with FakePixelDojo(job_duration_s=0.2) as server:
        yield server


def inputs(modal: Json | None) -> dict[str, Json]:
    assert modal is not None
    return {c["custom_id"]: c for c in _walk_components(modal["components"]) if c.get("type") == 4}


def forget(paths: list[Path]) -> None:
    for path in paths:
        path.unlink()


async def finished(h: Harness, handle: InteractionHandle) -> Job:
    job = await h.wait_job((await h.job_for(handle)).id)
    assert job.state is JobPhase.DONE, job.error
    return job


async def balance(h: Harness, user: str) -> int:
    value: int = await h.store.balance(h.fake.guild_id, h.user_id(user))
    return value


async def open_remix(h: Harness, job: Job, user: str, **kw: Any) -> InteractionHandle:
    click = await h.fake.click(job.message_ids[0], f"wanbot:remix:{job.id}", user=user, **kw)
    await click.wait_acknowledged()
    return click


async def test_remix_sends_the_new_words_charges_the_clicker_and_links_back(
    fake: FakeDiscord, tmp_path: Path, pixeldojo: FakePixelDojo
) -> None:
    toml = f'[providers.pixeldojo]\nbase_url = "{pixeldojo.base_url}"\n'
    env = {"PIXELDOJO_API_KEY": FakePixelDojo.api_key}
    async with running_bot(fake, tmp_path, extra_toml=toml, env=env) as h:
        first = await finished(h, await h.imagine("a red fox", n=2, aspect_ratio="16:9"))
        result = fake.message(first.message_ids[0])
        buttons = [c["custom_id"] for c in _walk_components(result.components) if "custom_id" in c]
        assert f"wanbot:remix:{first.id}" in buttons

        click = await open_remix(h, first, "bob")
        fields = inputs(click.modal)
        assert fields[PROMPT_INPUT]["value"] == "a red fox"
        assert NEGATIVE_INPUT not in fields  # PixelDojo takes no negative prompt
        submitted = await fake.submit_modal(
            click, {PROMPT_INPUT: "a red fox in deep snow"}, user="bob"
        )
        remix = await finished(h, submitted)

        [_, second] = pixeldojo.submissions("/run")
        assert second.body["prompt"] == "a red fox in deep snow"
        assert (remix.user_id, remix.parent_job_id) == (h.user_id("bob"), first.id)
        request, original = remix.request, first.request
        assert (request.n, request.aspect_ratio, request.size, request.seed) == (
            original.n,
            original.aspect_ratio,
            original.size,
            original.seed,
        )
        assert await balance(h, "bob") == 50 - 4
        assert await balance(h, "alice") == 50 - 4  # her own job only
        caption = h.placeholder(remix).content
        link = f"https://discord.com/channels/{fake.guild_id}/{fake.channel_id}/{result.id}"
        assert f"remix of {link}" in caption
        assert caption.startswith(f"a red fox in deep snow — for <@{h.user_id('bob')}>")
        assert fake.violations == []


async def test_remix_keeps_the_negative_prompt_and_adds_the_clickers_suffix(
    fake: FakeDiscord, tmp_path: Path
) -> None:
    async with running_bot(fake, tmp_path, mock_delay=0.2) as h:
        await answer(await fake.slash("set", {"suffix": "ink"}, user="alice"))
        await answer(await fake.slash("set", {"suffix": "pastel"}, user="bob"))
        first = await finished(h, await h.imagine("a fox", negative_prompt="blurry"))
        click = await open_remix(h, first, "bob")
        fields = inputs(click.modal)
        # Alice's words as she typed them: not her suffix.
        assert (fields[PROMPT_INPUT]["value"], fields[NEGATIVE_INPUT]["value"]) == (
            "a fox",
            "blurry",
        )
        submitted = await fake.submit_modal(click, {PROMPT_INPUT: "two foxes"}, user="bob")
        remix = await finished(h, submitted)
        assert remix.request.prompt == "two foxes, pastel"
        assert remix.request.negative_prompt == "blurry"
        # An emptied negative prompt is dropped.
        click = await open_remix(h, first, "alice")
        submitted = await fake.submit_modal(
            click, {PROMPT_INPUT: "a fox", NEGATIVE_INPUT: ""}, user="alice"
        )
        plain = await finished(h, submitted)
        assert (plain.request.prompt, plain.request.negative_prompt) == ("a fox, ink", None)
        assert plain.user_id == h.user_id("alice") and plain.parent_job_id == first.id
        assert "remix of" in h.placeholder(plain).content


async def test_varys_menu_offers_remix_and_an_edit_remixes_its_inputs(
    fake: FakeDiscord, tmp_path: Path
) -> None:
    async with running_bot(fake, tmp_path, mock_delay=0.2) as h:
        image = ("fox.png", png_bytes(640, 480), "image/png")
        handle = await fake.slash(
            "edit", {"prompt": "make it winter", "n": 2}, attachments={"image": image}
        )
        first = await finished(h, handle)
        vary = await fake.click(first.message_ids[0], f"wanbot:vary:{first.id}")
        await vary.wait_acknowledged()
        menu = vary.original_message()
        assert menu is not None and menu.ephemeral
        select = menu.components[0]["components"][0]
        assert [o["value"] for o in select["options"]] == ["0", "1", "remix"]
        assert select["options"][2]["label"] == "Remix: change the prompt"
        picked = await fake.click(menu.id, select["custom_id"], values=["remix"])
        await picked.wait_acknowledged()
        assert inputs(picked.modal)[PROMPT_INPUT]["value"] == "make it winter"
        submitted = await fake.submit_modal(picked, {PROMPT_INPUT: "make it autumn"})
        remix = await finished(h, submitted)
        assert remix.kind == "edit" and remix.parent_job_id == first.id
        assert remix.request.prompt == "make it autumn"
        assert remix.request.input_images == first.request.input_images
        assert "from https://discord.com/channels/" in h.placeholder(remix).content

        # Once the inputs are no longer kept, Remix says so instead of opening the box.
        forget([Path(kept.path) for kept in first.request.input_images])
        click = await open_remix(h, first, "alice")
        assert click.modal is None
        reply = click.original_message()
        assert reply is not None and reply.ephemeral and "no longer kept" in reply.content
        assert fake.violations == []
