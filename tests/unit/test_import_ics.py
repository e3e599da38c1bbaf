"""Importing guideline calendars (.ics): time zones, UTC shown in local time, all-day windows,
folded lines, escaped text, yearly programmes, alarms ignored; broken events reject the file."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from core.app import Core
from core.chat.context import MemoryFormState, Speaker
from core.chat.conversation import Conversation
from core.chat.imports import rejection_text
from core.clock import FrozenClock
from core.dto import GuidelineView
from core.enums import Channel, Saved
from core.errors import InputError
from core.importing.problems import FileRejected
from core.texts import plain
from storage.models import Guideline
from tests.conftest import Staff
from tests.files import ICS, snapshot

TZ = ZoneInfo("Asia/Shanghai")


async def imported(core: Core, staff: Staff, text: str = ICS) -> dict[str, GuidelineView]:
    await core.imports.run(staff.admin, "指南.ics", text.encode(), Channel.TELEGRAM)
    async with core.db.read() as session:
        return {row.name: GuidelineView.of(row) for row in await session.scalars(select(Guideline))}


async def test_time_zones_windows_escapes_folds_and_alarms(core: Core, staff: Staff) -> None:
    found = await imported(core, staff)
    assert set(found) == {"国家重点研发计划, 2027年度; 第一批", "省科技型中小企业评价",
                          "市科技计划项目", "高新技术企业认定"}
    national = found["国家重点研发计划, 2027年度; 第一批"]  # escaped comma and semicolon
    assert national.opens_at == datetime(2027, 1, 4, 9, tzinfo=TZ)  # the custom VTIMEZONE
    assert national.deadline_at == datetime(2027, 3, 15, 17, tzinfo=TZ)
    assert national.internal_due_at == datetime(2027, 3, 8, 17, tzinfo=TZ)
    assert (national.level, national.department) == ("national", "科技部")
    assert national.link == "https://most.example.cn/tz/2027-1.html"  # unfolded
    async with core.db.read() as session:
        description = await session.scalar(
            select(Guideline.description).where(Guideline.id == national.id))
    assert description == ("申报通知详见 https://most.example.cn/tz/2027-1.html \n"
                           "请各单位按时提交材料。")

    utc = found["省科技型中小企业评价"]  # a half-hour event: its start is the deadline
    assert utc.opens_at is None and utc.deadline_at == datetime(2027, 3, 10, 9, tzinfo=TZ)
    assert utc.level == "province" and utc.link == "https://kjt.example.cn/pj"
    window = found["市科技计划项目"]  # all-day, DTEND exclusive
    assert window.opens_at == datetime(2027, 2, 1, tzinfo=TZ)
    assert window.deadline_at == datetime(2027, 2, 26, 18, tzinfo=TZ)
    yearly = found["高新技术企业认定"]  # the 2026 round is over on 2026-12-01
    assert yearly.deadline_at == datetime(2027, 5, 20, 18, tzinfo=TZ)

    conversation = Conversation(core)
    speaker = Speaker(Channel.TELEGRAM, str(staff.official.telegram_id))
    listing = "\n".join(r.text for r in await conversation.message(
        speaker, "/guidelines", MemoryFormState()))
    assert "正式截止：2027年3月10日 09:00（周三）" in listing  # UTC shown in local time
    assert "提醒" not in listing and "不要导入我" not in description


async def test_reimporting_a_calendar_updates_by_uid(core: Core, staff: Staff) -> None:
    await imported(core, staff)
    again = await core.imports.run(staff.admin, "指南.ics", ICS.encode(), Channel.CLI)
    assert again.sections[0].counts[Saved.UNCHANGED] == 4
    renamed = ICS.replace("SUMMARY:省科技型中小企业评价", "SUMMARY:科技型中小企业评价（省）")
    found = await imported(core, staff, renamed)
    assert "科技型中小企业评价（省）" in found and len(found) == 4


async def test_a_yearly_programme_moves_to_its_next_round(
    core: Core, staff: Staff, clock: FrozenClock
) -> None:
    clock.set(datetime(2027, 6, 1, 10, tzinfo=TZ))
    found = await imported(core, staff)
    assert found["高新技术企业认定"].deadline_at == datetime(2028, 5, 20, 18, tzinfo=TZ)
    async with core.db.read() as session:
        keys = set(await session.scalars(select(Guideline.key)))
    assert "hightech-yearly@kjt.example.cn|2028" in keys


async def test_a_moved_occurrence_replaces_the_rules_one(core: Core, staff: Staff) -> None:
    moved = ICS.replace("END:VCALENDAR", "\r\n".join([
        "BEGIN:VEVENT", "UID:hightech-yearly@kjt.example.cn", "SUMMARY:高新技术企业认定（延期）",
        "RECURRENCE-ID;VALUE=DATE:20270520", "DTSTART;VALUE=DATE:20270610",
        "END:VEVENT", "END:VCALENDAR"]))
    found = await imported(core, staff, moved)
    assert "高新技术企业认定" not in found
    assert found["高新技术企业认定（延期）"].deadline_at == datetime(2027, 6, 10, 18, tzinfo=TZ)


@pytest.mark.parametrize(("broken", "expected"), [
    ("DTSTART:20270310T010000Z", "DTSTART:20271340T010000Z"),
    ("DTSTART:20270310T010000Z", "X-NO-START:1"),
    ("RRULE:FREQ=YEARLY", "RRULE:FREQ=SOMETIMES"),
    ("SUMMARY:市科技计划项目", "SUMMARY:"),
    ("URL:https://kjt.example.cn/pj", "URL:kjt.example.cn/pj"),
    ("DTEND;VALUE=DATE:20270227", "DTEND:20270227T170000"),
    ("DTEND:20270310T013000Z", "DTEND:20270301T013000Z"),
    # Found by the import fuzz: a repeated property crashed the import (a list, not a value).
    ("ORGANIZER;CN=科技部:mailto:office@most.example.cn",
     "ORGANIZER;CN=科技部:mailto:office@most.example.cn\r\nORGANIZER:mailto:x@most.cn"),
    ("SUMMARY:市科技计划项目", "SUMMARY:市科技计划项目\r\nSUMMARY:又一个"),
    # Found by the soak: a duration where a moved occurrence's date belongs crashed the import.
    ("UID:utc-deadline@kjt.example.cn", "UID:utc-deadline@kjt.example.cn\r\nRECURRENCE-ID:P"),
])
async def test_a_broken_event_rejects_the_calendar_naming_its_line(
    core: Core, staff: Staff, broken: str, expected: str
) -> None:
    before = await snapshot(core)
    with pytest.raises(FileRejected) as caught:
        await core.imports.run(staff.admin, "指南.ics", ICS.replace(broken, expected).encode(),
                               Channel.TELEGRAM)
    assert await snapshot(core) == before
    (problem,) = caught.value.problems
    line = next(n for n, text in enumerate(ICS.split("\r\n"), start=1)
                if text == broken)
    begin = max(n for n, text in enumerate(ICS.split("\r\n")[:line], start=1)
                if text == "BEGIN:VEVENT")
    assert problem.row == begin
    message = plain(rejection_text("zh", caught.value))
    assert f"第 {begin} 行起的日程「" in message and "没有导入任何内容" in message


async def test_not_a_calendar(core: Core, staff: Staff) -> None:
    with pytest.raises(InputError, match="import_unreadable"):
        await core.imports.run(staff.admin, "指南.ics", b"hello world", Channel.CLI)
    # Found by the import fuzz: icalendar raised AttributeError on a time zone without BEGIN.
    no_begin = ICS.replace("BEGIN:VTIMEZONE\r\n", "").encode()
    with pytest.raises(InputError, match="import_unreadable"):
        await core.imports.run(staff.admin, "指南.ics", no_begin, Channel.CLI)
    empty = b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nEND:VCALENDAR\r\n"
    with pytest.raises(InputError, match="import_empty"):
        await core.imports.run(staff.admin, "指南.ics", empty, Channel.CLI)
