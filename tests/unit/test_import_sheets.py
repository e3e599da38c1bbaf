"""Importing spreadsheets: guideline lists, the roster and task sheets from .xlsx and .csv as
offices keep them; re-imports update and never duplicate; any mistake rejects the whole file
with row numbers and leaves the database untouched."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from core.app import Core
from core.chat.context import describe
from core.chat.imports import rejection_text
from core.dto import GuidelineView
from core.enums import Channel, Role, Saved
from core.errors import InputError, NotAllowed
from core.importing.importer import ImportResult
from core.importing.problems import FileRejected
from core.texts import plain
from storage.models import AuditEntry, Guideline, OutboxItem, Person, Task
from tests.conftest import Staff
from tests.files import (
    GUIDELINE_CSV,
    GUIDELINE_MERGES,
    GUIDELINE_ROWS,
    ROSTER_ROWS,
    TASK_MERGES,
    TASK_ROWS,
    Rows,
    csv_file,
    snapshot,
    workbook,
)

TZ = ZoneInfo("Asia/Shanghai")


def local(year: int, month: int, day: int, hour: int = 18, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=TZ)


def counts(result: ImportResult) -> list[tuple[str, int, int, int]]:
    return [(s.kind.value, s.counts[Saved.CREATED], s.counts[Saved.UPDATED],
             s.counts[Saved.UNCHANGED]) for s in result.sections]


async def by_name(core: Core) -> dict[str, GuidelineView]:
    async with core.db.read() as session:
        rows = await session.scalars(select(Guideline))
        return {row.name: GuidelineView.of(row) for row in rows}


async def rejected(core: Core, staff: Staff, filename: str, data: bytes) -> str:
    """Import a broken file: the database must be exactly as before; returns the message."""
    before = await snapshot(core)
    with pytest.raises(FileRejected) as caught:
        await core.imports.run(staff.admin, filename, data, Channel.TELEGRAM)
    assert await snapshot(core) == before
    return plain(rejection_text("zh", caught.value))


async def test_an_excel_guideline_list_with_titles_merges_dates_and_notes(
    core: Core, staff: Staff
) -> None:
    data = workbook(("指南", GUIDELINE_ROWS, GUIDELINE_MERGES))
    result = await core.imports.run(staff.admin, "2027指南.xlsx", data, Channel.TELEGRAM)
    assert counts(result) == [("guidelines", 3, 0, 0)]

    found = await by_name(core)
    assert set(found) == {"国家重点研发计划", "省重点研发计划", "省自然科学基金"}
    national = found["国家重点研发计划"]
    assert (national.level, national.department) == ("national", "科技部")
    assert national.opens_at == local(2027, 1, 4, 0)  # an Excel date cell
    assert national.deadline_at == local(2027, 3, 15)  # a date means DUBAN_DUE_TIME
    assert national.internal_due_at == local(2027, 3, 8)  # 5 working days earlier
    assert national.link == "https://service.most.gov.cn/kjjh_tztg_all/"
    province = found["省重点研发计划"]
    assert province.opens_at == local(2027, 1, 5, 0) and province.deadline_at == local(2027, 2, 10)
    science = found["省自然科学基金"]
    assert science.department == "省科技厅"  # merged down from the row above
    assert science.deadline_at == local(2027, 2, 26)  # an Excel serial number
    assert science.level == "province" and science.link is None
    assert science.internal_due_at == core.guidelines.internal_due(science.deadline_at)


async def test_the_internal_deadline_counts_working_days_and_the_setting(
    core: Core, staff: Staff
) -> None:
    # Before 2026-10-13: 10/12, 10/10 (a 调休 Saturday), 10/9, 10/8, then over the National
    # Day holiday (10/1-10/7) to 9/30.
    assert core.guidelines.internal_due(local(2026, 10, 13, 17)) == local(2026, 9, 30, 17)
    assert core.guidelines.internal_due(local(2026, 12, 18)) == local(2026, 12, 11)
    core.settings.internal_deadline_workdays = 2
    assert core.guidelines.internal_due(local(2026, 12, 18)) == local(2026, 12, 16)


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gbk"])
async def test_csv_in_utf8_with_or_without_bom_and_gbk(
    core: Core, staff: Staff, encoding: str
) -> None:
    data = csv_file(GUIDELINE_CSV, encoding)
    result = await core.imports.run(staff.admin, "指南.csv", data, Channel.CLI)
    assert counts(result) == [("guidelines", 2, 0, 0)]
    found = await by_name(core)
    assert found["省重点研发计划"].deadline_at == local(2027, 2, 10, 17)
    assert found["省重点研发计划"].link is None
    assert found["国家重点研发计划"].link == "https://most.example.cn/1"


async def test_reimporting_updates_and_never_duplicates(core: Core, staff: Staff) -> None:
    data = workbook(("指南", GUIDELINE_ROWS, GUIDELINE_MERGES))
    await core.imports.run(staff.admin, "指南.xlsx", data, Channel.TELEGRAM)
    again = await core.imports.run(staff.admin, "指南.xlsx", data, Channel.TELEGRAM)
    assert counts(again) == [("guidelines", 0, 0, 3)]

    changed = [list(row) for row in GUIDELINE_ROWS]
    changed[3][3] = "科学技术部"
    result = await core.imports.run(staff.admin, "指南.xlsx",
                                    workbook(("指南", changed, GUIDELINE_MERGES)), Channel.CLI)
    assert counts(result) == [("guidelines", 0, 1, 2)]
    assert (await by_name(core))["国家重点研发计划"].department == "科学技术部"
    assert len(await by_name(core)) == 3


async def test_roster_creates_and_updates_people_never_twice(core: Core, staff: Staff) -> None:
    data = workbook(("名单", ROSTER_ROWS, []))
    result = await core.imports.run(staff.admin, "名单.xlsx", data, Channel.TELEGRAM)
    assert counts(result) == [("roster", 2, 1, 0)]
    zhou = await core.people.find("周强", "name")
    assert (zhou.roles, zhou.telegram_id, zhou.wecom_id, zhou.title) == (
        frozenset({Role.OFFICIAL}), 3001, "zhouqiang", "科员")
    wu = await core.people.find("吴局", "name")
    assert wu.roles == {Role.LEADER, Role.DIRECTOR} and wu.telegram_id == 3002
    li = await core.people.find("李明", "name")
    assert li.id == staff.official.id and li.title == "科长"

    again = await core.imports.run(staff.admin, "名单.xlsx", data, Channel.TELEGRAM)
    assert counts(again) == [("roster", 0, 0, 3)]
    async with core.db.read() as session:
        names = list(await session.scalars(select(Person.name)))
    assert sorted(names) == sorted({*names}) and len(names) == 8


async def test_task_sheet_assigns_follows_guidelines_and_reimports(
    core: Core, staff: Staff
) -> None:
    await core.imports.run(staff.admin, "指南.xlsx",
                           workbook(("指南", GUIDELINE_ROWS, GUIDELINE_MERGES)), Channel.CLI)
    data = workbook(("任务表", TASK_ROWS, TASK_MERGES))
    result = await core.imports.run(staff.admin, "任务表.xlsx", data, Channel.TELEGRAM)
    assert counts(result) == [("tasks", 3, 0, 0)]

    tasks = {t.title: t for t in await core.tasks.visible(staff.admin)}
    assert set(tasks) == {"智能装备研发", "新材料中试", "重点研发申报"}
    smart = tasks["智能装备研发"]
    assert (smart.enterprise, smart.official.name, smart.due_at) == (
        "某某科技", "李明", local(2027, 1, 20))
    assert smart.leader is not None and smart.leader.name == "张副局长"
    material = tasks["新材料中试"]
    assert material.leader is not None and material.leader.name == "张副局长"  # merged down
    assert material.due_at == local(2027, 1, 25) and str(material.funding_sought) == "30.00"
    linked = tasks["重点研发申报"]
    assert linked.guideline_name == "国家重点研发计划"
    assert linked.due_at == local(2027, 3, 8)  # the guideline's internal deadline

    again = await core.imports.run(staff.admin, "任务表.xlsx", data, Channel.TELEGRAM)
    assert counts(again) == [("tasks", 0, 0, 3)]
    moved = [list(row) for row in TASK_ROWS]
    moved[4][5] = "2027-01-28"
    moved[4][3] = "李明"
    result = await core.imports.run(staff.admin, "任务表.xlsx",
                                    workbook(("任务表", moved, TASK_MERGES)), Channel.TELEGRAM)
    assert counts(result) == [("tasks", 0, 1, 2)]
    material = (await core.tasks.views_by_id({material.id}))[material.id]
    assert material.due_at == local(2027, 1, 28) and material.official.name == "李明"
    assert len(await core.tasks.visible(staff.admin)) == 3


async def test_a_moved_deadline_moves_the_tasks_that_follow_the_guideline(
    core: Core, staff: Staff
) -> None:
    rows: Rows = [["指南名称", "截止日期"], ["高新技术企业认定", "2027-03-15"]]
    await core.imports.run(staff.admin, "指南.csv", csv_file(rows), Channel.CLI)
    tasks: Rows = [["项目名称", "申报单位", "责任人", "截止日期", "指南"],
                   ["高企认定", "甲公司", "李明", "", "高新技术企业认定"],
                   ["高企认定", "乙公司", "孙丽", "2027-02-01", "高新技术企业认定"]]
    await core.imports.run(staff.admin, "任务.csv", csv_file(tasks), Channel.CLI)
    fixed, follows = await core.tasks.visible(staff.admin)
    assert fixed.due_at == local(2027, 2, 1) and follows.due_at == local(2027, 3, 8)

    extended: Rows = [["指南名称", "截止日期"], ["高新技术企业认定", "2027-03-31"]]
    before = await snapshot(core)
    result = await core.imports.run(staff.admin, "指南.csv", csv_file(extended), Channel.CLI)
    assert result.sections[0].tasks_moved == 1
    views = await core.tasks.views_by_id({follows.id, fixed.id})
    assert views[follows.id].due_at == local(2027, 3, 24)  # 5 working days before 3-31
    assert views[fixed.id].due_at == local(2027, 2, 1)  # its own date stays
    after = await snapshot(core)
    assert after["task_updates"] == before["task_updates"] + 1
    async with core.db.read() as session:
        notice = await session.scalar(select(OutboxItem).where(OutboxItem.kind == "due_changed"))
        actions = set(await session.scalars(select(AuditEntry.action)))
    assert notice is not None and notice.person_id == staff.official.id
    assert {"guideline_update", "task_follow_guideline"} <= actions
    detail = await core.tasks.detail(staff.admin, follows.id)
    assert detail.history[0].note is not None and "高新技术企业认定" in detail.history[0].note


async def test_a_workbook_with_roster_guidelines_and_tasks_saves_them_in_order(
    core: Core, staff: Staff
) -> None:
    tasks: Rows = [["项目名称", "责任人", "指南"], ["新人的项目", "周强", "省重点研发计划"]]
    data = workbook(("任务表", tasks, []), ("名单", ROSTER_ROWS, []),
                    ("指南", GUIDELINE_ROWS, GUIDELINE_MERGES), ("说明", [["填表说明"]], []))
    result = await core.imports.run(staff.admin, "全部.xlsx", data, Channel.TELEGRAM)
    assert counts(result) == [("roster", 2, 1, 0), ("guidelines", 3, 0, 0), ("tasks", 1, 0, 0)]
    (task,) = [t for t in await core.tasks.visible(staff.admin) if t.title == "新人的项目"]
    assert task.official.name == "周强" and task.due_at == local(2027, 2, 3)


async def test_a_bad_date_rejects_the_whole_file_naming_row_and_column(
    core: Core, staff: Staff
) -> None:
    rows = [list(row) for row in GUIDELINE_ROWS]
    rows[5][5] = "2027/13/45"
    rows[6][4] = "下个月"
    message = await rejected(core, staff, "指南.xlsx",
                             workbook(("指南", rows, GUIDELINE_MERGES)))
    assert "有 2 处错误" in message and "没有导入任何内容" in message
    assert "「指南」表第 6 行「截止日期」：日期「2027/13/45」不存在" in message
    assert "第 7 行「开始日期」：日期「下个月」无法识别" in message
    assert "2026-12-20" in message  # says what would be right
    assert "数据库没有任何改动" in message


async def test_a_missing_column_is_named(core: Core, staff: Staff) -> None:
    rows: Rows = [["指南汇总"], ["指南名称", "级别", "主管部门"],
                  ["国家重点研发计划", "国家", "科技部"]]
    message = await rejected(core, staff, "指南.csv", csv_file(rows))
    assert "第 2 行：申报指南表头缺少必需的列：截止日期" in message


async def test_wrong_types_unknown_roles_and_duplicates_in_a_roster(
    core: Core, staff: Staff
) -> None:
    await core.people.add("孙丽", {Role.OFFICIAL}, telegram_id=1006, wecom_id="sunli")
    rows: Rows = [["姓名", "角色", "Telegram ID", "企业微信ID"],
                  ["周强", "责任人", "abc", ""],
                  ["吴局", "科长", "", ""],
                  ["", "责任人", "", ""],
                  ["郑一", "责任人、包抓领导", 3005, "zheng"],
                  ["钱二", "责任人", 1005, "sunli"],
                  ["郑一", "包抓领导", "", ""]]
    message = await rejected(core, staff, "名单.xlsx", workbook(("名单", rows, [])))
    assert "第 2 行「Telegram ID」：Telegram ID「abc」应为数字" in message
    assert "第 3 行「角色」：角色「科长」无法识别" in message
    assert "第 4 行「姓名」：姓名不能为空" in message
    assert "表第 5 行" not in message
    # 1005 is 李明's (a rename would be fine), but sunli is 孙丽's: two people cannot be one.
    assert "第 6 行「企业微信ID」：企业微信ID「sunli」已属于 孙丽" in message
    assert "第 7 行「姓名」：与第 5 行重复（郑一）" in message


async def test_unknown_people_and_guidelines_in_a_task_sheet(core: Core, staff: Staff) -> None:
    rows: Rows = [["项目名称", "责任人", "包抓领导", "截止日期", "争取资金（万元）", "指南"],
                  ["甲", "无名氏", "", "2027-01-10", "", ""],
                  ["乙", "李明", "孙丽", "2027-01-10", "", ""],
                  ["丙", "李明", "", "", "", "不存在的指南"],
                  ["丁", "李明", "", "", "", ""],
                  ["戊", "李明", "", "2027-01-10", "很多", ""],
                  ["己", "李明", "", "2027-01-10", "", ""]]
    message = await rejected(core, staff, "任务表.csv", csv_file(rows, "gbk"))
    assert "第 2 行「责任人」：责任人「无名氏」未找到" in message
    assert "第 3 行「包抓领导」：孙丽 不是包抓领导" in message
    assert "第 4 行「指南」：申报指南「不存在的指南」未找到" in message
    assert "第 5 行「截止日期」：请写截止日期" in message
    assert "第 6 行「争取资金（万元）」：争取资金「很多」不是有效金额" in message
    assert "第 7 行" not in message  # the good row is fine, but not saved either
    async with core.db.read() as session:
        assert await session.scalar(select(Task.id)) is None


async def test_a_telegram_id_out_of_range_is_a_mistake_in_its_cell(
    core: Core, staff: Staff
) -> None:
    """Found by the soak: an id beyond 64 bits crashed the import in the database driver."""
    rows: Rows = [["姓名", "角色", "Telegram ID"], ["周强", "责任人", 10**20],
                  ["吴局", "责任人", -5]]
    message = await rejected(core, staff, "名单.xlsx", workbook(("名单", rows, [])))
    assert "第 2 行「Telegram ID」：Telegram ID「100000000000000000000」无效" in message
    assert "第 3 行「Telegram ID」：Telegram ID「-5」无效" in message


async def test_a_mistake_in_a_column_the_sheet_lacks_names_that_column(
    core: Core, staff: Staff
) -> None:
    """Found by the import fuzz: without a 截止日期 column the mistake named only the row."""
    rows: Rows = [["项目名称", "责任人"], ["甲", "李明"]]
    message = await rejected(core, staff, "任务表.csv", csv_file(rows))
    assert "第 2 行「截止日期」：请写截止日期" in message


async def test_files_that_are_no_table_at_all(core: Core, staff: Staff) -> None:
    cases = {
        "名单.xls": "不支持的文件",
        "随便.csv": "没有找到可识别的表头",
        "坏的.xlsx": "不是有效的 Excel (.xlsx) 文件",
    }
    data = {"名单.xls": b"\xd0\xcf\x11\xe0", "随便.csv": "你好,世界\n1,2\n".encode(),
            "坏的.xlsx": b"PK\x03\x04 broken"}
    for filename, expected in cases.items():
        before = await snapshot(core)
        with pytest.raises(InputError) as caught:
            await core.imports.run(staff.admin, filename, data[filename], Channel.CLI)
        assert expected in plain(describe("zh", caught.value)), filename
        assert await snapshot(core) == before


async def test_only_admins_may_import(core: Core, staff: Staff) -> None:
    data = csv_file(GUIDELINE_CSV)
    for person in (staff.director, staff.leader, staff.official):
        with pytest.raises(NotAllowed):
            await core.imports.run(person, "指南.csv", data, Channel.TELEGRAM)
    assert await by_name(core) == {}
