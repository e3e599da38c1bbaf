"""The migrations build exactly the tables, columns and indexes the models declare, and undo."""

from __future__ import annotations

from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

from storage import migrate
from storage.db import Database
from storage.models import Base
from tests.conftest import sqlite_url


async def _differences(db: Database) -> list[object]:
    async with db.engine.connect() as connection:
        return await connection.run_sync(
            lambda sync: compare_metadata(
                MigrationContext.configure(sync, opts={"compare_type": True}), Base.metadata
            )
        )


async def _tables(db: Database) -> set[str]:
    async with db.engine.connect() as connection:
        return set(await connection.run_sync(lambda sync: inspect(sync).get_table_names()))


async def test_upgrade_matches_models_and_downgrade_empties(tmp_path: Path) -> None:
    url = sqlite_url(tmp_path / "m.db")
    await migrate.upgrade_async(url)
    db = Database(url)
    try:
        assert await migrate.schema_is_current(db)
        assert await _differences(db) == []
        await migrate.downgrade_async(url)
        assert await _tables(db) == {"alembic_version"}
        assert not await migrate.schema_is_current(db)
    finally:
        await db.dispose()
