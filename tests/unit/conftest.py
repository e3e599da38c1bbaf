"""Fixtures of the fuzz suites: hypothesis calls a test many times within one fixture setup, so
they drive their own event loop (`runner`) over one populated bureau (`world`)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from core.app import Core
from core.clock import FrozenClock
from storage.db import Database
from tests.conftest import T0, make_settings
from tests.fuzzing import populate


@pytest.fixture
def runner() -> Iterator[asyncio.Runner]:
    with asyncio.Runner() as loop_runner:
        yield loop_runner


@pytest.fixture
def world(runner: asyncio.Runner, database_url: str) -> Iterator[Core]:
    core = Core(make_settings(database_url), Database(database_url), FrozenClock(T0))
    runner.run(populate(core))
    yield core
    runner.run(core.db.dispose())
