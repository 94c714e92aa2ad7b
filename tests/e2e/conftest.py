from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.conftest import leaked, remember_secret
from tests.fakes.discord_server import FakeDiscord


@pytest.fixture
def make_fake() -> Iterator[Callable[..., FakeDiscord]]:
    fakes: list[FakeDiscord] = []

    def make(**options: Any) -> FakeDiscord:
        fake = FakeDiscord(**options)
        fake.start()
        remember_secret(fake.token)
        fakes.append(fake)
        return fake

    yield make
    for fake in fakes:
        shown = [
            m.content + json.dumps(m.embeds) + json.dumps(m.components)
            for m in fake.messages(include_deleted=True)
        ]
        fake.stop()
        assert [text for text in shown if leaked(text)] == [], "a secret reached Discord"


@pytest.fixture
def fake(make_fake: Callable[..., FakeDiscord]) -> FakeDiscord:
    return make_fake()
