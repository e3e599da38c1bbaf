"""`duban import FILE` and a file sent to the bot: read it (off the event loop), then save every
record in ONE transaction. Any mistake anywhere rejects the whole file, with every mistake
listed by row and column, and the database is left exactly as it was."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import PurePath
from typing import TYPE_CHECKING

from sqlalchemy.ext.asyncio import AsyncSession

from core.dto import PersonView
from core.enums import Channel, Saved
from core.errors import InputError, NotAllowed
from core.guidelines import GuidelineRecord
from core.importing.files import read_csv, read_xlsx
from core.importing.problems import FileRejected, Problem
from core.importing.rows import Entry, Reading, problem, read_rows
from core.importing.tables import Kind, MissingColumns, Table, find_table
from core.people import PersonRecord
from core.permissions import Permission, has_permission
from core.tasks import AssignRequest

if TYPE_CHECKING:
    from core.app import Core

FILE_TYPES = (".ics", ".csv", ".xlsx")


@dataclass
class Section:
    """What one table (or the calendar) of the file did."""

    kind: Kind
    counts: dict[Saved, int] = field(default_factory=lambda: dict.fromkeys(Saved, 0))
    tasks_moved: int = 0  # tasks that followed a guideline's moved deadline


@dataclass(frozen=True)
class ImportResult:
    filename: str
    sections: tuple[Section, ...]


@dataclass(frozen=True)
class Parsed:
    """A file read into records, before anything is saved."""

    tables: list[tuple[Kind, Table | None, list[Entry[object]]]]
    problems: list[Problem]


def file_type(filename: str) -> str:
    """The file's type by its name; anything else is refused before it is even downloaded."""
    suffix = PurePath(filename).suffix.lower()
    if suffix not in FILE_TYPES:
        raise InputError("import_type", name=filename)
    return suffix


def read_file(filename: str, data: bytes, reading: Reading) -> Parsed:
    """Pure and slow (openpyxl): run in a worker thread."""
    suffix = file_type(filename)
    if suffix == ".ics":
        # Imported with the first calendar: icalendar adds 30 ms to every start-up otherwise.
        from core.importing.ics import read_ics

        events, problems = read_ics(data, reading)
        if not events and not problems:
            raise InputError("import_empty", name=filename)
        return Parsed([(Kind.GUIDELINES, None, list(events))], problems)
    sheets = [read_csv(data)] if suffix == ".csv" else read_xlsx(data)
    tables: list[tuple[Kind, Table | None, list[Entry[object]]]] = []
    problems = []
    for sheet in sheets:
        try:
            table = find_table(sheet)
        except MissingColumns as missing:
            problems.append(missing.problem)
            continue
        if table is not None:
            entries, row_problems = read_rows(table, reading)
            tables.append((table.kind, table, entries))
            problems += row_problems
    if not tables and not problems:
        raise InputError("import_no_table", name=filename)
    # People and guidelines first, so the file's tasks may name them.
    tables.sort(key=lambda item: list(Kind).index(item[0]))
    return Parsed(tables, problems)


class Importer:
    def __init__(self, core: Core) -> None:
        self.core = core

    async def run(
        self, actor: PersonView | None, filename: str, data: bytes, channel: Channel
    ) -> ImportResult:
        """Import a file as `actor` (None: the command line, whoever may run it). Raises
        FileRejected (every mistake, nothing saved) or InputError (not a file we read)."""
        if actor is not None and not has_permission(actor, Permission.IMPORT):
            raise NotAllowed("import_not_allowed")
        settings = self.core.settings
        now = self.core.clock.now()
        reading = Reading(settings.tz, now, settings.due_time)
        parsed = await asyncio.to_thread(read_file, filename, data, reading)
        problems = list(parsed.problems)
        sections = []
        async with self.core.db.write() as session:
            for kind, table, entries in parsed.tables:
                section = Section(kind)
                for entry in _unique(kind, table, entries, problems):
                    try:
                        await self._save(session, section, entry.record, filename, actor,
                                         channel)
                    except InputError as error:
                        problems.append(problem(table, entry.row, error) if table
                                        else Problem(entry.row, error))
                sections.append(section)
            if problems:
                # Raising rolls the transaction back: the database is untouched.
                raise FileRejected(filename, sorted(problems, key=_position))
        self.core.outbox_signal.wake()
        return ImportResult(filename, tuple(sections))

    async def _save(
        self, session: AsyncSession, section: Section, record: object, filename: str,
        actor: PersonView | None, channel: Channel,
    ) -> None:
        now = self.core.clock.now()
        actor_id = actor.id if actor else None
        if isinstance(record, GuidelineRecord):
            saved, moved = await self.core.guidelines.save(
                session, record, source=filename, actor_id=actor_id, channel=channel, now=now)
            section.tasks_moved += moved
        elif isinstance(record, PersonRecord):
            _, saved = await self.core.people.save(session, record, actor_id=actor_id,
                                                   channel=channel, now=now)
        else:
            assert isinstance(record, AssignRequest)
            saved = await self.core.tasks.save_imported(session, record, actor, channel, now)
        section.counts[saved] += 1


def _unique(
    kind: Kind, table: Table | None, entries: Sequence[Entry[object]], problems: list[Problem]
) -> list[Entry[object]]:
    """A second row for the same guideline, person or task would silently overwrite the first:
    it is a mistake in the file."""
    first: dict[object, int] = {}
    unique = []
    for entry in entries:
        keys = _keys(entry.record)
        clash = next((first[k] for k in keys if k in first), None)
        if clash is not None:
            error = InputError("duplicate_row", field=_key_field(kind), row=clash,
                               what=str(keys[0][1]))
            problems.append(problem(table, entry.row, error) if table
                            else Problem(entry.row, error))
            continue
        first.update(dict.fromkeys(keys, entry.row))
        unique.append(entry)
    return unique


def _keys(record: object) -> list[tuple[str, object]]:
    if isinstance(record, GuidelineRecord):
        return [("key", record.key)]
    if isinstance(record, PersonRecord):
        keys: list[tuple[str, object]] = [("name", record.name)]
        keys += [("telegram", record.telegram_id)] if record.telegram_id is not None else []
        return keys + ([("wecom", record.wecom_id)] if record.wecom_id else [])
    assert isinstance(record, AssignRequest)
    return [("task", f"{record.title}｜{record.enterprise or ''}")]


def _key_field(kind: Kind) -> str:
    return {Kind.GUIDELINES: "guideline", Kind.ROSTER: "name", Kind.TASKS: "title"}[kind]


def _position(item: Problem) -> tuple[str, int]:
    return (item.sheet or "", item.row or 0)
