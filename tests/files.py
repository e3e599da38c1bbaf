"""Files as offices make them, built in the tests: Excel workbooks with title rows, blank rows,
merged cells, Excel dates and notes under the table; CSV in UTF-8, UTF-8 with BOM and GBK;
iCalendar files with time zones, all-day events, folded lines, escapes, RRULE and alarms."""

from __future__ import annotations

import csv
import io
from datetime import date
from typing import Any

import openpyxl
from openpyxl.utils.datetime import to_excel
from sqlalchemy import func, select

from core.app import Core
from storage.models import AuditEntry, Guideline, OutboxItem, Person, PersonRole, Task, TaskUpdate

Rows = list[list[Any]]


def workbook(*sheets: tuple[str, Rows, list[str]]) -> bytes:
    """Sheets as (title, rows, merged ranges); None leaves a cell empty."""
    book = openpyxl.Workbook()
    book.remove(book.active)
    for title, rows, merges in sheets:
        sheet = book.create_sheet(title)
        for r, row in enumerate(rows, start=1):
            for c, value in enumerate(row, start=1):
                if value is not None:
                    sheet.cell(r, c, value)
        for merged in merges:
            sheet.merge_cells(merged)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def csv_file(rows: Rows, encoding: str = "utf-8") -> bytes:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerows(
        [["" if v is None else v for v in row] for row in rows])
    return buffer.getvalue().encode(encoding)


def serial(day: date) -> int:
    """An Excel date serial number, as a date cell that lost its format holds it."""
    return int(to_excel(day))


# Row 1 a merged title, row 2 blank, the header in row 3, a blank row inside the table, a
# department merged down two rows, a date as an Excel serial number, notes under the table.
GUIDELINE_ROWS: Rows = [
    ["2027年度科技项目申报指南汇总表"],
    [],
    ["序号", "指南名称", "级别", "主管部门", "开始日期", "截止日期", "链接"],
    [1, "国家重点研发计划", "国家", "科技部", date(2027, 1, 4), date(2027, 3, 15),
     "https://service.most.gov.cn/kjjh_tztg_all/"],
    [],
    [2, "省重点研发计划", "省级", "省科技厅", "2027/01/05", "2027年2月10日",
     "https://kjt.example.gov.cn/tz/1.html"],
    [3, "省自然科学基金", "省", None, "2027-01-06", serial(date(2027, 2, 26)), None],
    [],
    ["注：1. 截止日期以正式通知为准；2. 县内截止日期为正式截止前5个工作日。"],
    ["制表人：王主任"],
]
GUIDELINE_MERGES = ["A1:G1", "D6:D7", "A9:G9"]

GUIDELINE_CSV: Rows = [
    ["2027年度申报指南"],
    [],
    ["指南名称", "级别", "主管部门", "开始日期", "截止时间", "链接"],
    ["国家重点研发计划", "国家", "科技部", "2027-01-04", "2027-03-15", "https://most.example.cn/1"],
    ["省重点研发计划", "省", "省科技厅", "2027/01/05", "2027年2月10日 17:00", ""],
    ["注：以正式通知为准"],
]

# A subtitle row above the header, a leader merged down two rows, a guideline named instead of
# a due date, a 合计 row and a note.
TASK_ROWS: Rows = [
    ["2027年度项目申报包抓责任表"],
    ["填报单位：县科技局"],
    ["序号", "项目名称", "申报单位", "责任人", "包抓领导", "截止日期", "争取资金（万元）", "指南"],
    [1, "智能装备研发", "某某科技", "李明", "张副局长", date(2027, 1, 20), 50, None],
    [2, "新材料中试", "某某新材", "孙丽", None, "2027年1月25日", "30万", None],
    [3, "重点研发申报", "某某科技", "李明", "钱副局长", None, 200, "国家重点研发计划"],
    ["合计", None, None, None, None, None, 280, None],
    [],
    ["说明：截止日期为县内截止日期。"],
]
TASK_MERGES = ["A1:H1", "E4:E5", "A9:H9"]

ROSTER_ROWS: Rows = [
    ["县科技局人员名单"],
    ["姓名", "角色", "Telegram ID", "企业微信ID", "职务"],
    ["周强", "责任人", 3001, "zhouqiang", "科员"],
    ["吴局", "包抓领导、局长", "3002", None, "副局长"],
    ["李明", "official", 1005, None, "科长"],
]

ICS = "\r\n".join([
    "BEGIN:VCALENDAR",
    "VERSION:2.0",
    "PRODID:-//Provincial S&T Department//Guidelines//ZH",
    "BEGIN:VTIMEZONE",
    "TZID:China Standard Time (custom)",
    "BEGIN:STANDARD",
    "DTSTART:19700101T000000",
    "TZOFFSETFROM:+0800",
    "TZOFFSETTO:+0800",
    "TZNAME:CST",
    "END:STANDARD",
    "END:VTIMEZONE",
    "BEGIN:VEVENT",
    "UID:most-2027-key@most.example.cn",
    "SUMMARY:国家重点研发计划\\, 2027年度\\; 第一批",
    "DESCRIPTION:申报通知详见 https://most.example.cn/tz/20",
    " 27-1.html \\n请各单位按时提交材料。",
    "CATEGORIES:国家级,重点",
    "ORGANIZER;CN=科技部:mailto:office@most.example.cn",
    "DTSTART;TZID=China Standard Time (custom):20270104T090000",
    "DTEND;TZID=China Standard Time (custom):20270315T170000",
    "BEGIN:VALARM",
    "ACTION:DISPLAY",
    "DESCRIPTION:提醒：不要导入我",
    "TRIGGER:-P1D",
    "END:VALARM",
    "END:VEVENT",
    "BEGIN:VEVENT",
    "UID:utc-deadline@kjt.example.cn",
    "SUMMARY:省科技型中小企业评价",
    "URL:https://kjt.example.cn/pj",
    "CATEGORIES:省",
    "DTSTART:20270310T010000Z",
    "DTEND:20270310T013000Z",
    "END:VEVENT",
    "BEGIN:VEVENT",
    "UID:allday-window@city.example.cn",
    "SUMMARY:市科技计划项目",
    "DTSTART;VALUE=DATE:20270201",
    "DTEND;VALUE=DATE:20270227",
    "END:VEVENT",
    "BEGIN:VEVENT",
    "UID:hightech-yearly@kjt.example.cn",
    "SUMMARY:高新技术企业认定",
    "DTSTART;VALUE=DATE:20250520",
    "RRULE:FREQ=YEARLY",
    "END:VEVENT",
    "END:VCALENDAR",
    "",
])


async def snapshot(core: Core) -> dict[str, int]:
    """Row counts of every table an import may write to."""
    tables = (Guideline, Person, PersonRole, Task, TaskUpdate, OutboxItem, AuditEntry)
    async with core.db.read() as session:
        return {table.__tablename__: await session.scalar(
            select(func.count()).select_from(table)) or 0 for table in tables}
