"""The units of work of `storage.db` over the driver they run on (on SQLite, our one-trip
aiosqlite adapter): what SQLAlchemy reads off a statement is right, errors keep their kind and
undo the transaction, single statements stand alone, and writers take turns."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import func, insert, select, update
from sqlalchemy.exc import IntegrityError

from core.app import Core
from storage.models import AuditEntry, ChatState
from storage.queries import insert_many_ignore
from tests.conftest import BACKEND

NOW = datetime(2026, 12, 1, tzinfo=UTC)


def entry(action: str) -> AuditEntry:
    return AuditEntry(channel="test", action=action, subject="s", detail={"n": 1}, created_at=NOW)


async def count(core: Core, model: type[AuditEntry] | type[ChatState]) -> int:
    async with core.db.read() as session:
        return int(await session.scalar(select(func.count()).select_from(model)) or 0)


async def test_ids_rows_and_counts_come_back_as_stored(core: Core) -> None:
    async with core.db.write() as session:
        added = [entry(f"a{n}") for n in range(3)]
        session.add_all(added)
        await session.flush()
        assert len({e.id for e in added}) == 3 and all(e.id for e in added)
        changed = await session.execute(
            update(AuditEntry).where(AuditEntry.action != "a0").values(subject="t"))
        assert changed.rowcount == 2  # type: ignore[attr-defined]
    async with core.db.read() as session:
        rows = (await session.execute(
            select(AuditEntry.action, AuditEntry.subject, AuditEntry.detail)
            .order_by(AuditEntry.id))).all()
    assert [tuple(r) for r in rows] == [("a0", "s", {"n": 1}), ("a1", "t", {"n": 1}),
                                        ("a2", "t", {"n": 1})]


async def test_many_rows_at_once_skip_the_ones_already_there(core: Core) -> None:
    rows = [{"key": f"k{n}", "state": None, "data": {"n": n}, "updated_at": NOW}
            for n in range(5)]
    async with core.db.write() as session:
        await insert_many_ignore(session, ChatState, rows[:3], ["key"])
    async with core.db.write() as session:
        await insert_many_ignore(session, ChatState, rows, ["key"])
    assert await count(core, ChatState) == 5


async def test_a_failed_statement_keeps_its_kind_and_undoes_its_transaction(core: Core) -> None:
    row: dict[str, Any] = {"key": "same", "state": None, "data": {}, "updated_at": NOW}
    with pytest.raises(IntegrityError):
        async with core.db.write() as session:
            session.add(entry("undone"))
            await session.execute(insert(ChatState).values(row))
            await session.execute(insert(ChatState).values(row))
    assert await count(core, AuditEntry) == 0 and await count(core, ChatState) == 0
    with pytest.raises(IntegrityError):  # a single statement fails alone, too
        for _ in range(2):
            async with core.db.write_one() as connection:
                await connection.execute(insert(ChatState).values(row))
    assert await count(core, ChatState) == 1
    async with core.db.read_one() as connection:  # and the connections are fit to use again
        assert await connection.scalar(select(ChatState.key)) == "same"


async def test_a_single_statement_is_stored_without_a_transaction_around_it(core: Core) -> None:
    async with core.db.write_one() as connection:
        await connection.execute(insert(AuditEntry).values(
            channel="test", action="alone", subject="s", detail={}, created_at=NOW))
    async with core.db.read_one() as connection:
        assert await connection.scalar(select(AuditEntry.action)) == "alone"
        if BACKEND != "postgres":
            driver = (await connection.get_raw_connection()).driver_connection
            assert driver is not None and not driver.in_transaction


async def test_concurrent_writers_take_turns_and_none_is_lost(core: Core) -> None:
    """Forty read-then-write transactions at once on one counter: on SQLite they queue in this
    process instead of failing with "database is locked" or losing an increment."""
    async with core.db.write() as session:
        session.add(ChatState(key="counter", state=None, data={"n": 0}, updated_at=NOW))

    async def increment() -> None:
        async with core.db.write() as session:
            row = await session.get(ChatState, "counter", with_for_update=True)
            assert row is not None
            row.data = {"n": row.data["n"] + 1}

    await asyncio.gather(*(increment() for _ in range(40)))
    async with core.db.read() as session:
        row = await session.get(ChatState, "counter")
    assert row is not None and row.data == {"n": 40}


async def test_streamed_results_arrive_whole(core: Core) -> None:
    async with core.db.write() as session:
        session.add_all(entry(f"s{n}") for n in range(250))
    async with core.db.read() as session:
        streamed = await session.stream_scalars(select(AuditEntry.action).order_by(AuditEntry.id))
        actions = [action async for action in streamed]
    assert actions == [f"s{n}" for n in range(250)]
