"""The command menu in Chinese and English, its failure not fatal; English speakers get English."""

from __future__ import annotations

from core.clock import FrozenClock
from tests.conftest import Staff, make_settings
from tests.e2e.conftest import People
from tests.e2e.harness import Running, ask, text_of
from tests.fakes.telegram_api import FakeTelegram


async def test_menu_is_registered_in_chinese_and_english(
    duban: Running, fake: FakeTelegram
) -> None:
    menus = {lang: {c["command"]: c["description"] for c in commands}
             for (scope, lang), commands in fake.commands.items() if scope == "default"}
    assert menus[""]["tasks"] == "我的任务" and menus["zh"]["tasks"] == "我的任务"
    assert menus["en"]["tasks"] == "My tasks"
    assert set(menus["en"]) == set(menus["zh"]) and "start" not in menus["zh"]


async def test_a_menu_failure_is_logged_not_fatal(
    fake: FakeTelegram, database_url: str, clock: FrozenClock, staff: Staff, people: People
) -> None:
    fake.fail_next("setMyCommands", status=500, count=3)
    running = await Running(fake, make_settings(database_url, telegram_api_url=fake.base_url),
                            clock).start()
    try:
        assert "王主任您好" in text_of(await ask(people.admin, "/start"))
    finally:
        await running.stop()
    assert fake.commands == {}


async def test_english_speakers_are_answered_in_english(
    duban: Running, staff: Staff, people: People, fake: FakeTelegram
) -> None:
    visitor = fake.user(3001, "Anna", language_code="en-US")
    assert "not registered" in text_of(await ask(visitor, "/tasks"))
    link = text_of(await ask(people.admin, "/invite official Anna"))
    code = link.split("start=")[1].split()[0]
    assert "Welcome, Anna" in text_of(await ask(visitor, f"/start {code}"))
    assert "No open tasks" in text_of(await ask(visitor, "/tasks"))
    assert "Unknown command /nope" in text_of(await ask(visitor, "/nope"))
