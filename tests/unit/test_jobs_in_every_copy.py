"""The periodic jobs run in every running copy: three copies starting at the same moment (each
with its own connections to one database) run their start-up jobs at once, and still the
weekly summary is stored once and the admins hear once about missed messages."""

from __future__ import annotations

import asyncio
from collections import Counter

from sqlalchemy import select

from core.app import Core
from core.clock import FrozenClock
from scheduler.jobs import JOBS
from storage.db import Database
from storage.models import JobRun, OutboxItem
from tests.bureau import MONDAY, populate
from tests.conftest import Staff


async def test_three_copies_running_the_start_up_jobs_at_once_store_each_thing_once(
    core: Core, staff: Staff, clock: FrozenClock
) -> None:
    await populate(core, staff, clock)  # its notices were never sent: weeks old by MONDAY
    clock.set(MONDAY)  # the summary's moment
    copies = [Core(core.settings, Database(core.settings.database_url), clock) for _ in range(3)]
    try:
        await asyncio.gather(*(job.run(copy) for job in JOBS if job.run_at_start
                               for copy in copies))
    finally:
        for copy in copies:
            await copy.db.dispose()

    async with core.db.read() as session:
        runs = list(await session.scalars(select(JobRun.run_key)))
        kinds = Counter((row.person_id, row.kind) for row in await session.scalars(
            select(OutboxItem).where(OutboxItem.status == "pending")))
    assert [key for key in runs if key.startswith("summary:weekly:")] == [
        f"summary:weekly:{MONDAY.isoformat()}"]
    for person in (staff.director, staff.leader, staff.leader2):
        assert kinds[(person.id, "summary_chart")] == 1
    assert kinds[(staff.admin.id, "missed")] == 1
