"""Engine and units of work.

SQLite runs in WAL mode with foreign keys on; write transactions start with `BEGIN IMMEDIATE` so
that two writers queue on the busy timeout instead of failing when a read lock is upgraded.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.pool import ConnectionPoolEntry, PoolResetState

from storage import sqlite_driver

_WRITE = "duban_write"
_SINGLE = "duban_single_statement"
PING_SECONDS = 3.0


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # Take transaction control away from the driver so BEGIN is ours to issue.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    for pragma in (
        "journal_mode=WAL",
        "foreign_keys=ON",
        "busy_timeout=15000",
        "synchronous=NORMAL",
    ):
        cursor.execute(f"PRAGMA {pragma}")
    cursor.close()


def _sqlite_begin(connection: Connection) -> None:
    options = connection.get_execution_options()
    if options.get(_SINGLE, False):
        return  # one statement is a transaction of its own
    connection.exec_driver_sql("BEGIN IMMEDIATE" if options.get(_WRITE, False) else "BEGIN")


def _sqlite_reset(dbapi_connection: Any, record: ConnectionPoolEntry, state: PoolResetState
                  ) -> None:
    # In place of the pool's rollback on every return, which costs a trip to aiosqlite's thread
    # for each transaction: a connection comes back after its commit or rollback, so only one
    # still inside a transaction (the driver knows without a trip) has anything to roll back.
    driver = record.driver_connection
    if state.asyncio_safe and driver is not None and driver.in_transaction:
        dbapi_connection.rollback()


def create_engine(url: str, **kwargs: Any) -> AsyncEngine:
    if url.startswith("sqlite"):
        engine = create_async_engine(url, module=sqlite_driver.dbapi(), pool_reset_on_return=None,
                                     **kwargs)
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        event.listen(engine.sync_engine, "begin", _sqlite_begin)
        event.listen(engine.sync_engine, "reset", _sqlite_reset)
        return engine
    return create_async_engine(url, pool_pre_ping=True, **kwargs)


class Database:
    """One engine; `read()` and `write()` open a session in a transaction, committed on success.
    `read_one()` and `write_one()` give a connection for a single Core statement, which needs no
    transaction around it: on SQLite they save the BEGIN and COMMIT (two of three trips to the
    driver's thread) and the ORM session, which matters on paths every message takes."""

    def __init__(self, url: str, **engine_kwargs: Any) -> None:
        self.url = url
        self.engine = create_engine(url, **engine_kwargs)
        self.dialect = self.engine.dialect.name
        self._reader = async_sessionmaker(self.engine, expire_on_commit=False)
        self._writer = async_sessionmaker(
            self.engine.execution_options(**{_WRITE: True}), expire_on_commit=False
        )
        self._single = self.engine.execution_options(**{_SINGLE: True})
        # SQLite has one writer: this process's writers queue here, in order, instead of
        # polling in SQLite's busy handler (sleeps of up to 100 ms each under load). Other
        # processes (a `duban import` beside the service) still wait on the busy timeout.
        self._one_writer: contextlib.AbstractAsyncContextManager[Any] = (
            asyncio.Lock() if self.dialect == "sqlite" else contextlib.nullcontext())

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncSession]:
        async with self._reader() as session, session.begin():
            yield session

    @asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncSession]:
        async with self._one_writer, self._writer() as session, session.begin():
            yield session

    @asynccontextmanager
    async def read_one(self) -> AsyncIterator[AsyncConnection]:
        async with self._single.connect() as connection:
            yield connection

    @asynccontextmanager
    async def write_one(self) -> AsyncIterator[AsyncConnection]:
        async with self._one_writer, self._single.begin() as connection:
            yield connection

    async def ping(self) -> bool:
        """Whether the database answers a trivial query within a few seconds."""
        try:
            async with asyncio.timeout(PING_SECONDS), self.engine.connect() as connection:
                await connection.execute(text("SELECT 1"))
        except (OSError, TimeoutError, SQLAlchemyError):
            return False
        return True

    async def dispose(self) -> None:
        await self.engine.dispose()
