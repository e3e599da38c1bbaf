"""Table rows into records: guidelines, people and task requests. Cells arrive as Excel gives
them (dates, numbers) or as CSV text; dates are read like everything typed in chat
(`2027/01/05`, `2027年2月10日`, core.parsing), Excel dates and date serial numbers as dates."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Generic, TypeVar
from zoneinfo import ZoneInfo

from core.errors import InputError, about
from core.guidelines import GuidelineRecord, guideline_record
from core.importing.files import Cell
from core.importing.problems import Problem
from core.importing.tables import Kind, Row, Table
from core.parsing import MAX_TITLE, check_text, normalize, parse_due
from core.people import PersonRecord, parse_role, person_record
from core.tasks import AssignRequest

T = TypeVar("T", covariant=True)
# Serial numbers of 2000-01-01 and 2100-12-31: a number in a date column in that range is an
# Excel date whose cell lost its date format (common after copy and paste).
_EXCEL_SERIALS = (36526, 73415)
_ROLE_SEPARATORS = re.compile(r"[、,，;；/／\s]+")


@dataclass(frozen=True)
class Reading:
    """What reading dates needs: the zone, the current moment (a month-day means its next
    occurrence, a yearly programme its next round) and the time a date without one means."""

    tz: ZoneInfo
    now: datetime
    due_time: time

    @property
    def today(self) -> date:
        return self.now.astimezone(self.tz).date()


@dataclass(frozen=True)
class Entry(Generic[T]):
    """A record and where it came from, so a later mistake (unknown person) can be placed."""

    row: int
    record: T


def text(cell: Cell) -> str | None:
    if cell is None:
        return None
    if isinstance(cell, float) and cell.is_integer():
        cell = int(cell)
    if isinstance(cell, datetime):
        return cell.strftime("%Y-%m-%d" if cell.time() == time() else "%Y-%m-%d %H:%M")
    if isinstance(cell, date):
        return cell.isoformat()
    return str(cell).strip() or None


def moment(cell: Cell, reading: Reading, default_time: time) -> datetime:
    """A date cell as a moment in local time; a date without a time means `default_time`."""
    if isinstance(cell, int | float) and not isinstance(cell, bool):
        if not _EXCEL_SERIALS[0] <= cell <= _EXCEL_SERIALS[1]:
            raise InputError("date_unreadable", value=text(cell) or "")
        from openpyxl.utils.datetime import from_excel  # not at start, see `read_xlsx`

        cell = from_excel(cell)
    if isinstance(cell, datetime):
        if cell.tzinfo is None:
            at = cell.time() if cell.time() != time() else default_time
            return datetime.combine(cell.date(), at, tzinfo=reading.tz)
        return cell
    if isinstance(cell, date):
        return datetime.combine(cell, default_time, tzinfo=reading.tz)
    value = text(cell)
    if value is None:
        raise InputError("text_empty")
    return parse_due(value, reading.today, reading.tz, default_time).at


def whole_number(cell: Cell, field: str) -> int:
    if isinstance(cell, int) and not isinstance(cell, bool):
        return cell
    value = normalize(text(cell) or "").removesuffix(".0")
    if not value.isdigit():
        raise InputError("not_a_number", field=field, value=text(cell) or "")
    return int(value)


def read_rows(table: Table, reading: Reading) -> tuple[list[Entry[object]], list[Problem]]:
    """Every row of the table as a record of its kind; a row with a mistake is a Problem."""
    readers: dict[Kind, Callable[[Row, Reading], object]] = {
        Kind.GUIDELINES: _guideline, Kind.ROSTER: _person, Kind.TASKS: _task}
    read = readers[table.kind]
    entries: list[Entry[object]] = []
    problems: list[Problem] = []
    for row in table.rows:
        try:
            entries.append(Entry(row.number, read(row, reading)))
        except InputError as error:
            problems.append(problem(table, row.number, error))
    return entries, problems


def problem(table: Table, row: int, error: InputError) -> Problem:
    return Problem(row, error, table.label(error.field), table.sheet)


def _guideline(row: Row, reading: Reading) -> GuidelineRecord:
    cells = row.values
    name = check_text(text(cells.get("guideline")) or "", "guideline", MAX_TITLE)
    with about("deadline"):
        deadline = moment(cells.get("deadline"), reading, reading.due_time)
    opens = None
    if text(cells.get("opens")) is not None:
        with about("opens"):
            opens = moment(cells.get("opens"), reading, time())
    return guideline_record(
        name=name, deadline_at=deadline, tz=reading.tz,
        opens_at=opens, level=text(cells.get("level")),
        department=text(cells.get("department")), link=text(cells.get("link")),
        key=text(cells.get("key")),
    )


def _person(row: Row, reading: Reading) -> PersonRecord:
    cells = row.values
    with about("roles"):
        words = [w for w in _ROLE_SEPARATORS.split(text(cells.get("roles")) or "") if w]
        roles = {parse_role(word) for word in words}
    telegram = cells.get("telegram_id")
    return person_record(
        text(cells.get("name")) or "", roles,
        telegram_id=whole_number(telegram, "telegram_id") if text(telegram) else None,
        wecom_id=text(cells.get("wecom_id")), title=text(cells.get("job_title")),
    )


def _task(row: Row, reading: Reading) -> AssignRequest:
    """Only the cells as text here: people and guidelines are looked up when the row is saved,
    after the file's roster and guidelines."""
    cells = row.values
    due = cells.get("due")
    if isinstance(due, int | float) and not isinstance(due, bool):
        with about("due"):
            due = moment(due, reading, reading.due_time)
    return AssignRequest(
        official=text(cells.get("official")) or "", due=text(due) or "",
        title=text(cells.get("title")) or "", leader=text(cells.get("leader")),
        funding=text(cells.get("funding")), enterprise=text(cells.get("enterprise")),
        guideline=text(cells.get("guideline")),
    )
