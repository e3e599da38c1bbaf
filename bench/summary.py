"""The weekly summary run for 10,000 tasks (`summary_s`): every leader's portfolio and the
director's bureau gathered, worded and stored in the outbox, as the `weekly_summary` job does
at its time. The charts and the director's Excel 台账 are made later, one per message as the
outbox sends them; making all of them is reported as `summary_attachments_s` (no goal)."""

from __future__ import annotations

import time
from pathlib import Path

from sqlalchemy import insert, select

from bench.seed import (
    NOW,
    add_people,
    add_tasks,
    add_updates,
    bench_settings,
    fresh_database,
    scaled,
)
from core import notices
from core.app import Core
from core.enums import Role
from core.summary.messages import enqueue_run
from storage.models import OutboxItem, PersonRole

OFFICIALS, LEADERS = 200, 10


async def measure(workdir: Path, tasks: int | None = None) -> dict[str, float]:
    count = tasks or scaled(10_000)
    db = await fresh_database(workdir / "summary.db")
    try:
        officials, leaders = await add_people(db, OFFICIALS, LEADERS)
        async with db.write() as session:  # the admin (person 1) directs the bureau too
            await session.execute(insert(PersonRole), [{"person_id": 1,
                                                        "role": Role.DIRECTOR.value}])
        await add_tasks(db, count, officials, leaders)
        await add_updates(db, count, officials)
        core = Core(bench_settings(db.url), db)
        started = time.perf_counter()
        people = await enqueue_run(core, "bench", NOW)
        summary = time.perf_counter() - started
        assert people == LEADERS + 1, f"summaries for {people} people, {LEADERS + 1} expected"

        async with db.read() as session:
            rows = list(await session.scalars(select(OutboxItem).where(
                OutboxItem.kind.in_(["summary_chart", "summary_export"]))))
        started = time.perf_counter()
        for row in rows:
            person = await core.people.get(row.person_id)
            for rendered in await notices.render(core, person, [row]):
                assert rendered.reply.attachment is not None, f"no attachment for {row.kind}"
        attachments = time.perf_counter() - started
    finally:
        await db.dispose()
    return {
        "summary_s": round(summary, 2),
        "summary_attachments_s": round(attachments, 2),
    }
