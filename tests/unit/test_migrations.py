"""The migrations build exactly the tables, columns and indexes the models declare, undo it all,
and build it again — on SQLite and, with DUBAN_TEST_BACKEND=postgres, on PostgreSQL; every
revision also on its own, one step up and one step down."""

from __future__ import annotations

import asyncio
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect

from storage import migrate
from storage.db import Database
from storage.models import Base
from tests.conftest import BACKEND, postgres_admin, postgres_url, sqlite_url


@pytest.fixture
def empty_url(tmp_path: Path) -> Iterator[str]:
    """A database without a single table, on the backend under test."""
    if BACKEND != "postgres":
        yield sqlite_url(tmp_path / "m.db")
        return
    name = f"duban_migrate_{uuid.uuid4().hex[:12]}"
    postgres_admin(f'CREATE DATABASE "{name}"')
    yield postgres_url(name)
    postgres_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
async def empty(empty_url: str) -> AsyncIterator[Database]:
    db = Database(empty_url)
    yield db
    await db.dispose()


async def _differences(db: Database) -> list[object]:
    """What `alembic revision --autogenerate` would write: nothing when models and schema agree."""
    async with db.engine.connect() as connection:
        return await connection.run_sync(
            lambda sync: compare_metadata(
                MigrationContext.configure(sync, opts={"compare_type": True,
                                                       "compare_server_default": True}),
                Base.metadata,
            )
        )


async def _tables(db: Database) -> set[str]:
    async with db.engine.connect() as connection:
        return set(await connection.run_sync(lambda sync: inspect(sync).get_table_names()))


async def test_empty_to_head_matches_models_down_to_base_and_up_again(empty: Database) -> None:
    assert empty.dialect == ("postgresql" if BACKEND == "postgres" else "sqlite")
    for _ in range(2):  # the second upgrade proves the downgrade left nothing in the way
        await migrate.upgrade_async(empty.url)
        assert await migrate.schema_is_current(empty)
        assert await _differences(empty) == []
        await migrate.downgrade_async(empty.url)
        assert await _tables(empty) == {"alembic_version"}
        assert not await migrate.schema_is_current(empty)


async def test_every_revision_upgrades_and_downgrades_on_its_own(empty: Database) -> None:
    script = ScriptDirectory.from_config(migrate.alembic_config(empty.url))
    revisions = [r.revision for r in reversed(list(script.walk_revisions()))]
    assert len(revisions) >= 2
    seen: list[set[str]] = [set()]
    for revision in revisions:
        await migrate.upgrade_async(empty.url, revision)
        seen.append(await _tables(empty) - {"alembic_version"})
    for revision, before in zip(reversed(revisions), reversed(seen[:-1]), strict=True):
        await migrate.downgrade_async(empty.url, "-1")
        assert await _tables(empty) - {"alembic_version"} == before, revision


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
