"""The 台账 offices keep for audits, as an Excel workbook: every task, every update of every
task, and the yearly targets. A title row with the export time, then a header row, then data."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from io import BytesIO
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from core.dto import TaskView, UpdateView
from core.summary.render import target_label
from core.targets import Progress
from core.texts import plain, t
from core.views import Look, risk, status_label
from storage.models import TaskUpdate
from storage.queries import names_of

if TYPE_CHECKING:
    from openpyxl.worksheet.worksheet import Worksheet

    from core.app import Core

DATE_FORMAT = "yyyy-mm-dd hh:mm"
MAX_WIDTH = 40


@dataclass(frozen=True)
class Register:
    data: bytes
    tasks: int
    updates: int


async def export_register(core: Core, look: Look) -> Register:
    """The whole bureau's register, built in a thread (it is CPU work)."""
    tasks = await core.tasks.portfolio(None)
    updates = await _updates(core)
    targets = await core.targets.progress(look.today.year)
    data = await asyncio.to_thread(build_workbook, look, tasks, updates, targets)
    return Register(data, len(tasks), len(updates))


async def _updates(core: Core) -> list[tuple[int, UpdateView]]:
    async with core.db.read() as session:
        rows = list(await session.scalars(
            select(TaskUpdate).order_by(TaskUpdate.task_id, TaskUpdate.created_at, TaskUpdate.id)))
        names = await names_of(session, {u.author_id for u in rows if u.author_id})
    return [(u.task_id, UpdateView.of(u, names.get(u.author_id or 0))) for u in rows]


def build_workbook(look: Look, tasks: list[TaskView], updates: list[tuple[int, UpdateView]],
                   targets: list[Progress]) -> bytes:
    # openpyxl (with numpy) costs the service 20 MB and 0.3 s at start: imported when needed.
    from openpyxl import Workbook

    lang = look.lang
    book = Workbook()
    titles = {task.id: task.title for task in tasks}
    sheets = (
        ("export.tasks_sheet", "export.task_columns", [_task_row(look, task) for task in tasks]),
        ("export.updates_sheet", "export.update_columns",
         [_update_row(look, task_id, titles.get(task_id, ""), u) for task_id, u in updates]),
        ("export.targets_sheet", "export.target_columns",
         [_target_row(lang, look.today.year, p) for p in targets]),
    )
    book.remove(book.active)
    for sheet_key, columns_key, rows in sheets:
        _fill(book.create_sheet(plain(t(lang, sheet_key))), look,
              plain(t(lang, columns_key)).split("|"), rows)
    buffer = BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def _fill(sheet: Worksheet, look: Look, columns: list[str], rows: list[list[Any]]) -> None:
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter

    generated = look.today.strftime("%Y-%m-%d %H:%M")
    sheet.append([plain(t(look.lang, "export.generated", at=generated))])
    sheet.append(columns)
    for cell in sheet[2]:
        cell.font = Font(bold=True)
    for row in rows:
        sheet.append(row)
    for row in sheet.iter_rows(min_row=3):
        for cell in row:
            if isinstance(cell.value, datetime):
                cell.number_format = DATE_FORMAT
    sheet.freeze_panes = "A3"
    sheet.auto_filter.ref = f"A2:{get_column_letter(len(columns))}{max(sheet.max_row, 2)}"
    for index, title in enumerate(columns, start=1):
        values = [len(str(c.value)) for c in sheet[get_column_letter(index)][2:] if c.value]
        width = max([len(title) * 2, *values]) + 2
        sheet.column_dimensions[get_column_letter(index)].width = min(width, MAX_WIDTH)


def _local(look: Look, at: datetime | None) -> datetime | None:
    """Excel has no time zones: local wall time, as the office reads it."""
    return at.astimezone(look.tz).replace(tzinfo=None) if at else None


def _money(value: Decimal | None) -> float | None:
    return float(value) if value is not None else None


def _task_row(look: Look, task: TaskView) -> list[Any]:
    return [
        task.id, task.title, task.enterprise, task.guideline_name, task.official.name,
        task.leader.name if task.leader else None, _local(look, task.due_at),
        plain(status_label(look.lang, task.status)), task.progress, risk(look, task),
        task.blocked_reason if task.blocked else None, _money(task.funding_sought),
        _money(task.funding_granted), _local(look, task.last_update_at),
        _local(look, task.created_at), _local(look, task.closed_at),
    ]


def _update_row(look: Look, task_id: int, title: str, update: UpdateView) -> list[Any]:
    status = plain(status_label(look.lang, update.status)) if update.status else None
    kind = plain(t(look.lang, f"history.{update.kind}", progress=update.progress,
                   status=status or ""))
    return [task_id, title, _local(look, update.created_at), update.author,
            plain(t(look.lang, f"channel.{update.channel}")), kind, update.progress, status,
            update.note]


def _target_row(lang: str, year: int, progress: Progress) -> list[Any]:
    return [year, plain(target_label(lang, progress)), _money(progress.target),
            _money(progress.actual), progress.percent, progress.unit]
