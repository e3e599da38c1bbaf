"""The shortcuts taken for speed keep the database's meaning: a chat's form is read once per
update yet never carried over to the next one, and a SQLite connection given back to the pool
in the middle of a transaction is still rolled back."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from aiogram.fsm.storage.base import StorageKey
from aiogram.types import TelegramObject, Update
from sqlalchemy import text

from bot.state import SqlStorage
from core.app import Core
from storage.db import Database
from tests.conftest import BACKEND

KEY = StorageKey(bot_id=1, chat_id=5, user_id=5)


async def test_a_form_is_read_once_per_update_and_afresh_in_the_next(core: Core) -> None:
    ours, other_copy = SqlStorage(core.db), SqlStorage(core.db)
    await other_copy.set_data(KEY, {"form": {"step": 1}})
    seen: list[dict[str, Any]] = []

    async def handle(event: TelegramObject, data: dict[str, Any]) -> None:
        await ours.get_state(KEY)  # what aiogram's FSM middleware does first
        # Another copy of the service, with a context of its own.
        await asyncio.create_task(other_copy.set_data(KEY, {"form": {"step": 2}}))
        seen.append(await ours.get_data(KEY))  # as read when the update began
        await ours.set_data(KEY, {"form": {"step": 3}})
        seen.append(await ours.get_data(KEY))  # its own change

    await ours.one_update(handle, Update(update_id=1), {})
    await other_copy.set_data(KEY, {"form": {"step": 4}})
    seen.append(await ours.get_data(KEY))  # after the update: read again
    await ours.set_state(KEY, None)
    await ours.set_data(KEY, {})
    seen.append(await other_copy.get_data(KEY))
    assert [form.get("form") for form in seen] == [
        {"step": 1}, {"step": 3}, {"step": 4}, None]


@pytest.mark.skipif(BACKEND != "sqlite", reason="the pool's reset is changed for SQLite only")
async def test_a_connection_back_in_the_pool_mid_transaction_is_rolled_back(
    database_url: str,
) -> None:
    db = Database(database_url, pool_size=1, max_overflow=0)
    try:
        async with db.engine.connect() as connection:
            raw = await connection.get_raw_connection()
            driver = raw.driver_connection
            assert driver is not None
            # Behind SQLAlchemy's back, so that only the pool's reset can end it.
            await driver.execute("BEGIN IMMEDIATE")
            await driver.execute("INSERT INTO chat_states (key, state, data, updated_at) "
                                 "VALUES ('left', NULL, '{}', '2026-12-01')")
        async with db.write() as session:  # the same connection: it must not be in a write
            await session.execute(text("DELETE FROM chat_states WHERE key = 'other'"))
        async with db.read() as session:
            left = await session.scalar(text("SELECT count(*) FROM chat_states WHERE key = 'left'"))
        assert left == 0
    finally:
        await db.dispose()
