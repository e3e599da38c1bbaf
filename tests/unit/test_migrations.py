"""The migrations build exactly the tables, columns and indexes the models declare, and undo."""

from __future__ import annotations

import asyncio
import sys
import uuid
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

from storage import migrate
from storage.db import Database
from storage.models import Base
from tests.conftest import BACKEND, postgres_admin, postgres_url, sqlite_url


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


@pytest.mark.skipif(BACKEND != "postgres", reason="several copies need PostgreSQL")
async def test_copies_starting_together_migrate_one_after_another() -> None:
    """Each copy's unit runs `duban db upgrade` before starting (deploy/duban@.service)."""
    name = f"duban_together_{uuid.uuid4().hex[:12]}"
    await asyncio.to_thread(postgres_admin, f'CREATE DATABASE "{name}"')
    url = postgres_url(name)
    db = Database(url)
    # What `duban db upgrade` runs, without loading the rest of Duban three times.
    script = "import sys; from storage import migrate; migrate.upgrade(sys.argv[1])"
    try:
        upgrades = [await asyncio.create_subprocess_exec(
            sys.executable, "-c", script, url, stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE) for _ in range(3)]
        for upgrade in upgrades:
            _, errors = await upgrade.communicate()
            assert upgrade.returncode == 0, errors.decode()
        assert await migrate.schema_is_current(db)
    finally:
        await db.dispose()
        await asyncio.to_thread(postgres_admin, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
