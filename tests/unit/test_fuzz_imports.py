"""Hypothesis-generated import files: the office's own guideline lists, rosters, task sheets and
calendars (tests/files.py), mutated — broken dates, missing columns, wrong types, huge cells,
merged cells, rows shuffled, bytes cut off or garbled — and sent the two ways files arrive: to
the bot (the conversation, as an admin) and to `duban import` (no actor).

Each file is either imported whole (every created record is in its table) or rejected with a
Chinese message placing every mistake (row or .ics line, and the column or property when the
mistake is in one cell), the database unchanged; never an unhandled exception."""

from __future__ import annotations

import asyncio
import re
from datetime import date, datetime, time
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from core.app import Core
from core.chat.context import MemoryFormState, Speaker
from core.chat.conversation import Conversation
from core.chat.imports import Upload, rejection_text
from core.enums import Channel, Saved
from core.errors import InputError
from core.importing.importer import ImportResult
from core.importing.problems import FileRejected
from core.importing.tables import Kind
from tests.files import (
    GUIDELINE_CSV,
    GUIDELINE_MERGES,
    GUIDELINE_ROWS,
    ICS,
    ROSTER_ROWS,
    TASK_MERGES,
    TASK_ROWS,
    Rows,
    csv_file,
    workbook,
)
from tests.fuzzing import Dump, dump, fuzz
from tests.unit.test_fuzz_conversation import check_replies

ADMIN = Speaker(Channel.TELEGRAM, "1001")
CHINESE = re.compile(r"[\u4e00-\u9fff]")
# A header without a required column is placed at the header's row and names the missing
# columns in its message; every other mistake is in a column.
ROW_MISTAKES = {"import_missing_columns"}
TABLES = {Kind.GUIDELINES: "guidelines", Kind.ROSTER: "people", Kind.TASKS: "tasks"}
BASES: list[tuple[Rows, list[str]]] = [
    (GUIDELINE_ROWS, GUIDELINE_MERGES), (GUIDELINE_CSV, []), (TASK_ROWS, TASK_MERGES),
    (ROSTER_ROWS, []),
]

# Cell values a spreadsheet may hold. openpyxl refuses control characters, as Excel does.
printable = st.characters(blacklist_categories=("Cs", "Cc"))
cells = st.one_of(
    st.sampled_from(["2026-02-30", "2027年13月1日", "13/45/2027", "明年", "下周五", "昨天",
                     "2020-01-01", "0", "-1", "1e9", "30万", "abc", "李明", "张副局长", "无名氏",
                     "admin", "责任人、局长", "国家重点研发计划", "合计", "注：", "=1/0",
                     "=HYPERLINK(\"x\")", "#REF!", " ", "\u3000", "<b>", "&amp;", "😀"]),
    st.integers(-10**12, 10**12), st.floats(allow_nan=False, allow_infinity=False),
    st.booleans(), st.none(),
    st.dates(date(1900, 3, 1), date(2200, 1, 1)),
    st.datetimes(datetime(1900, 3, 1), datetime(2200, 1, 1)),  # noqa: DTZ001 - as Excel has them
    st.times().map(time.isoformat),
    st.text(printable, max_size=40),
    st.integers(300, 40_000).map(lambda n: "长" * n),  # a huge cell
)


@st.composite
def mutated_rows(draw: st.DrawFn, base: Rows) -> Rows:
    rows = [list(row) for row in base]
    for _ in range(draw(st.integers(0, 4))):
        width = max(len(row) for row in rows) if rows else 1
        mutation = draw(st.sampled_from(
            ["cell", "cell", "cell", "drop_column", "drop_row", "copy_row", "swap_rows",
             "blank_row", "new_row", "cut_row"]))
        at = draw(st.integers(0, max(0, len(rows) - 1)))
        column = draw(st.integers(0, width - 1))
        if mutation == "cell" and rows:
            rows[at] += [None] * (column + 1 - len(rows[at]))
            rows[at][column] = draw(cells)
        elif mutation == "drop_column":
            rows = [row[:column] + row[column + 1:] for row in rows]
        elif mutation == "drop_row" and rows:
            del rows[at]
        elif mutation == "copy_row" and rows:
            rows.insert(draw(st.integers(0, len(rows))), list(rows[at]))
        elif mutation == "swap_rows" and rows:
            other = draw(st.integers(0, len(rows) - 1))
            rows[at], rows[other] = rows[other], rows[at]
        elif mutation == "blank_row":
            rows.insert(at, [])
        elif mutation == "new_row":
            rows.insert(at, draw(st.lists(cells, max_size=width + 2)))
        elif mutation == "cut_row" and rows:
            rows[at] = rows[at][:column]
    return rows


def as_text(value: Any) -> Any:
    """A CSV cell is text: dates as an office's CSV export writes them."""
    return value.isoformat(" ") if isinstance(value, datetime) else value


@st.composite
def csv_files(draw: st.DrawFn) -> bytes:
    rows, _ = draw(st.sampled_from(BASES))
    text_rows = [[as_text(value) for value in row] for row in draw(mutated_rows(rows))]
    encoding = draw(st.sampled_from(["utf-8", "utf-8-sig", "gbk"]))
    try:
        return csv_file(text_rows, encoding)
    except UnicodeEncodeError:  # not every character has a GBK code
        return csv_file(text_rows)


@st.composite
def merges(draw: st.DrawFn, rows: Rows) -> list[str]:
    """The base's merged ranges that still fit, and a few new ones (never overlapping)."""
    height, width = max(1, len(rows)), max([1, *(len(row) for row in rows)])
    taken: set[tuple[int, int]] = set()
    ranges = []
    for _ in range(draw(st.integers(0, 3))):
        top, left = draw(st.integers(1, height)), draw(st.integers(1, width))
        bottom, right = draw(st.integers(top, height)), draw(st.integers(left, width))
        covered = {(r, c) for r in range(top, bottom + 1) for c in range(left, right + 1)}
        if len(covered) > 1 and not covered & taken:
            taken |= covered
            ranges.append(f"{_column(left)}{top}:{_column(right)}{bottom}")
    return ranges


def _column(number: int) -> str:
    name = ""
    while number:
        number, rest = divmod(number - 1, 26)
        name = chr(65 + rest) + name
    return name


@st.composite
def xlsx_files(draw: st.DrawFn) -> bytes:
    sheets = []
    for index in range(draw(st.integers(1, 3))):
        rows, base_merges = draw(st.sampled_from(BASES))
        mutated = draw(mutated_rows(rows))
        kept = base_merges if mutated == rows else []  # the base's merges fit the base only
        sheets.append((f"表{index + 1}", mutated, kept or draw(merges(mutated))))
    return workbook(*sheets)


ICS_LINES = ICS.split("\r\n")
ics_values = st.one_of(
    st.sampled_from(["20270230T090000", "2027", "20271301", "P", "PT", "-P1D", "FREQ=",
                     "FREQ=DAILY;COUNT=x",
                     "TZID=Nowhere:20270104T090000", "19000101", "99991231T235959Z", ""]),
    st.text(printable, max_size=60),
)


@st.composite
def ics_files(draw: st.DrawFn) -> bytes:
    lines = list(ICS_LINES)
    for _ in range(draw(st.integers(0, 5))):
        at = draw(st.integers(0, len(lines) - 1))
        mutation = draw(st.sampled_from(["value", "value", "drop", "copy", "insert", "cut"]))
        if mutation == "value":
            name = draw(st.sampled_from(["DTSTART", "DTEND", "DTSTART;VALUE=DATE", "RRULE",
                                         "DURATION", "SUMMARY", "UID", "RECURRENCE-ID",
                                         "STATUS", "CATEGORIES", "URL", "ORGANIZER;CN=x"]))
            lines[at] = f"{name}:{draw(ics_values)}"
        elif mutation == "drop":
            del lines[at]
        elif mutation == "copy":
            lines.insert(draw(st.integers(0, len(lines))), lines[at])
        elif mutation == "insert":
            lines.insert(at, draw(st.text(printable, max_size=80)))
        else:
            lines[at] = lines[at][: draw(st.integers(0, len(lines[at])))]
    return "\r\n".join(lines).encode()


@st.composite
def garbled(draw: st.DrawFn, data: bytes) -> bytes:
    """The file cut off, bytes overwritten or inserted: a broken download or disk."""
    mutation = draw(st.sampled_from(["cut", "overwrite", "insert"]))
    # A share of the length, not an offset: a workbook's length varies with its timestamps, and
    # hypothesis needs the same draws to replay a case.
    at = len(data) * draw(st.integers(0, 1000)) // 1000
    if mutation == "cut":
        return data[:at]
    noise = draw(st.binary(min_size=1, max_size=16))
    return data[:at] + noise + data[at + len(noise) * (mutation == "overwrite"):]


@st.composite
def files(draw: st.DrawFn) -> tuple[str, bytes]:
    suffix = draw(st.sampled_from([".csv", ".xlsx", ".ics"]))
    builder = {".csv": csv_files(), ".xlsx": xlsx_files(), ".ics": ics_files()}[suffix]
    data = draw(st.one_of(builder, st.binary(max_size=2000)))
    if draw(st.integers(0, 9)) == 0:
        data = draw(garbled(data))
    if draw(st.integers(0, 19)) == 0:  # a file of one kind named as another
        suffix = draw(st.sampled_from([".csv", ".xlsx", ".ics"]))
    return f"导入{suffix}", data


def check_rejection(rejected: FileRejected) -> None:
    text = rejection_text("zh", rejected)
    assert CHINESE.search(text), text
    for problem in rejected.problems:
        assert problem.row is not None, (problem, text)
        assert problem.column is not None or problem.error.key in ROW_MISTAKES, (problem, text)


def check_whole(result: ImportResult, before: Dump, after: Dump) -> None:
    """Every record the import says it created is in its table."""
    created = dict.fromkeys(TABLES.values(), 0)
    for section in result.sections:
        created[TABLES[section.kind]] += section.counts[Saved.CREATED]
    for table, count in created.items():
        assert len(after[table]) - len(before[table]) == count, (table, result)


async def import_from_cli(core: Core, filename: str, data: bytes) -> None:
    before = await dump(core)
    try:
        result = await core.imports.run(None, filename, data, Channel.CLI)
    except FileRejected as rejected:
        check_rejection(rejected)
    except InputError as error:  # not a file we read at all: said in one line
        assert error.key.startswith("import_"), error.key
    else:
        check_whole(result, before, await dump(core))
        return
    assert await dump(core) == before


async def send_to_bot(core: Core, filename: str, data: bytes) -> None:
    async def fetch() -> bytes:
        return data

    before = await dump(core)
    upload = Upload(filename, len(data), fetch)
    replies = await Conversation(core).document(ADMIN, upload, MemoryFormState())
    check_replies(replies)
    if any(reply.error for reply in replies):
        assert CHINESE.search(replies[0].text), replies[0].text
        assert await dump(core) == before


@fuzz("imports")
@given(file=files(), to_bot=st.booleans())
def test_any_import_file_is_taken_whole_or_rejected_with_where_and_nothing_changed(
    runner: asyncio.Runner, world: Core, file: tuple[str, bytes], to_bot: bool
) -> None:
    filename, data = file
    runner.run((send_to_bot if to_bot else import_from_cli)(world, filename, data))
