"""Shared fixtures: a migrated database per test, settings, a frozen clock, the core.

The database is a SQLite file, or with `DUBAN_TEST_BACKEND=postgres` a PostgreSQL database
created for the test from a migrated template at `DUBAN_TEST_POSTGRES_URL`."""

from __future__ import annotations

import asyncio
import os
import shutil
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import pytest
from sqlalchemy.engine import make_url

from config.settings import Settings
from core.app import Core
from core.clock import FrozenClock
from core.dto import PersonView
from core.enums import Role
from storage import migrate
from storage.db import Database

TZ = ZoneInfo("Asia/Shanghai")
# A Tuesday morning, working day, outside quiet hours.
T0 = datetime(2026, 12, 1, 10, 0, tzinfo=TZ)
TOKEN = "123456789:TEST-token-for-duban-tests-only"


def local(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    """A moment in the bureau's time zone."""
    return datetime(year, month, day, hour, minute, tzinfo=TZ)


BACKEND = os.environ.get("DUBAN_TEST_BACKEND", "sqlite")
POSTGRES_URL = os.environ.get(
    "DUBAN_TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
)
# Tests that mostly wait on the real clock (the service nudging on time, processes killed and
# restarted) run once, in the SQLite pass: what they prove does not depend on the database, and
# the PostgreSQL pass has a kill test of its own (three copies, tests/e2e/test_copies.py).
in_one_pass_only = pytest.mark.skipif(
    BACKEND == "postgres", reason="a real-time test: run in the SQLite pass of make test")


def sqlite_url(path: Path) -> str:
    return f"sqlite+aiosqlite:///{path}"


def postgres_url(database: str) -> str:
    return make_url(POSTGRES_URL).set(database=database).render_as_string(hide_password=False)


def postgres_admin(statement: str) -> None:
    async def run() -> None:
        url = make_url(POSTGRES_URL)
        connection = await asyncpg.connect(
            host=url.host, port=url.port, user=url.username, password=url.password,
            database=url.database,
        )
        try:
            await connection.execute(statement)
        finally:
            await connection.close()

    asyncio.run(run())


@pytest.fixture(scope="session")
def migrated_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Migrate once per test session; each test gets a copy of the file."""
    path = tmp_path_factory.mktemp("template") / "template.db"
    migrate.upgrade(sqlite_url(path))
    return path


@pytest.fixture
def db_path(tmp_path: Path, migrated_template: Path) -> Path:
    path = tmp_path / "duban.db"
    shutil.copy(migrated_template, path)
    return path


@pytest.fixture(scope="session")
def postgres_template() -> Iterator[str]:
    name = f"duban_template_{os.getpid()}"
    postgres_admin(f'DROP DATABASE IF EXISTS "{name}"')
    postgres_admin(f'CREATE DATABASE "{name}"')
    migrate.upgrade(postgres_url(name))
    yield name
    postgres_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def database_url(request: pytest.FixtureRequest, db_path: Path) -> Iterator[str]:
    """The test's database: the SQLite file `db_path`, or a fresh PostgreSQL database."""
    if BACKEND != "postgres":
        yield sqlite_url(db_path)
        return
    template = request.getfixturevalue("postgres_template")
    name = f"duban_test_{uuid.uuid4().hex[:12]}"
    postgres_admin(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    yield postgres_url(name)
    postgres_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def make_settings(database: Path | str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "database_url": sqlite_url(database) if isinstance(database, Path) else database,
        "bot_token": TOKEN,
        "timezone": "Asia/Shanghai",
        "quiet_hours": "",
        "dispatch_interval_seconds": 0.2,
        "http_port": 0,  # a free port: tests run side by side
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)


@pytest.fixture
def settings(database_url: str) -> Settings:
    return make_settings(database_url)


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(T0)


@pytest.fixture
async def core(settings: Settings, clock: FrozenClock) -> AsyncIterator[Core]:
    db = Database(settings.database_url)
    yield Core(settings, db, clock)
    await db.dispose()


class Staff:
    """The bureau's people for a test: one of each role, plus a second official and leader."""

    def __init__(self, core: Core) -> None:
        self.core = core
        self.admin: PersonView
        self.director: PersonView
        self.leader: PersonView
        self.leader2: PersonView
        self.official: PersonView
        self.official2: PersonView

    async def create(self) -> Staff:
        add = self.core.people.add
        self.admin = await add("王主任", {Role.ADMIN}, telegram_id=1001)
        self.director = await add("赵局长", {Role.DIRECTOR}, telegram_id=1002)
        self.leader = await add("张副局长", {Role.LEADER}, telegram_id=1003)
        self.leader2 = await add("钱副局长", {Role.LEADER}, telegram_id=1004)
        self.official = await add("李明", {Role.OFFICIAL}, telegram_id=1005)
        self.official2 = await add("孙丽", {Role.OFFICIAL}, telegram_id=1006)
        return self

    def everyone(self) -> list[PersonView]:
        return [self.admin, self.director, self.leader, self.leader2, self.official,
                self.official2]


@pytest.fixture
async def staff(core: Core) -> Staff:
    return await Staff(core).create()
