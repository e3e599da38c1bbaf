"""Duban's settings: every `DUBAN_*` environment variable (or `.env` line), parsed and checked."""

from __future__ import annotations

import re
from datetime import time, timedelta
from typing import Annotated, Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from config.robots import Robot, parse_robot

_OFFSET = re.compile(r"^(\d{1,4})([dhm])$")
_CLOCK = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")
_UNIT_SECONDS = {"d": 86400, "h": 3600, "m": 60}
# Telegram's rule for a webhook's secret_token.
_WEBHOOK_SECRET = re.compile(r"^[A-Za-z0-9_-]{1,256}$")
WECOM_SETTINGS = ("wecom_corp_id", "wecom_agent_id", "wecom_secret", "wecom_token",
                  "wecom_aes_key")


def parse_offsets(text: str) -> tuple[timedelta, ...]:
    """Parse `14d,7d,3d,1d,0d` (units d, h, m) into offsets before the due moment, largest first."""
    parts = [p.strip().lower() for p in text.replace("，", ",").split(",") if p.strip()]
    if not parts:
        raise ValueError("至少写一个提醒时间，例如 14d,7d,3d,1d,0d")
    offsets = set()
    for part in parts:
        match = _OFFSET.match(part)
        if not match:
            raise ValueError(f"无法识别「{part}」，应写成 14d,7d,3d,1d,0d（单位 d/h/m）")
        offsets.add(timedelta(seconds=int(match[1]) * _UNIT_SECONDS[match[2]]))
    return tuple(sorted(offsets, reverse=True))


def format_offsets(offsets: tuple[timedelta, ...]) -> str:
    """The inverse of `parse_offsets`, in the largest unit that divides each offset."""
    words = []
    for offset in offsets:
        seconds = int(offset.total_seconds())
        unit = next(u for u in "dhm" if seconds % _UNIT_SECONDS[u] == 0 or u == "m")
        words.append(f"{seconds // _UNIT_SECONDS[unit]}{unit}")
    return ",".join(words)


def parse_clock(text: str) -> time:
    match = _CLOCK.match(text.strip())
    if not match:
        raise ValueError(f"时间「{text}」应写成 HH:MM，例如 09:00")
    return time(int(match[1]), int(match[2]))


class Settings(BaseSettings):
    """All settings; built in `main()`, never at import time, so tests can build their own."""

    model_config = SettingsConfigDict(
        env_prefix="DUBAN_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    bot_token: SecretStr | None = None
    telegram_api_url: str = "https://api.telegram.org"
    database_url: str = "sqlite+aiosqlite:///duban.db"
    timezone: str = "Asia/Shanghai"
    language: Literal["zh", "en"] = "zh"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"

    reminder_offsets: Annotated[tuple[timedelta, ...], NoDecode] = parse_offsets("14d,7d,3d,1d,0d")
    reminder_time: Annotated[time, NoDecode] = time(9, 0)
    due_time: Annotated[time, NoDecode] = time(18, 0)
    quiet_hours: Annotated[tuple[time, time] | None, NoDecode] = (time(21, 0), time(8, 0))
    workdays_only: bool = True
    internal_deadline_workdays: int = Field(5, ge=0, le=60)
    stale_days: int = Field(7, ge=1, le=90)
    escalation_hours: int = Field(24, ge=1, le=240)
    catch_up_grace_hours: float = Field(24, ge=0)
    summary_cron: str = "30 8 * * mon"
    invite_ttl_days: int = Field(7, ge=1, le=365)
    # Files sent to the bot for import; the Bot API lets bots download up to 20 MB.
    import_max_mb: float = Field(5, gt=0, le=20)

    send_rate: float = Field(25, gt=0, le=1000)
    # How long a claimed message stays a sender's before another copy may take it (renewed while
    # it works), and how long one send may take before it counts as failed and is retried.
    send_lease_seconds: float = Field(30, ge=1, le=3600)
    send_timeout_seconds: int = Field(20, ge=1, le=300)
    dispatch_interval_seconds: float = Field(5, gt=0, le=3600)

    http_host: str = "127.0.0.1"
    http_port: int = Field(8080, ge=0, le=65535)
    webhook_url: str | None = None
    webhook_secret: SecretStr | None = None

    wecom_corp_id: str | None = None
    wecom_agent_id: int | None = None
    wecom_secret: SecretStr | None = None
    wecom_token: SecretStr | None = None
    wecom_aes_key: SecretStr | None = None
    wecom_api_url: str = "https://qyapi.weixin.qq.com"

    summary_webhooks: Annotated[tuple[str, ...], NoDecode] = ()
    redis_url: str | None = None

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def wecom_enabled(self) -> bool:
        return all(getattr(self, name) is not None for name in WECOM_SETTINGS)

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as error:
            raise ValueError(f"未知时区「{value}」，例如 Asia/Shanghai") from error
        return value

    @field_validator(
        "bot_token", "webhook_url", "webhook_secret", "wecom_corp_id", "wecom_agent_id",
        "wecom_secret", "wecom_token", "wecom_aes_key", "redis_url", mode="before",
    )
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        # `.env.example` lists every variable; an empty line there means "not set".
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("reminder_offsets", mode="before")
    @classmethod
    def _offsets(cls, value: object) -> object:
        return parse_offsets(value) if isinstance(value, str) else value

    @field_validator("reminder_time", "due_time", mode="before")
    @classmethod
    def _clock(cls, value: object) -> object:
        return parse_clock(value) if isinstance(value, str) else value

    @field_validator("quiet_hours", mode="before")
    @classmethod
    def _quiet(cls, value: object) -> object:
        if not isinstance(value, str):
            return value
        if not value.strip():
            return None
        start, sep, end = value.partition("-")
        if not sep:
            raise ValueError("应写成 HH:MM-HH:MM，例如 21:00-08:00；留空表示不设免打扰")
        return (parse_clock(start), parse_clock(end))

    @field_validator("summary_webhooks", mode="before")
    @classmethod
    def _urls(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(u.strip() for u in value.split(",") if u.strip())
        return value

    @field_validator("summary_webhooks")
    @classmethod
    def _robots(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for number, url in enumerate(value, start=1):
            parse_robot(url, number)
        return value

    @property
    def robots(self) -> tuple[Robot, ...]:
        return tuple(parse_robot(url, n) for n, url in enumerate(self.summary_webhooks, start=1))

    @field_validator("summary_cron")
    @classmethod
    def _cron(cls, value: str) -> str:
        from apscheduler.triggers.cron import CronTrigger

        try:
            CronTrigger.from_crontab(value)
        except ValueError as error:
            raise ValueError(f"cron 表达式「{value}」无效，例如 30 8 * * mon") from error
        return value

    @field_validator("telegram_api_url", "wecom_api_url", "webhook_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"^https?://[^\s/]+", value):
            raise ValueError("应为 http:// 或 https:// 开头的地址")
        return value.rstrip("/") if value else value

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, value: str) -> str:
        if not re.match(r"^(sqlite\+aiosqlite|postgresql\+asyncpg)://", value):
            raise ValueError("应为 sqlite+aiosqlite:/// 或 postgresql+asyncpg:// 开头的地址，"
                             "例如 sqlite+aiosqlite:///duban.db")
        return value

    @field_validator("redis_url")
    @classmethod
    def _redis_url(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"^(rediss?|unix)://", value):
            raise ValueError("应为 redis://、rediss:// 或 unix:// 开头的地址，"
                             "例如 redis://127.0.0.1:6379/0")
        return value

    @field_validator("wecom_aes_key")
    @classmethod
    def _aes_key(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value()) != 43:
            raise ValueError("EncodingAESKey 应为 43 个字符（从企业微信后台复制）")
        return value

    @field_validator("webhook_secret")
    @classmethod
    def _webhook_secret(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not _WEBHOOK_SECRET.match(value.get_secret_value()):
            raise ValueError("应为 1–256 个字符，只含字母、数字、_ 和 -")
        return value

    @model_validator(mode="after")
    def _channels_complete(self) -> Settings:
        # Raised as SettingsError directly: a missing companion setting has a name of its own.
        given = [name for name in WECOM_SETTINGS if getattr(self, name) is not None]
        if given and len(given) < len(WECOM_SETTINGS):
            missing = next(name for name in WECOM_SETTINGS if name not in given)
            raise SettingsError(f"设置错误 DUBAN_{missing.upper()}: 企业微信渠道需要同时设置 "
                                "DUBAN_WECOM_CORP_ID、_AGENT_ID、_SECRET、_TOKEN、_AES_KEY")
        if self.webhook_url and self.bot_token is None:
            raise SettingsError("设置错误 DUBAN_BOT_TOKEN: 设置了 DUBAN_WEBHOOK_URL（Telegram "
                                "webhook 模式）时必须设置机器人令牌")
        if self.webhook_url and self.webhook_secret is None:
            raise SettingsError("设置错误 DUBAN_WEBHOOK_SECRET: 设置了 DUBAN_WEBHOOK_URL 时必须"
                                "设置，1–256 个字符，只含字母、数字、_ 和 -")
        return self

    def secrets(self) -> list[str]:
        """Every secret value set, so the log filter can blot them out wherever they appear."""
        values = [self.bot_token, self.webhook_secret, self.wecom_secret, self.wecom_token,
                  self.wecom_aes_key]
        found = [v.get_secret_value() for v in values if v is not None and v.get_secret_value()]
        if self.redis_url and (password := urlsplit(self.redis_url).password):
            found.append(password)
        return found + [secret for robot in self.robots for secret in robot.secrets()]


_PLAIN_MESSAGES = {
    "int_parsing": "应为整数",
    "float_parsing": "应为数字",
    "bool_parsing": "应为 true 或 false",
    "greater_than": "数值太小",
    "greater_than_equal": "数值太小",
    "less_than_equal": "数值太大",
}


class SettingsError(Exception):
    """A bad setting, worded as one line that names the `DUBAN_*` variable."""


def load_settings(**overrides: object) -> Settings:
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as error:
        first = error.errors()[0]
        name = "DUBAN_" + "_".join(str(p) for p in first["loc"][:1]).upper()
        message = _PLAIN_MESSAGES.get(first["type"]) or str(first["msg"])
        message = message.removeprefix("Value error, ")
        raise SettingsError(f"设置错误 {name}: {message}") from None
