"""One typed configuration: a TOML file for settings, the environment for secrets.

Every problem is reported as one readable line naming the key, so `bot.py --check` can print them
and exit 1 without a traceback.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

ProviderName = Literal["pixeldojo", "skillsvideo", "dashscope", "mock"]
PROVIDER_NAMES: tuple[ProviderName, ...] = ("pixeldojo", "skillsvideo", "dashscope", "mock")
KEYED_PROVIDERS: tuple[ProviderName, ...] = ("pixeldojo", "skillsvideo", "dashscope")

PositiveInt = Annotated[int, Field(ge=1)]
NonNegativeInt = Annotated[int, Field(ge=0)]


def http_url(value: str) -> str:
    """An http(s) base URL without its trailing slash; ValueError otherwise."""
    if not value.startswith(("http://", "https://")):
        raise ValueError("must start with http:// or https://")
    return value.rstrip("/")


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DiscordConfig(Section):
    api_base_url: str = "https://discord.com/api/v10"
    gateway_url: str = "wss://gateway.discord.gg/"
    command_sync: Literal["global", "off"] | list[int] = "global"
    allowed_guilds: list[int] = []  # servers this bot serves; empty: any server it is in
    shard_count: NonNegativeInt = 0  # total shards across processes; 0: Discord's recommendation
    shard_ids: list[NonNegativeInt] = []  # the shards this process runs; empty: all

    @model_validator(mode="after")
    def _shards_in_range(self) -> DiscordConfig:
        if self.shard_ids and not self.shard_count:
            raise ValueError("shard_ids needs shard_count (the total across all processes)")
        outside = [i for i in self.shard_ids if i >= self.shard_count]
        if self.shard_ids and outside:
            raise ValueError(f"shard_ids {outside} are not below shard_count {self.shard_count}")
        if len(set(self.shard_ids)) != len(self.shard_ids):
            raise ValueError("shard_ids lists a shard twice")
        return self

    @property
    def sharded(self) -> bool:
        return bool(self.shard_count or self.shard_ids)

    @property
    def runs_shard_zero(self) -> bool:
        """Whether this process runs shard 0 (all shards, or a list with 0): the one that syncs
        commands, so several processes sync once."""
        return not self.shard_ids or 0 in self.shard_ids

    @field_validator("api_base_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        return http_url(value)

    @field_validator("gateway_url")
    @classmethod
    def _ws_url(cls, value: str) -> str:
        if not value.startswith(("ws://", "wss://")):
            raise ValueError("must start with ws:// or wss://")
        return value


class StorageConfig(Section):
    url: str = "sqlite:///data/wanbot.db"
    keep_prompts_days: NonNegativeInt = 90

    @field_validator("url")
    @classmethod
    def _known_engine(cls, value: str) -> str:
        if not value.startswith(("sqlite:///", "postgresql://", "postgres://")):
            raise ValueError("use sqlite:///PATH or postgresql://USER:PASSWORD@HOST:PORT/DATABASE")
        return value

    @property
    def sqlite_path(self) -> Path:
        return Path(self.url.removeprefix("sqlite:///"))


class GenerationConfig(Section):
    provider: ProviderName | Literal["auto"] = "auto"
    fallback: list[ProviderName] = []
    # Jobs in flight in all. Most of a job's life is waiting on its host (one task, a status
    # request every few seconds), so this is above one host's window: below it, it would cap
    # every host's learned window (it was 8, under the default ceiling of 16).
    max_concurrent_jobs: PositiveInt = 32
    # The ceiling of a host's adaptive window (see wanbot.jobs.scheduler): hosts run jobs in
    # parallel and say when to slow down (429/503), so the bot need not guess low.
    max_jobs_per_provider: PositiveInt = 16
    max_running_per_user: PositiveInt = 2
    max_queued_per_user: PositiveInt = 5
    job_timeout_s: Annotated[float, Field(gt=0)] = 600.0
    cooldown_s: Annotated[float, Field(ge=0)] = 0.0
    data_dir: str = "data"


class CreditsConfig(Section):
    allowance: NonNegativeInt = 50
    period: Literal["daily", "weekly", "monthly", "never"] = "daily"
    image_cost: NonNegativeInt = 2
    daily_cap_per_guild: NonNegativeInt = 0
    daily_cap_total: NonNegativeInt = 0
    # Role id (as a string: TOML keys are strings) → allowance for members with that role.
    role_allowances: dict[str, NonNegativeInt] = {}

    @field_validator("role_allowances")
    @classmethod
    def _role_ids(cls, value: dict[str, int]) -> dict[str, int]:
        bad = [key for key in value if not key.strip().isdigit()]
        if bad:
            raise ValueError(f"keys must be role ids (digits); got {', '.join(map(repr, bad))}")
        return {key.strip(): amount for key, amount in value.items()}


class ProviderSection(Section):
    base_url: str
    model: str
    image_cost: NonNegativeInt | None = None
    timeout_s: Annotated[float, Field(gt=0)] = 30.0
    # Status requests per second, all jobs on this host together (None: the host's documented
    # limit where there is one; see wanbot.jobs.polling.DEFAULT_POLL_RATES).
    polls_per_s: Annotated[float, Field(gt=0)] | None = None

    @field_validator("base_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        return http_url(value)


class PixelDojoConfig(ProviderSection):
    base_url: str = "https://pixeldojo.ai/api/v1"
    model: str = "wan-2.7-image-pro"
    # Warn once when the host's balance falls under this (0: never).
    low_balance: Annotated[float, Field(ge=0)] = 0.0
    image_field: Literal["images", "image_urls", "image_url"] | None = None


class SkillsVideoConfig(ProviderSection):
    base_url: str = "https://open.skills.video/api/v1"
    model: str = "wan/wan-v2.7-pro"
    use_stream: bool = True
    low_balance: Annotated[float, Field(ge=0)] = 0.0


class DashScopeConfig(ProviderSection):
    base_url: str = "https://dashscope-intl.aliyuncs.com/api/v1"
    model: str = "wan2.7-image-pro"


class MockConfig(Section):
    delay_s: Annotated[float, Field(ge=0)] = 3.0
    image_cost: NonNegativeInt = 0  # its images are marked MOCK: free unless an operator says


class ProvidersConfig(Section):
    pixeldojo: PixelDojoConfig = PixelDojoConfig()
    skillsvideo: SkillsVideoConfig = SkillsVideoConfig()
    dashscope: DashScopeConfig = DashScopeConfig()
    mock: MockConfig = MockConfig()


class LoggingConfig(Section):
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    format: Literal["text", "json"] = "text"


class HttpConfig(Section):
    listen: str = ""
    public_url: str = ""

    @field_validator("listen")
    @classmethod
    def _host_port(cls, value: str) -> str:
        value = value.strip()
        if value:
            parse_listen(value)
        return value

    @field_validator("public_url")
    @classmethod
    def _public_http_url(cls, value: str) -> str:
        value = value.strip()
        if value and not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value.rstrip("/")

    @property
    def address(self) -> tuple[str, int] | None:
        """(host, port) to serve on, or None when the HTTP server is off."""
        return parse_listen(self.listen) if self.listen else None


def parse_listen(value: str) -> tuple[str, int]:
    """Split `HOST:PORT` (IPv6 as `[::1]:8080`) into (host, port); ValueError says what is wrong."""
    host, sep, port_text = value.rpartition(":")
    if not sep or not host or not port_text.isdigit():
        raise ValueError('must be "HOST:PORT", e.g. "127.0.0.1:8080" or "0.0.0.0:8080"')
    port = int(port_text)
    if not 0 <= port < 65536:
        raise ValueError(f"port {port} is not between 0 (any free port) and 65535")
    return host.removeprefix("[").removesuffix("]"), port


class Settings(Section):
    discord: DiscordConfig = DiscordConfig()
    storage: StorageConfig = StorageConfig()
    generation: GenerationConfig = GenerationConfig()
    credits: CreditsConfig = CreditsConfig()
    providers: ProvidersConfig = ProvidersConfig()
    logging: LoggingConfig = LoggingConfig()
    http: HttpConfig = HttpConfig()


@dataclass(frozen=True, repr=False)
class Secrets:
    discord_token: str | None
    provider_keys: Mapping[ProviderName, str]

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Secrets:
        env = os.environ if env is None else env
        keys: dict[ProviderName, str] = {}
        for name in KEYED_PROVIDERS:
            value = env.get(f"{name.upper()}_API_KEY", "").strip()
            if value:
                keys[name] = value
        token = env.get("DISCORD_TOKEN", "").strip() or None
        return cls(discord_token=token, provider_keys=keys)

    def values(self) -> list[str]:
        """Every secret value, for log redaction."""
        found = [*self.provider_keys.values()]
        if self.discord_token:
            found.append(self.discord_token)
        return found

    def __repr__(self) -> str:
        return "Secrets(<redacted>)"


@dataclass(frozen=True)
class Config:
    settings: Settings
    secrets: Secrets
    source: Path | None

    @property
    def default_provider(self) -> ProviderName:
        chosen = self.settings.generation.provider
        if chosen != "auto":
            return chosen
        for name in KEYED_PROVIDERS:
            if name in self.secrets.provider_keys:
                return name
        return "mock"

    def enabled_providers(self) -> list[ProviderName]:
        """Providers that can be used: keyed ones with their key set, and always the mock."""
        return [n for n in PROVIDER_NAMES if n == "mock" or n in self.secrets.provider_keys]


class ConfigError(Exception):
    """The configuration cannot be used; `problems` holds one readable line each."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


def _describe(error: ValidationError) -> list[str]:
    lines = []
    for item in error.errors():
        key = ".".join(str(p) for p in item["loc"])
        if item["type"] == "extra_forbidden":
            lines.append(f"{key}: unknown key")
            continue
        given = item.get("input")
        message = item["msg"].removeprefix("Value error, ")
        # A database URL may carry a password: never echo it.
        hidden = isinstance(given, dict) or given is None or key == "storage.url"
        shown = "" if hidden else f" (got {given!r})"
        lines.append(f"{key}: {message}{shown}")
    return lines


def resolve_path(cli_path: str | None, env: Mapping[str, str] | None = None) -> Path | None:
    """The file to read: `--config`, else `WANBOT_CONFIG`, else `./config.toml` if it exists."""
    env = os.environ if env is None else env
    if cli_path:
        return Path(cli_path)
    if env.get("WANBOT_CONFIG"):
        return Path(env["WANBOT_CONFIG"])
    default = Path("config.toml")
    return default if default.exists() else None


def load_config(path: Path | None, env: Mapping[str, str] | None = None) -> Config:
    """Read and validate everything; raise ConfigError listing every problem found."""
    raw: dict[str, object] = {}
    problems: list[str] = []
    if path is not None:
        try:
            raw = tomllib.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError([f"config file {path} does not exist"]) from None
        except tomllib.TOMLDecodeError as e:
            raise ConfigError([f"{path} is not valid TOML: {e}"]) from None
    try:
        settings = Settings.model_validate(raw)
    except ValidationError as e:
        raise ConfigError(_describe(e)) from None
    settings = anchored(settings, Path.cwd())
    secrets = Secrets.from_env(env)
    config = Config(settings=settings, secrets=secrets, source=path)
    chosen = settings.generation.provider
    if chosen not in ("auto", "mock") and chosen not in secrets.provider_keys:
        problems.append(
            f"generation.provider: {chosen!r} needs {chosen.upper()}_API_KEY in the environment"
        )
    if problems:
        raise ConfigError(problems)
    return config


def anchored(settings: Settings, base: Path) -> Settings:
    """The settings with `data_dir` and the SQLite path made absolute against `base`, once.

    Paths are resolved when the config is loaded, not wherever they are used: a file URI, a stored
    input path or a restart in another working directory must all mean the same folder.
    """
    generation = settings.generation
    data_dir = (base / Path(generation.data_dir).expanduser()).resolve()
    update: dict[str, Section] = {
        "generation": generation.model_copy(update={"data_dir": str(data_dir)})
    }
    storage = settings.storage
    if storage.url.startswith("sqlite:///"):
        database = (base / storage.sqlite_path.expanduser()).resolve()
        update["storage"] = storage.model_copy(update={"url": f"sqlite:///{database}"})
    return settings.model_copy(update=update)


def warnings_for(config: Config) -> list[str]:
    """What is allowed but probably a mistake, one line each (`--check` prints them)."""
    found = []
    if not config.settings.discord.allowed_guilds:
        found.append(
            "discord.allowed_guilds is empty: any server that adds the bot can use it and spend "
            "its credits; list your servers' ids there and switch off Public Bot in the "
            "Developer Portal"
        )
    return found


def check_runnable(config: Config) -> list[str]:
    """Problems that stop the bot from running (beyond a valid file)."""
    if not config.secrets.discord_token:
        return ["DISCORD_TOKEN is not set: put the bot token in the environment"]
    return []
