"""Finding the table in a sheet by its headers: which kind of list it is (guidelines, roster,
task sheet), which column holds what, and which rows are data — below title rows, skipping blank
rows, group headings and totals, and stopping at the notes under the table."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from enum import StrEnum

from core.errors import InputError
from core.importing.files import Cell, Sheet
from core.importing.problems import Problem


class Kind(StrEnum):
    """In the order a file's tables are saved: people and guidelines before the tasks that
    name them."""

    ROSTER = "roster"
    GUIDELINES = "guidelines"
    TASKS = "tasks"


@dataclass(frozen=True)
class Schema:
    kind: Kind
    columns: dict[str, tuple[str, ...]]  # field -> header words, the usual one first
    required: tuple[str, ...]


DATE_WORDS = ("截止日期", "截止时间", "申报截止日期", "申报截止时间", "截止", "截至日期",
              "结束日期", "结束时间")
# Most specific first: a task sheet has a 指南 column and a deadline, like a guideline list.
SCHEMAS = (
    Schema(Kind.TASKS, {
        "title": ("项目名称", "项目", "任务名称", "申报项目", "项目名"),
        "enterprise": ("申报单位", "申报企业", "企业名称", "企业", "单位", "承担单位"),
        "official": ("责任人", "负责人", "具体责任人"),
        "leader": ("包抓领导", "分管领导", "领导", "包联领导"),
        "due": ("截止日期", "内部截止日期", "完成时限", *DATE_WORDS[1:]),
        "funding": ("争取资金（万元）", "争取资金", "资金", "申请资金", "申报资金", "金额"),
        "guideline": ("指南", "申报指南", "指南名称", "所属指南"),
    }, ("title", "official")),
    Schema(Kind.ROSTER, {
        "name": ("姓名", "名字", "人员"),
        "roles": ("角色", "身份", "权限"),
        "telegram_id": ("Telegram ID", "TelegramID", "Telegram", "TG ID", "TG"),
        "wecom_id": ("企业微信ID", "企业微信", "企业微信账号", "企业微信UserID", "企微ID",
                     "WeCom ID"),
        "job_title": ("职务", "职位", "岗位"),
    }, ("name", "roles")),
    Schema(Kind.GUIDELINES, {
        "guideline": ("指南名称", "指南", "申报指南", "名称", "项目指南", "计划名称", "专项名称"),
        "level": ("级别", "层级", "指南级别", "级次"),
        "department": ("主管部门", "发布部门", "部门", "主管单位", "发文单位"),
        "opens": ("开始日期", "开始时间", "受理开始日期", "申报开始日期", "开始", "起始日期"),
        "deadline": DATE_WORDS,
        "link": ("链接", "网址", "通知链接", "链接地址", "URL", "网页"),
        "key": ("指南编号", "UID"),
    }, ("guideline", "deadline")),
)
SCAN_ROWS = 30  # title rows and blank rows above the header
_NOTE = re.compile(r"^(注|备注|说明|附注|填表说明|填报说明|填表人|制表人|审核人|联系人|制表|"
                   r"填报日期|制表日期)\s*[:：\d一二三四五六七八九十、.．(（]|^[※*＊]")
_TOTALS = {"合计", "总计", "小计"}


@dataclass(frozen=True)
class Row:
    number: int
    values: dict[str, Cell]  # field -> cell; fields whose column is absent are missing


@dataclass(frozen=True)
class Table:
    kind: Kind
    sheet: str | None
    labels: dict[str, str]  # field -> the header as the file writes it
    rows: tuple[Row, ...]

    def label(self, field: str | None) -> str | None:
        """The column a mistake is in: as the file heads it, or, when the file lacks it (no
        due date column, no guideline column), as such a column is usually headed."""
        if field is None:
            return None
        usual = next(schema.columns for schema in SCHEMAS if schema.kind == self.kind)
        return self.labels.get(field) or (usual[field][0] if field in usual else None)


def header_key(text: str) -> str:
    """`争取资金（万元）`, `争取资金(万元)` and ` 争取资金 *` are the same header."""
    text = unicodedata.normalize("NFKC", text).lower()
    return re.sub(r"\(.*?\)|[\s*:：]", "", text)


_LOOKUP = {schema.kind: {header_key(word): field for field, words in schema.columns.items()
                         for word in words} for schema in SCHEMAS}


def find_table(sheet: Sheet) -> Table | None:
    """The sheet's table, None when no row looks like a header. A header row naming a kind of
    list without all of its required columns is a mistake in the file, raised as a Problem."""
    for index, (number, cells) in enumerate(sheet.rows[:SCAN_ROWS]):
        found = {schema.kind: _columns(schema.kind, cells) for schema in SCHEMAS}
        if max(len(columns) for columns in found.values()) < 2:
            continue
        for schema in SCHEMAS:
            columns = found[schema.kind]
            if all(field in columns for field in schema.required):
                labels = {field: str(cells[i]) for field, i in columns.items()}
                rows = _data_rows(sheet, index + 1, columns)
                return Table(schema.kind, sheet.name, labels, tuple(rows))
        closest = max(SCHEMAS, key=lambda s: len(found[s.kind]))
        missing = [closest.columns[f][0] for f in closest.required if f not in found[closest.kind]]
        raise MissingColumns(Problem(number, InputError(
            "import_missing_columns", kind=closest.kind.value, columns="、".join(missing)),
            sheet=sheet.name))
    return None


class MissingColumns(Exception):
    def __init__(self, problem: Problem) -> None:
        super().__init__(problem.error.key)
        self.problem = problem


def _columns(kind: Kind, cells: tuple[Cell, ...]) -> dict[str, int]:
    columns: dict[str, int] = {}
    for i, cell in enumerate(cells):
        field = _LOOKUP[kind].get(header_key(cell)) if isinstance(cell, str) else None
        if field is not None and field not in columns:
            columns[field] = i
    return columns


def _data_rows(sheet: Sheet, start: int, columns: dict[str, int]) -> list[Row]:
    rows = []
    for number, cells in sheet.rows[start:]:
        if number in sheet.banners:
            continue
        first = next((str(c).strip() for c in cells if c is not None and str(c).strip()), "")
        if _NOTE.match(first):
            break  # notes under the table: everything below is notes too
        if re.sub(r"\s", "", first) in _TOTALS:
            continue
        values = {field: cells[i] if i < len(cells) else None for field, i in columns.items()}
        if all(v is None or (isinstance(v, str) and not v.strip()) for v in values.values()):
            continue  # blank, or only columns we do not read (序号)
        rows.append(Row(number, values))
    return rows
