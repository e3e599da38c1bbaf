"""Imports and guideline calendars over the wire: an admin sends a file to the bot (downloaded
through the Bot API), others are refused before anything is downloaded; /guidelines; and an
opening announced by the running service on the real clock."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from core.enums import Channel
from storage.models import OutboxItem
from tests.conftest import Staff, make_settings
from tests.e2e.conftest import People
from tests.e2e.harness import JsonDict, Running, ask, text_of
from tests.fakes.telegram_api import FakeTelegram, FakeUser
from tests.files import GUIDELINE_MERGES, GUIDELINE_ROWS, Rows, csv_file, workbook

TZ = ZoneInfo("Asia/Shanghai")


async def send_file(user: FakeUser, filename: str, data: bytes) -> JsonDict:
    sent = await user.send_document(filename, data)
    return await user.wait_for_message(after=sent["message_id"])


async def test_an_admin_imports_a_workbook_and_lists_the_guidelines(
    duban: Running, staff: Staff, people: People, fake: FakeTelegram
) -> None:
    data = workbook(("指南", GUIDELINE_ROWS, GUIDELINE_MERGES))
    answer = text_of(await send_file(people.admin, "2027年指南.xlsx", data))
    assert "已导入「2027年指南.xlsx」" in answer and "申报指南：新增 3，更新 0，未变 0" in answer
    assert len(fake.calls_to("getFile")) == 1

    again = text_of(await send_file(people.admin, "2027年指南.xlsx", data))
    assert "新增 0，更新 0，未变 3" in again

    listing = text_of(await ask(people.official, "/guidelines"))
    assert "国家重点研发计划" in listing and "县内截止：2027年3月8日" in listing


async def test_a_broken_file_is_answered_with_its_mistakes(
    duban: Running, staff: Staff, people: People
) -> None:
    rows: Rows = [["项目名称", "责任人", "截止日期"], ["甲", "李明", "明年"],
                  ["乙", "无名氏", "2027-01-10"]]
    answer = text_of(await send_file(people.admin, "任务表.csv", csv_file(rows, "gbk")))
    assert "有 2 处错误" in answer and "第 2 行「截止日期」：日期「明年」无法识别" in answer
    assert "第 3 行「责任人」：责任人「无名氏」未找到" in answer
    assert "没有导入任何内容" in answer
    assert "没有进行中的任务" in text_of(await ask(people.admin, "/tasks"))


async def test_others_are_refused_before_the_file_is_downloaded(
    duban: Running, staff: Staff, people: People, fake: FakeTelegram
) -> None:
    data = csv_file([["指南名称", "截止日期"], ["国家重点研发计划", "2027-03-15"]])
    for user in (people.official, people.leader, people.director):
        assert "只有管理员可以导入" in text_of(await send_file(user, "指南.csv", data))
    stranger = fake.user(2001, "Stranger")
    assert "还没有注册" in text_of(await send_file(stranger, "指南.csv", data))
    assert "不支持的文件" in text_of(await send_file(people.admin, "指南.pdf", b"%PDF-1.4"))
    assert fake.calls_to("getFile") == []
    assert "没有未截止" in text_of(await ask(people.admin, "/guidelines"))


async def test_a_file_over_the_size_limit_is_not_downloaded(
    duban: Running, staff: Staff, people: People, fake: FakeTelegram
) -> None:
    duban.core.settings.import_max_mb = 0.01
    rows: Rows = [["指南名称", "截止日期"]] + [[f"指南{n}", "2027-03-15"] for n in range(2000)]
    answer = text_of(await send_file(people.admin, "指南.csv", csv_file(rows)))
    assert "文件太大" in answer and "最多 0.01 MB" in answer
    assert fake.calls_to("getFile") == []


async def marked_sent(running: Running) -> None:
    for _ in range(100):
        async with running.core.db.read() as session:
            statuses = set(await session.scalars(
                select(OutboxItem.status).where(OutboxItem.kind == "opening")))
        if statuses == {"sent"}:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"opening notices not sent: {statuses}")


@pytest.fixture
async def real_clock(
    fake: FakeTelegram, database_url: str, staff: Staff
) -> AsyncIterator[Running]:
    # Openings announced at midnight too, so the test does not depend on the hour it runs.
    settings = make_settings(database_url, telegram_api_url=fake.base_url, reminder_time="00:00")
    running = Running(fake, settings, None)
    async with running.offline_core() as core:
        opened = datetime.now(TZ) - timedelta(minutes=2)
        rows: Rows = [["指南名称", "级别", "开始日期", "截止日期"],
                      ["刚开放的指南", "省", opened.strftime("%Y-%m-%d %H:%M"),
                       (opened + timedelta(days=30)).strftime("%Y-%m-%d")],
                      ["下周开放的指南", "市", (opened + timedelta(days=7)).strftime("%Y-%m-%d"),
                       (opened + timedelta(days=40)).strftime("%Y-%m-%d")]]
        await core.imports.run(None, "指南.csv", csv_file(rows), Channel.CLI)
    await running.start()
    yield running
    await running.stop()


async def test_an_opening_is_announced_on_the_real_clock(
    real_clock: Running, people: People, fake: FakeTelegram
) -> None:
    notice = await people.admin.wait_for_message(lambda m: "开始受理" in text_of(m))
    assert "刚开放的指南" in text_of(notice) and "省级" in text_of(notice)
    await marked_sent(real_clock)  # a restart mid-send may repeat the one in flight
    await real_clock.restart()  # the job runs again at start: nothing is announced twice
    assert "指南" in text_of(await ask(people.admin, "/guidelines"))
    openings = [m for m in people.admin.received() if "开始受理" in text_of(m)]
    assert len(openings) == 1
    assert not any("开始受理" in text_of(m) for m in people.official.received())
