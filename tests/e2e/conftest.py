from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.fakes.discord_server import FakeDiscord


@pytest.fixture
def make_fake() -> Iterator[Callable[..., FakeDiscord]]:
    fakes: list[FakeDiscord] = []

    def make(**options: Any) -> FakeDiscord:
        fake = FakeDiscord(**options)
        fake.start()
        fakes.append(fake)
        return fake

    yield make
    for fake in fakes:
        fake.stop()


@pytest.fixture
def fake(make_fake: Callable[..., FakeDiscord]) -> FakeDiscord:
    return make_fake()
