"""Settings: defaults, parsing, one clear line per bad value, secrets kept out of messages."""

from __future__ import annotations

import re
from datetime import time, timedelta
from pathlib import Path

import pytest

from config.logging import SecretFilter
from config.settings import Settings, SettingsError, format_offsets, load_settings, parse_offsets

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in list(__import__("os").environ):
        if name.startswith("DUBAN_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)  # no stray .env


def test_defaults() -> None:
    settings = load_settings()
    assert settings.reminder_offsets == tuple(timedelta(days=d) for d in (14, 7, 3, 1, 0))
    assert settings.quiet_hours == (time(21), time(8))
    assert settings.bot_token is None
    assert str(settings.tz) == "Asia/Shanghai"


def test_env_example_documents_every_setting() -> None:
    documented = set(re.findall(r"^(DUBAN_\w+)=", (ROOT / ".env.example").read_text(), re.M))
    assert documented == {f"DUBAN_{name.upper()}" for name in Settings.model_fields}


def test_env_example_loads_as_it_is(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / ".env").write_text((ROOT / ".env.example").read_text())
    settings = load_settings()
    assert settings.bot_token is None and settings.wecom_agent_id is None


def test_offsets_round_trip() -> None:
    offsets = parse_offsets("7d, 14d,1h，30m,0d")
    assert format_offsets(offsets) == "14d,7d,1h,30m,0d"


@pytest.mark.parametrize(("name", "value", "fragment"), [
    ("DUBAN_QUIET_HOURS", "21-8", "HH:MM"),
    ("DUBAN_REMINDER_OFFSETS", "2w", "14d,7d"),
    ("DUBAN_TIMEZONE", "Mars/Olympus", "时区"),
    ("DUBAN_SEND_RATE", "fast", "数字"),
    ("DUBAN_SUMMARY_CRON", "every monday", "cron"),
    ("DUBAN_WECOM_AES_KEY", "short", "43"),
    ("DUBAN_TELEGRAM_API_URL", "api.telegram.org", "http"),
    ("DUBAN_HTTP_PORT", "99999", "太大"),
    ("DUBAN_REDIS_URL", "127.0.0.1:6379", "redis://"),
    ("DUBAN_DATABASE_URL", "", "sqlite+aiosqlite"),
    ("DUBAN_DATABASE_URL", "postgres://duban@db.internal/duban", "postgresql+asyncpg"),
    ("DUBAN_SEND_LEASE_SECONDS", "0", "太小"),
])
def test_a_bad_setting_is_one_line_naming_it(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, fragment: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError) as caught:
        load_settings()
    message = str(caught.value)
    assert "\n" not in message and name in message and fragment in message


@pytest.mark.parametrize(("values", "name"), [
    ({"DUBAN_WECOM_CORP_ID": "ww0a1b2c3d4e5f6789"}, "DUBAN_WECOM_AGENT_ID"),
    ({"DUBAN_WECOM_CORP_ID": "ww0a", "DUBAN_WECOM_AGENT_ID": "1000002",
      "DUBAN_WECOM_SECRET": "s", "DUBAN_WECOM_AES_KEY": "a" * 43}, "DUBAN_WECOM_TOKEN"),
    ({"DUBAN_WEBHOOK_URL": "https://duban.example.cn/tg", "DUBAN_BOT_TOKEN": "1:x"},
     "DUBAN_WEBHOOK_SECRET"),
    ({"DUBAN_WEBHOOK_URL": "https://duban.example.cn/tg", "DUBAN_BOT_TOKEN": "1:x",
      "DUBAN_WEBHOOK_SECRET": "has space"}, "DUBAN_WEBHOOK_SECRET"),
    ({"DUBAN_WEBHOOK_URL": "https://duban.example.cn/tg", "DUBAN_WEBHOOK_SECRET": "ok"},
     "DUBAN_BOT_TOKEN"),
])
def test_a_channel_needs_all_its_settings(
    monkeypatch: pytest.MonkeyPatch, values: dict[str, str], name: str
) -> None:
    for key, value in values.items():
        monkeypatch.setenv(key, value)
    with pytest.raises(SettingsError) as caught:
        load_settings()
    message = str(caught.value)
    assert message.startswith(f"设置错误 {name}:") and "\n" not in message


def test_wecom_switches_on_with_all_five_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    assert not load_settings().wecom_enabled
    for key, value in {"CORP_ID": "ww0a", "AGENT_ID": "1000002", "SECRET": "s",
                       "TOKEN": "t", "AES_KEY": "a" * 43}.items():
        monkeypatch.setenv(f"DUBAN_WECOM_{key}", value)
    assert load_settings().wecom_enabled


def test_empty_quiet_hours_turn_them_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DUBAN_QUIET_HOURS", "")
    assert load_settings().quiet_hours is None


def test_a_bad_secret_is_not_echoed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DUBAN_WECOM_AES_KEY", "secret-value-that-is-wrong")
    with pytest.raises(SettingsError) as caught:
        load_settings()
    assert "secret-value" not in str(caught.value)


def test_a_database_password_in_a_bad_url_is_not_echoed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DUBAN_DATABASE_URL", "postgres://duban:hunter2-pass@db.internal/duban")
    with pytest.raises(SettingsError) as caught:
        load_settings()
    assert "hunter2-pass" not in str(caught.value)


def test_log_filter_blots_out_secrets() -> None:
    secrets = SecretFilter()
    secrets.add("s3cr3t-code")
    assert secrets.redact("invite s3cr3t-code used") == "invite *** used"
    assert "TOKEN" not in secrets.redact("GET /bot123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw/x")
    url = "/bot123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw/getMe"
    assert secrets.redact(url) == "/bot***/getMe"


def test_the_redis_password_is_kept_out_of_the_log(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DUBAN_REDIS_URL", "redis://:hunter2-pass@redis.internal:6379/0")
    assert "hunter2-pass" in load_settings().secrets()
