"""The README's quick start, as a newcomer runs it: `python bot.py` in the project folder.

No `--config`, no provider key, the built-in defaults with their relative paths (`data/`,
`sqlite:///data/wanbot.db`). The only thing pointed elsewhere is Discord: a `./config.toml` holding
nothing but the two Discord URLs, read because it sits in the working directory. The project is
copied to a temporary folder so the run writes its `data/` there, never into the checkout.
"""

from __future__ import annotations

import io
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

from tests.e2e.subprocess_bot import ROOT, BotProcess
from tests.fakes.discord_server import FakeDiscord

IGNORED = shutil.ignore_patterns("__pycache__", "*.pyc", "data", "*.egg-info")


def copy_project(dest: Path) -> Path:
    dest.mkdir()
    shutil.copy2(ROOT / "bot.py", dest / "bot.py")
    for package in ("wanbot", "cogs"):
        shutil.copytree(ROOT / package, dest / package, ignore=IGNORED)
    return dest


@pytest.fixture
def project(tmp_path: Path, fake: FakeDiscord) -> Iterator[Path]:
    folder = copy_project(tmp_path / "wanbot")
    (folder / "config.toml").write_text(
        f'[discord]\napi_base_url = "{fake.api_base_url}"\ngateway_url = "{fake.gateway_url}"\n'
    )
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


async def test_quick_start_delivers_a_mock_image(
    fake: FakeDiscord, project: Path, tmp_path: Path
) -> None:
    bot = BotProcess(None, {"DISCORD_TOKEN": fake.token}, tmp_path / "bot.log", cwd=project)
    try:
        await bot.start_connected(fake, within_s=30)
        handle = await fake.slash("imagine", {"prompt": "a first fox"}, user="alice")
        await handle.wait_acknowledged()

        def settled() -> bool:
            message = handle.original_message()
            return message is not None and (
                bool(message.attachments) or "went wrong" in message.content
            )

        await bot.wait_until(settled, "the image to be delivered", within_s=40)
        message = handle.original_message()
        assert message is not None
        image = Image.open(io.BytesIO(message.attachments[0].data))
        assert image.format == "PNG"
        assert "a first fox" in message.content and "Mock" in message.content
        assert "Something went wrong" not in message.content
        # The mock is free, as the README says: nothing of the 50-credit allowance was spent.
        assert "0 credits, 50 left" in message.content
        # Everything it wrote went under the project folder it was started in.
        assert (project / "data" / "wanbot.db").is_file()
        assert list((project / "data" / "mock").glob("*.png"))
        assert fake.violations == []
        assert await bot.terminate() == 0
    finally:
        bot.close()
