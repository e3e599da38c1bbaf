"""Deadline nudges over the wire: they arrive (several at once as one digest) with buttons,
稍后提醒 snoozes, 已提交 stops them; and one test on the real clock, a task due in minutes."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from core.clock import FrozenClock
from storage.models import OutboxItem, Task
from tests.conftest import TZ, Staff, in_one_pass_only, make_settings
from tests.e2e.conftest import People
from tests.e2e.harness import Running, ask, labels, tap, text_of
from tests.fakes.telegram_api import FakeTelegram

MONDAY_MORNING = datetime(2026, 12, 14, 9, 0, tzinfo=TZ)


async def pending_nudges(running: Running, task_id: int) -> list[datetime]:
    async with running.core.db.read() as session:
        rows = await session.scalars(select(OutboxItem.send_at).where(
            OutboxItem.task_id == task_id, OutboxItem.kind == "nudge",
            OutboxItem.status == "pending").order_by(OutboxItem.send_at))
        return list(rows)


async def test_nudges_arrive_as_one_digest_snooze_and_submitted_stop_them(
    duban: Running, staff: Staff, people: People, fake: FakeTelegram, clock: FrozenClock
) -> None:
    # Both are nudged on Monday 14 December at 09:00: #1 a week ahead, #2 three days ahead.
    await ask(people.admin, "/assign 李明 | 2026-12-21 | 高新技术企业认定 | 张副局长")
    await ask(people.admin, "/assign 李明 | 2026-12-17 17:00 | 科技型中小企业评价 | 张副局长")
    await people.official.wait_for_message(lambda m: "新任务 #2" in text_of(m))

    clock.set(MONDAY_MORNING)
    duban.core.outbox_signal.wake()
    digest = await people.official.wait_for_message(lambda m: "临近截止" in text_of(m))
    body = text_of(digest)
    assert "2 个任务临近截止" in body and body.index("#2") < body.index("#1")
    assert labels(fake, digest)[:4] == ["#2 已提交", "#2 进度", "#2 稍后", "#2 困难"]

    forged = await tap(people.official2, digest, data="snooze:1:1")
    assert "未找到任务 #1" in text_of(forged)
    picker = await tap(people.official, digest, "#1 稍后")
    assert "多久后再提醒" in text_of(picker) and labels(fake, picker) == ["1天", "3天"]
    snoozed = await tap(people.official, picker, "1天")
    assert "已记录 #1 稍后提醒" in text_of(snoozed)
    tomorrow = MONDAY_MORNING + timedelta(days=1)
    assert await pending_nudges(duban, 1) == [
        tomorrow, datetime(2026, 12, 18, 9, tzinfo=TZ), datetime(2026, 12, 21, 9, tzinfo=TZ)]

    clock.set(tomorrow)
    duban.core.outbox_signal.wake()
    again = await people.official.wait_for_message(lambda m: "稍后提醒到了" in text_of(m))
    assert "#1" in text_of(again) and labels(fake, again) == ["已提交", "更新进度", "稍后提醒",
                                                            "遇到困难"]
    done = await tap(people.official, again, "已提交")
    assert "已记录 #1 状态 已提交" in text_of(done)
    assert await pending_nudges(duban, 1) == []
    async with duban.core.db.read() as session:
        task = await session.get(Task, 1)
        assert task is not None and task.status == "submitted"


async def test_away_pauses_nudges_and_the_admin_may_send_someone_away(
    duban: Running, staff: Staff, people: People, fake: FakeTelegram
) -> None:
    await ask(people.admin, "/assign 李明 | 2026-12-21 | 高新技术企业认定 | 张副局长")
    await people.official.wait_for_message(lambda m: "新任务 #1" in text_of(m))
    answer = await ask(people.official, "/away 10")
    assert "李明 休假至 12月11日" in text_of(answer)
    assert (await pending_nudges(duban, 1))[0] == datetime(2026, 12, 11, 0, tzinfo=TZ)
    assert "没有权限" in text_of(await ask(people.official, "/away 孙丽 3"))
    assert "结束休假" in text_of(await ask(people.admin, "/away 李明 0"))
    assert len(await pending_nudges(duban, 1)) == 4
    assert "0–365" in text_of(await ask(people.official, "/away 999"))
    assert "用法" in text_of(await ask(people.official, "/away"))


@pytest.fixture
async def live(fake: FakeTelegram, database_url: str) -> AsyncIterator[Running]:
    """Duban on the real clock, quiet hours off."""
    settings = make_settings(database_url, telegram_api_url=fake.base_url, quiet_hours="")
    running = await Running(fake, settings, None).start()
    yield running
    await running.stop()


@in_one_pass_only
async def test_a_task_due_in_minutes_is_nudged_on_time_by_the_running_service(
    live: Running, people: People, fake: FakeTelegram
) -> None:
    async with live.offline_core() as core:
        await Staff(core).create()
    # Due at the start of the minute after next: the 2m and 1m nudges both fall in the future.
    now = datetime.now(UTC).astimezone(TZ)
    due = (now + timedelta(minutes=3)).replace(second=0, microsecond=0)
    await ask(people.admin, f"/assign 李明 | {due:%Y-%m-%d %H:%M} | 实时提醒测试")
    edited = await ask(people.admin, "/edit 1 提醒 2m,1m")
    assert "已修改" in text_of(edited)
    for minutes in (2, 1):
        planned = due - timedelta(minutes=minutes)
        not_before = int(planned.timestamp())
        nudge = await people.official.wait_for_message(
            lambda m: "截止提醒" in text_of(m) and int(m["date"]) >= not_before,  # noqa: B023
            timeout=(planned - datetime.now(UTC)).total_seconds() + 30)
        arrived = time.time()
        assert arrived >= planned.timestamp() - 1, "nudged early"
        assert "#1" in text_of(nudge) and "已提交" in labels(fake, nudge)
