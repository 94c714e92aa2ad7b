"""Building the enabled providers from the configuration, once, in `main()`."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from wanbot.config import Config, ProviderName, ProviderSection
from wanbot.providers.base import Provider
from wanbot.providers.dashscope import DashScopeProvider
from wanbot.providers.hosted import HostedProvider
from wanbot.providers.mock import MockProvider
from wanbot.providers.pixeldojo import PixelDojoProvider
from wanbot.providers.skillsvideo import SkillsVideoProvider

log = logging.getLogger(__name__)

# Every keyed image host: the name is its config section ([providers.NAME]) and NAME_API_KEY.
HOSTS: dict[ProviderName, type[HostedProvider[Any]]] = {
    "pixeldojo": PixelDojoProvider,
    "skillsvideo": SkillsVideoProvider,
    "dashscope": DashScopeProvider,
}

# A first guess at how long a job takes, until the bot has timed some of its own.
FIRST_GUESS_S = {"pixeldojo": 40.0, "skillsvideo": 40.0, "dashscope": 40.0}


@dataclass
class ProviderSet:
    """The enabled providers, the default and the fallback order."""

    providers: dict[str, Provider]
    default: str
    fallback: Sequence[str] = ()
    expected_s: dict[str, float] = field(default_factory=dict)

    def get(self, name: str) -> Provider:
        return self.providers[name]

    def label(self, name: str) -> str:
        provider = self.providers.get(name)
        return provider.label if provider else name

    def candidates(self, first: str) -> list[Provider]:
        order = [first, *(n for n in self.fallback if n != first)]
        return [self.providers[n] for n in order if n in self.providers]


def build_providers(config: Config, session: aiohttp.ClientSession, data_dir: Path) -> ProviderSet:
    settings = config.settings.providers
    keys = config.secrets.provider_keys
    providers: dict[str, Provider] = {}
    for name, host in HOSTS.items():
        if name not in keys:
            log.warning("%s is disabled: %s_API_KEY is not set", name, name.upper())
            continue
        section: ProviderSection = getattr(settings, name)
        providers[name] = host(section, api_key=keys[name], session=session)
    providers["mock"] = MockProvider(settings.mock, data_dir=data_dir)
    expected = dict(FIRST_GUESS_S)
    expected["mock"] = settings.mock.delay_s
    fallback = [n for n in config.settings.generation.fallback if n in providers]
    return ProviderSet(
        providers=providers,
        default=config.default_provider,
        fallback=fallback,
        expected_s=expected,
    )
