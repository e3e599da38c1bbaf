"""SQLAlchemy's aiosqlite adapter, with each statement done in one trip to the driver's thread.

The stock adapter makes a trip for every step of a statement: open a cursor, execute, fetch the
rows, close. Each trip queues work for aiosqlite's thread and wakes the event loop when it is
done, and those trips were most of the cost of handling a message (44 per progress update).
Here one function run in the thread executes, fetches and closes, and hands back the rows with
what SQLAlchemy reads off a cursor afterwards (description, rowcount, lastrowid).
Server-side cursors (`stream`) keep the stock adapter's behaviour.
"""

from __future__ import annotations

import collections
import sqlite3
from collections.abc import Sequence
from typing import Any

import aiosqlite
from sqlalchemy.dialects.sqlite.aiosqlite import (
    AsyncAdapt_aiosqlite_connection,
    AsyncAdapt_aiosqlite_cursor,
    AsyncAdapt_aiosqlite_dbapi,
)


class Outcome:
    """What a finished statement leaves for SQLAlchemy to read, in place of a live cursor."""

    __slots__ = ("arraysize", "description", "lastrowid", "rowcount")

    def __init__(self, cursor: sqlite3.Cursor | None = None) -> None:
        self.description = cursor.description if cursor else None
        self.rowcount = cursor.rowcount if cursor else -1
        self.lastrowid = cursor.lastrowid if cursor else None
        self.arraysize = 1

    def close(self) -> None:
        """Nothing is left open: the cursor was closed in the driver's thread."""


def _execute(connection: sqlite3.Connection, operation: str, parameters: Any
             ) -> tuple[Outcome, list[Any] | None]:
    cursor = connection.execute(operation, parameters)
    try:
        rows = cursor.fetchall() if cursor.description else None
        return Outcome(cursor), rows
    finally:
        cursor.close()


def _execute_many(connection: sqlite3.Connection, operation: str,
                  seq_of_parameters: Sequence[Any]) -> tuple[Outcome, None]:
    cursor = connection.executemany(operation, seq_of_parameters)
    try:
        return Outcome(cursor), None
    finally:
        cursor.close()


class OneTripCursor(AsyncAdapt_aiosqlite_cursor):
    __slots__ = ()
    _awaitable_cursor_close = False

    def _make_new_cursor(self, connection: Any) -> Any:
        return Outcome()

    def _aenter_cursor(self, cursor: Any) -> Any:
        return cursor

    async def _execute_async(self, operation: Any, parameters: Any) -> Any:
        return await self._in_thread(_execute, operation, () if parameters is None else parameters)

    async def _executemany_async(self, operation: Any, seq_of_parameters: Any) -> Any:
        return await self._in_thread(_execute_many, operation, seq_of_parameters)

    async def _in_thread(self, function: Any, operation: Any, parameters: Any) -> None:
        driver: aiosqlite.Connection = self._connection  # type: ignore[assignment]
        async with self._adapt_connection._execute_mutex:
            # aiosqlite's own queue to its thread (SQLAlchemy's adapter uses it the same way).
            outcome, rows = await driver._execute(  # type: ignore[no-untyped-call]
                function, driver._conn, operation, parameters)
        self._cursor = outcome
        if rows is not None:
            self._rows = collections.deque(rows)


class OneTripConnection(AsyncAdapt_aiosqlite_connection):
    """Commit and rollback make no trip when no transaction is open: a statement that ran on
    its own (`Database.read_one`) has nothing to end."""

    __slots__ = ()
    _cursor_cls = OneTripCursor

    def commit(self) -> None:
        if self._in_transaction():
            super().commit()

    def rollback(self) -> None:
        if self._in_transaction():
            super().rollback()

    def _in_transaction(self) -> bool:
        # The sqlite3 connection knows without a trip; None once it is closed.
        driver: sqlite3.Connection | None = self._connection._connection
        return driver is not None and driver.in_transaction


class OneTripDBAPI(AsyncAdapt_aiosqlite_dbapi):
    def connect(self, *arg: Any, **kw: Any) -> AsyncAdapt_aiosqlite_connection:
        stock = super().connect(*arg, **kw)
        return OneTripConnection(self, stock._connection)


def dbapi() -> OneTripDBAPI:
    """For `create_async_engine(..., module=dbapi())` with a `sqlite+aiosqlite` URL."""
    return OneTripDBAPI(aiosqlite, sqlite3)
