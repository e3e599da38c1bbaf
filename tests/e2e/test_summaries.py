"""Summaries over the wire: the weekly run through the fake Bot API once per period (a second
run, a restart or a second copy sends nothing more), `/summary` for every role, a failed photo
that leaves the text delivered, `duban summary --send`, and the real clock once."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime, timedelta

import pytest
from sqlalchemy import func, select

from core.app import Core
from core.clock import FrozenClock
from core.enums import Channel
from core.tasks import AssignRequest
from duban.runtime import send_summary_now
from scheduler.jobs import weekly_summary
from storage.models import OutboxItem
from tests.bureau import MONDAY, populate
from tests.conftest import TZ, Staff, make_settings
from tests.e2e.conftest import People
from tests.e2e.harness import JsonDict, Running, ask, text_of
from tests.fakes.telegram_api import FakeTelegram, FakeUser


def kind_of(message: JsonDict) -> str:
    return "photo" if "photo" in message else "document" if "document" in message else "text"


def kinds(user: FakeUser) -> list[str]:
    return [kind_of(m) for m in user.received()]


@pytest.fixture
async def bureau(core: Core, staff: Staff, clock: FrozenClock) -> Staff:
    """Filled before the service starts (request it before `duban`)."""
    await populate(core, staff, clock)
    return staff


async def summary_rows(core: Core) -> int:
    async with core.db.read() as session:
        count = await session.scalar(select(func.count()).select_from(OutboxItem).where(
            OutboxItem.kind.like("summary%")))
    return int(count or 0)


async def wait_summaries(fake: FakeTelegram, people: People, director: int, leaders: int) -> None:
    """Until the director has `director` messages and each leader `leaders` from the run."""
    await fake.wait_until(lambda: kinds(people.director).count("text") >= director
                          and len(people.leader.received()) >= leaders
                          and len(people.leader2.received()) >= leaders, timeout=20)


async def test_the_weekly_summary_goes_out_once_per_period(
    bureau: Staff, duban: Running, people: People, fake: FakeTelegram, clock: FrozenClock
) -> None:
    await weekly_summary(duban.core)
    await people.director.wait_for_message(lambda m: kind_of(m) == "document", timeout=20)
    await wait_summaries(fake, people, 1, 2)
    assert kinds(people.director) == ["text", "photo", "document"]
    director_text = text_of(people.director.received()[0])
    assert "全局项目汇总" in director_text and "张副局长：在办 3 项" in director_text
    assert people.director.received()[2]["document"]["file_name"] == "督办台账-2026-12-07.xlsx"
    assert [kind_of(m) for m in people.leader.received()] == ["text", "photo"]
    assert "张副局长分管" in text_of(people.leader.received()[0])
    assert "钱副局长分管" in text_of(people.leader2.received()[0])
    assert people.official.received() == [] and people.official2.received() == []
    rows = await summary_rows(duban.core)

    # The same period again: a second run, another copy, a restart.
    clock.advance(timedelta(minutes=3))
    await weekly_summary(duban.core)
    async with duban.offline_core() as other_copy:
        await weekly_summary(other_copy)
    await duban.restart()
    await weekly_summary(duban.core)
    assert await summary_rows(duban.core) == rows
    assert duban.service is not None
    assert not await duban.service.outbox.dispatch_due()
    assert kinds(people.director) == ["text", "photo", "document"]

    # Next Monday: a new period, sent once.
    clock.set(MONDAY + timedelta(days=7))
    await weekly_summary(duban.core)
    await weekly_summary(duban.core)
    await people.director.wait_for_message(
        lambda m: kind_of(m) == "document" and m["message_id"] > 3, timeout=20)
    assert kinds(people.director) == ["text", "photo", "document"] * 2
    assert "12月14日" in text_of(people.director.received()[3])


async def test_a_rate_limited_text_is_still_followed_by_its_chart(
    bureau: Staff, duban: Running, people: People, fake: FakeTelegram, clock: FrozenClock
) -> None:
    fake.fail_next("sendMessage", status=429, retry_after=1, chat_id=people.leader.id)
    await weekly_summary(duban.core)
    await fake.wait_until(lambda: any(call.status == 429 for call in fake.calls))
    await people.director.wait_for_message(lambda m: kind_of(m) == "document", timeout=20)
    assert people.leader.received() == []  # the chart waits behind the postponed text
    clock.advance(timedelta(seconds=2))
    duban.core.outbox_signal.wake()
    await people.leader.wait_for_message(lambda m: kind_of(m) == "photo", timeout=20)
    assert kinds(people.leader) == ["text", "photo"]


async def test_a_failed_photo_leaves_the_text(
    bureau: Staff, duban: Running, people: People, fake: FakeTelegram
) -> None:
    fake.fail_next("sendPhoto", status=400, chat_id=people.leader2.id,
                   description="Bad Request: IMAGE_PROCESS_FAILED")
    await weekly_summary(duban.core)
    await people.director.wait_for_message(lambda m: kind_of(m) == "document", timeout=20)
    await fake.wait_until(lambda: bool(people.leader2.received()))
    assert duban.service is not None
    while await duban.service.outbox.dispatch_due():
        pass  # until the leader's chart row has been tried
    assert kinds(people.leader2) == ["text"]
    async with duban.core.db.read() as session:
        chart = await session.scalar(select(OutboxItem).where(
            OutboxItem.kind == "summary_chart", OutboxItem.person_id == bureau.leader2.id))
    assert chart is not None and chart.status == "failed"


async def test_summary_for_each_role(
    bureau: Staff, duban: Running, people: People, fake: FakeTelegram
) -> None:
    async def summary(user: FakeUser, text: str = "/summary") -> list[JsonDict]:
        before = len(user.received())
        first = await ask(user, text)
        if "汇总" not in text_of(first):
            return [first]
        expected = 3 if user in (people.director, people.admin) and text in (
            "/summary", "汇总") else 2
        await fake.wait_until(lambda: len(user.received()) >= before + expected)
        return user.received()[before:]

    director = await summary(people.director)
    assert [kind_of(m) for m in director] == ["text", "photo", "document"]
    assert "全局项目汇总" in text_of(director[0]) and "📊 全局" in director[1]["caption"]
    admin = await summary(people.admin, "汇总")
    assert [kind_of(m) for m in admin] == ["text", "photo", "document"]
    leader = await summary(people.leader)
    assert [kind_of(m) for m in leader] == ["text", "photo"]
    assert "张副局长分管" in text_of(leader[0]) and "#5" not in text_of(leader[0])
    named = await summary(people.director, "/summary 钱副局长")
    assert "钱副局长分管" in text_of(named[0]) and len(named) == 2
    refused = await summary(people.leader, "/summary 钱副局长")
    assert "没有权限" in text_of(refused[0])
    assert "没有权限" in text_of((await summary(people.official))[0])
    unknown = await summary(people.director, "/summary 无名氏")
    assert "包抓领导「无名氏」未找到" in text_of(unknown[0])


async def test_duban_summary_send(
    bureau: Staff, core: Core, fake: FakeTelegram, people: People, database_url: str,
    clock: FrozenClock,
) -> None:
    settings = make_settings(database_url, telegram_api_url=fake.base_url)
    sender = Core(settings, core.db, clock)
    report = await send_summary_now(settings, sender, None)
    assert report.splitlines()[:2] == ["已生成 3 人的汇总。", "已发送 7 条消息。"]
    assert kinds(people.director) == ["text", "photo", "document"]
    leader = await sender.people.find("钱副局长", "leader")
    report = await send_summary_now(settings, sender, leader)
    assert report.splitlines()[:2] == ["已生成 1 人的汇总。", "已发送 2 条消息。"]
    assert kinds(people.leader2) == ["text", "photo"] * 2


@pytest.fixture
async def real_clock_service(
    fake: FakeTelegram, database_url: str, core: Core, staff: Staff
) -> AsyncIterator[Running]:
    """The service on the system clock, its summary cron set to the minute that just began."""
    now = datetime.now(TZ)
    await core.tasks.assign(staff.admin, AssignRequest(
        "李明", (now + timedelta(days=2)).strftime("%Y-%m-%d"), "真实时钟项目", "张副局长"),
        Channel.CLI)
    settings = make_settings(database_url, telegram_api_url=fake.base_url,
                             summary_cron=f"{now.minute} {now.hour} * * *")
    running = await Running(fake, settings, None).start()
    yield running
    await running.stop()


async def test_on_the_real_clock_a_run_missed_minutes_ago_is_caught_up_at_start(
    real_clock_service: Running, people: People, fake: FakeTelegram
) -> None:
    text = await people.leader.wait_for_message(lambda m: "张副局长分管" in text_of(m), timeout=20)
    assert "真实时钟项目" in text_of(text) and "剩2天" in text_of(text)
    await people.director.wait_for_message(lambda m: kind_of(m) == "document", timeout=20)
    assert kinds(people.director) == ["text", "photo", "document"]
