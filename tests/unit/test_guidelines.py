"""Guidelines in the conversation: /guidelines (listing, paging, subscribing), tasks linked to a
guideline in the one-line and the guided /assign, and the opening notices job."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select

from core import notices
from core.app import Core
from core.chat.context import MemoryFormState, Speaker
from core.chat.conversation import Conversation
from core.clock import FrozenClock
from core.dto import PersonView
from core.enums import Channel
from core.replies import Reply
from core.views import TELEGRAM_LIMIT
from scheduler.jobs import announce_openings
from storage.models import OutboxItem, Person
from tests.conftest import Staff
from tests.files import csv_file

TZ = ZoneInfo("Asia/Shanghai")
HEADER = ["指南名称", "级别", "主管部门", "开始日期", "截止日期", "链接"]


async def load(core: Core, staff: Staff, *rows: list[str]) -> None:
    await core.imports.run(staff.admin, "指南.csv", csv_file([HEADER, *rows]), Channel.CLI)


async def say(core: Core, person: PersonView, text: str,
              state: MemoryFormState | None = None) -> list[Reply]:
    speaker = Speaker(Channel.TELEGRAM, str(person.telegram_id))
    return await Conversation(core).message(speaker, text, state or MemoryFormState())


async def press(core: Core, person: PersonView, data: str, state: MemoryFormState) -> list[Reply]:
    speaker = Speaker(Channel.TELEGRAM, str(person.telegram_id))
    return await Conversation(core).press(speaker, data, state)


def text(replies: list[Reply]) -> str:
    return "\n".join(r.text for r in replies)


async def test_guidelines_lists_those_ahead_soonest_first(core: Core, staff: Staff) -> None:
    assert "没有未截止的申报指南" in text(await say(core, staff.official, "/guidelines"))
    await load(core, staff,
               ["国家重点研发计划", "国家", "科技部", "2027-01-04", "2027-03-15",
                "https://most.example.cn/1"],
               ["已截止的指南", "县", "县科技局", "2026-10-01", "2026-11-20", ""],
               ["省重点研发计划", "省", "省科技厅", "", "2026-12-18 17:00", ""])
    listing = text(await say(core, staff.official, "指南"))
    assert "未截止 2 项" in listing and "已截止的指南" not in listing
    assert listing.index("省重点研发计划") < listing.index("国家重点研发计划")
    for expected in ("省级 · 省科技厅", "正式截止：12月18日 17:00（周五）（剩17天）",
                     "县内截止：12月11日 17:00（周五）（剩10天）", "国家级 · 科技部",
                     "受理开始：2027年1月4日（周一）", "链接：https://most.example.cn/1"):
        assert expected in listing, expected


async def test_long_lists_come_in_pages_under_telegrams_limit(core: Core, staff: Staff) -> None:
    rows = [[f"{n:02d} " + "科技创新专项" * 30, "市", "市科技局" * 10, "",
             (date(2027, 1, 1) + timedelta(days=n)).isoformat(),
             "https://kj.example.gov.cn/" + "a" * 400] for n in range(25)]
    await load(core, staff, *rows)
    first = await say(core, staff.leader, "/guidelines")
    assert len(first) > 1 and all(len(r.text) <= TELEGRAM_LIMIT for r in first)
    page = text(first)
    assert "未截止 25 项" in page and "第 1/3 页" in page and "/guidelines 2" in page
    assert "00 科技" in page and "09 科技" in page and "10 科技" not in page
    for part in first:  # a guideline never straddles two messages
        assert part.text.count("<b>") == part.text.count("正式截止") + part.text.count("📅")
    last = text(await say(core, staff.leader, "/guidelines 3"))
    assert "20 科技" in last and "24 科技" in last and "/guidelines 4" not in last
    assert "第 3/3 页" in text(await say(core, staff.leader, "/guidelines 9"))
    assert "用法" in text(await say(core, staff.leader, "/guidelines 全部"))


async def test_officials_subscribe_to_openings(core: Core, staff: Staff) -> None:
    assert "已订阅" in text(await say(core, staff.official, "/guidelines 订阅"))
    assert "已订阅" in text(await say(core, staff.official2, "指南 subscribe"))
    assert "已退订" in text(await say(core, staff.official2, "/guidelines 退订"))
    async with core.db.read() as session:
        subscribed = set(await session.scalars(
            select(Person.name).where(Person.subscribed_openings)))
    assert subscribed == {"李明"}


async def test_openings_are_announced_once_to_admins_and_subscribers(
    core: Core, staff: Staff, clock: FrozenClock
) -> None:
    await say(core, staff.official, "/guidelines 订阅")
    await load(core, staff,
               ["省重点研发计划", "省", "省科技厅", "2026-12-03", "2027-01-20", ""],
               ["下午开放的指南", "市", "", "2026-12-03 14:00", "2027-01-25", ""],
               ["早已开放的指南", "县", "", "2026-11-01", "2027-01-10", ""])

    async def outbox() -> list[OutboxItem]:
        async with core.db.read() as session:
            return list(await session.scalars(
                select(OutboxItem).where(OutboxItem.kind == "opening").order_by(OutboxItem.id)))

    await announce_openings(core)
    assert await outbox() == []  # opened long ago: no news
    clock.set(datetime(2026, 12, 3, 8, 55, tzinfo=TZ))
    await announce_openings(core)
    assert await outbox() == []  # a date means the day, announced at DUBAN_REMINDER_TIME
    clock.set(datetime(2026, 12, 3, 9, 5, tzinfo=TZ))
    await announce_openings(core)
    await announce_openings(core)  # a second run (or a second copy) adds nothing
    rows = await outbox()
    assert sorted(r.person_id for r in rows) == sorted([staff.admin.id, staff.official.id])

    clock.set(datetime(2026, 12, 3, 14, 10, tzinfo=TZ))
    await announce_openings(core)
    assert len(await outbox()) == 4

    rendered = await notices.render(core, staff.official, [rows[0]])
    body = rendered[0].reply.text
    assert "申报指南开始受理" in body and "省重点研发计划" in body and "县内截止" in body


async def test_assign_takes_the_guidelines_internal_deadline(core: Core, staff: Staff) -> None:
    await load(core, staff, ["高新技术企业认定", "省", "省科技厅", "", "2026-12-18", ""],
               ["高新技术企业认定（第二批）", "省", "省科技厅", "", "2027-03-18", ""])
    line = "/assign 李明 |  | 高企申报 |  |  | 某某科技 | 高新技术企业认定"
    replies = await say(core, staff.admin, line)
    assert "已分配" in text(replies) and "12月11日" in text(replies)
    task = (await core.tasks.visible(staff.admin))[0]
    assert task.guideline_name == "高新技术企业认定"
    assert task.due_at == datetime(2026, 12, 11, 18, tzinfo=TZ)

    own = await say(core, staff.admin, "/assign 孙丽 | 2026-12-15 | 另一项 |  |  |  | 第二批")
    assert "12月15日" in text(own)  # a date given wins over the guideline's
    assert "已分配" in text(await say(core, staff.admin, "/assign 李明 | 2026-12-20 | 旧写法"))

    for line, expected in {
        "/assign 李明 |  | 项目": "请写截止日期",
        "/assign 李明 |  | 项目 |  |  |  | 不存在": "申报指南「不存在」未找到",
        "/assign 李明 |  | 项目 |  |  |  | 高新": "对应多项",
    }.items():
        assert expected in text(await say(core, staff.admin, line)), line
    assert len(await core.tasks.visible(staff.admin)) == 3


async def test_the_guided_form_offers_upcoming_guidelines(core: Core, staff: Staff) -> None:
    await load(core, staff, ["高新技术企业认定", "省", "省科技厅", "", "2026-12-18", ""])
    state = MemoryFormState()
    first = (await say(core, staff.admin, "/assign", state))[0]
    assert "第 1 步" in first.text
    official = next(b for row in first.buttons for b in row if b.label == "李明")
    await press(core, staff.admin, official.action.encode(), state)
    await say(core, staff.admin, "高企申报", state)
    step = (await press(core, staff.admin, "skip:0:", state))[0]
    assert "第 4 步" in step.text and "申报指南" in step.text
    pick = next(b for row in step.buttons for b in row if b.label == "高新技术企业认定")
    due = (await press(core, staff.admin, pick.action.encode(), state))[0]
    assert "第 5 步" in due.text and "12月11日" in due.text
    assert any(b.label == "跳过" for row in due.buttons for b in row)
    for _ in range(3):  # due date (from the guideline), leader, funding
        confirm = (await press(core, staff.admin, "skip:0:", state))[0]
    assert "请确认" in confirm.text and "高新技术企业认定" in confirm.text
    assert "按指南县内截止" in confirm.text
    done = await press(core, staff.admin, "ok:0:", state)
    assert "已分配" in text(done)
    task = (await core.tasks.visible(staff.admin))[0]
    assert task.guideline_name == "高新技术企业认定"
    assert task.due_at == datetime(2026, 12, 11, 18, tzinfo=TZ)


async def test_without_guidelines_the_form_has_no_guideline_step(
    core: Core, staff: Staff
) -> None:
    state = MemoryFormState()
    await say(core, staff.admin, "/assign", state)
    await say(core, staff.admin, "李明", state)
    await say(core, staff.admin, "项目", state)
    step = (await press(core, staff.admin, "skip:0:", state))[0]
    assert "第 4 步" in step.text and "截止日期" in step.text
    assert not any(b.label == "跳过" for row in step.buttons for b in row)

