"""/set suffix end to end: the saved words reach the host on every prompt, are shown as the style,
are screened with the prompt, count toward the host's prompt limit, and `none` clears them."""

from __future__ import annotations

import json
from pathlib import Path

from tests.e2e.harness import Harness, png_bytes, running_bot
from tests.e2e.test_account_admin import admin, answer, refusal
from tests.fakes.discord_server import FakeDiscord
from tests.fakes.skillsvideo_server import FakeSkillsVideo
from wanbot.store.base import JobPhase

STYLE = "watercolor, soft light"


def sent_prompts(tmp_path: Path) -> list[str]:
    """The prompts the mock host received, oldest first."""
    records = [json.loads(p.read_text()) for p in (tmp_path / "data" / "mock").glob("*.json")]
    return [r["request"]["prompt"] for r in sorted(records, key=lambda r: r["submitted_at"])]


async def done(h: Harness, prompt: str, user: str = "alice") -> str:
    job = await h.wait_job((await h.job_for(await h.imagine(prompt, user=user))).id)
    assert job.state is JobPhase.DONE, job.error
    return h.placeholder(job).content


async def test_the_suffix_goes_on_every_prompt_and_shows_as_the_style(
    fake: FakeDiscord, tmp_path: Path
) -> None:
    async with running_bot(fake, tmp_path, mock_delay=0.2) as h:
        saved = await answer(await fake.slash("set", {"suffix": f"  {STYLE}  "}))
        assert saved.ephemeral
        assert f'Added to every prompt of yours: "{STYLE}"' in saved.content
        shown = await answer(await fake.slash("set", {}))
        assert f'"{STYLE}"' in shown.content
        stored = await h.store.get_preferences(fake.guild_id, h.user_id("alice"))
        assert stored["suffix"] == STYLE

        caption = await done(h, "a red fox")
        assert caption.startswith(f"a red fox — for <@{h.user_id('alice')}>\n")
        assert f"style: {STYLE}" in caption
        # An edit carries it too; another member's prompt does not.
        image = ("fox.png", png_bytes(640, 480), "image/png")
        handle = await fake.slash("edit", {"prompt": "in snow"}, attachments={"image": image})
        edited = await h.wait_job((await h.job_for(handle)).id)
        assert edited.state is JobPhase.DONE, edited.error
        bobs = await done(h, "a blue whale", user="bob")
        assert "style:" not in bobs
        assert sent_prompts(tmp_path) == [
            f"a red fox, {STYLE}",
            f"in snow, {STYLE}",
            "a blue whale",
        ]

        cleared = await answer(await fake.slash("set", {"suffix": "none"}))
        assert "Added to every prompt" not in cleared.content
        assert "suffix" not in await h.store.get_preferences(fake.guild_id, h.user_id("alice"))
        plain = await done(h, "a red fox")
        assert "style:" not in plain
        assert sent_prompts(tmp_path)[-1] == "a red fox"
        assert fake.violations == []


async def test_the_suffix_is_screened_with_the_prompt(fake: FakeDiscord, tmp_path: Path) -> None:
    async with running_bot(fake, tmp_path, mock_delay=0.2) as h:
        await admin(h, "blocklist", action="add", term="soft light")
        await answer(await fake.slash("set", {"suffix": STYLE}))
        text = await refusal(await h.imagine("a calm lake"))
        assert 'blocklist ("soft light")' in text
        assert await h.store.jobs_in(list(JobPhase)) == []
        assert sent_prompts(tmp_path) == []


async def test_the_suffix_counts_toward_the_hosts_prompt_limit(
    fake: FakeDiscord, tmp_path: Path
) -> None:
    async with FakeSkillsVideo(job_duration_s=0.2) as server:
        toml = f'[providers.skillsvideo]\nbase_url = "{server.base_url}"\n'
        env = {"SKILLSVIDEO_API_KEY": server.api_key}
        async with running_bot(fake, tmp_path, extra_toml=toml, env=env) as h:
            await answer(await fake.slash("set", {"suffix": STYLE}))
            prompt = "a fox " * 330  # 1,980 characters: under skills.video's 2,000 alone
            text = await refusal(await h.imagine(prompt.strip(), provider="skillsvideo"))
            length = len(prompt.strip()) + len(", ") + len(STYLE)
            assert (
                f"With your suffix the prompt has {length:,} characters; skills.video takes up "
                "to 2,000." in text
            )
            assert "/set suffix:" in text
            assert server.requests == []
            assert await h.store.ledger(fake.guild_id, h.user_id("alice")) == []

            # Within the limit with the suffix, it goes to the host whole.
            job = await h.job_for(await h.imagine("a fox", provider="skillsvideo"))
            assert (await h.wait_job(job.id)).state is JobPhase.DONE
            [submission] = server.submissions("")
            assert submission.body["prompt"] == f"a fox, {STYLE}"


async def test_a_bad_suffix_is_refused_and_nothing_saved(fake: FakeDiscord, tmp_path: Path) -> None:
    async with running_bot(fake, tmp_path) as h:
        text = await refusal(await fake.slash("set", {"suffix": "\u200b \u200b"}))
        assert "That suffix is empty" in text
        assert await h.store.get_preferences(fake.guild_id, h.user_id("alice")) == {}
