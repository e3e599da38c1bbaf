"""Spreadsheets as offices export them, read into numbered rows of cell values: CSV in UTF-8
(with or without BOM) or GBK, and Excel .xlsx with merged cells and real date cells."""

from __future__ import annotations

import csv
import io
import logging
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import TYPE_CHECKING

from core.errors import InputError

if TYPE_CHECKING:
    from openpyxl.worksheet.worksheet import Worksheet

log = logging.getLogger(__name__)

Cell = str | int | float | bool | datetime | date | time | timedelta | None
# Excel on a Chinese Windows saves "CSV" in the ANSI code page, GBK; GB18030 is its superset.
CSV_ENCODINGS = ("utf-8-sig", "gb18030")


@dataclass(frozen=True)
class Sheet:
    """One worksheet (or the CSV file): rows as (row number as the office sees it, cells)."""

    name: str | None
    rows: tuple[tuple[int, tuple[Cell, ...]], ...]
    # Rows with a cell merged across most of the width: titles, group headings, notes.
    banners: frozenset[int] = frozenset()


def read_csv(data: bytes) -> Sheet:
    text = _decode(data)
    reader = csv.reader(io.StringIO(text, newline=""))
    rows = []
    first_line = 1
    try:
        for record in reader:
            rows.append((first_line, tuple(cell.strip() or None for cell in record)))
            first_line = reader.line_num + 1
    except csv.Error:
        raise InputError("import_unreadable", format="CSV") from None
    return Sheet(None, tuple(rows))


def _decode(data: bytes) -> str:
    for encoding in CSV_ENCODINGS:
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise InputError("import_encoding")


def read_xlsx(data: bytes) -> list[Sheet]:
    # openpyxl (with numpy) costs the service 20 MB and 0.3 s at start: imported when needed.
    import openpyxl

    try:
        workbook = openpyxl.load_workbook(io.BytesIO(data), data_only=True)
    except Exception as error:  # openpyxl raises many kinds on a broken or foreign file
        log.debug("not a readable .xlsx: %r", error)
        raise InputError("import_unreadable", format="Excel (.xlsx)") from None
    return [_sheet(worksheet) for worksheet in workbook.worksheets]


def _sheet(worksheet: Worksheet) -> Sheet:
    """Cells merged down a column (one leader for several tasks) count for every row they
    cover; cells merged across columns (titles, notes) stay in their first cell only."""
    width = worksheet.max_column
    filled: dict[int, dict[int, Cell]] = {}
    banners: set[int] = set()
    for merged in worksheet.merged_cells.ranges:
        value = worksheet.cell(merged.min_row, merged.min_col).value
        for row in range(merged.min_row + 1, merged.max_row + 1):
            filled.setdefault(row, {})[merged.min_col - 1] = value
        if merged.max_col - merged.min_col + 1 >= max(3, width // 2):
            banners.update(range(merged.min_row, merged.max_row + 1))
    rows = []
    cells: tuple[Cell, ...]
    for number, cells in enumerate(
        worksheet.iter_rows(min_row=1, min_col=1, max_col=width, values_only=True), start=1
    ):
        values = [value.strip() or None if isinstance(value, str) else value for value in cells]
        for column, value in filled.get(number, {}).items():
            values[column] = value
        rows.append((number, tuple(values)))
    return Sheet(worksheet.title, tuple(rows), frozenset(banners))
