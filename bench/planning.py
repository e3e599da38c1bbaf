"""Planning deadline reminders: ours (`core.planning.replan_tasks`: every task's nudges worked
out and stored as outbox rows in a few multi-row INSERTs) against the common aiogram reminder
bot's design, one APScheduler 3 job per reminder (`add_job` with a `DateTrigger`) in a
`SQLAlchemyJobStore` on a SQLite file — the same reminders, in the same run.

`peer_plan_speedup` is reminders stored per second, ours over theirs. The job store writes and
commits each job on its own, so its rate does not depend on how many there are; it is measured on
the reminders of the first `baseline_tasks` tasks to keep the benchmark short."""

from __future__ import annotations

import asyncio
import random
import time
from datetime import datetime, timedelta
from pathlib import Path

from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.date import DateTrigger
from sqlalchemy import insert, select

from bench.seed import NOW, add_people, bench_settings, fresh_database
from core.app import Core
from core.planning import replan_tasks
from storage.models import OutboxItem, Task

OFFICIALS = 1000


def send_reminder(task_id: int, person_id: int) -> None:
    """What the peer design's jobs would run; never runs here (the scheduler stays paused)."""


async def add_open_tasks(core: Core, count: int, officials: list[int]) -> None:
    """Tasks being prepared, due 20–90 days ahead, so every default offset is still to come."""
    chance = random.Random(11)
    rows = [{
        "id": i + 1, "title": f"项目{i + 1}", "official_id": officials[i % len(officials)],
        "due_at": NOW + timedelta(days=chance.randint(20, 90), hours=chance.randint(0, 23)),
        "status": "preparing", "progress": 0, "blocked": False, "due_follows_guideline": False,
        "last_update_at": NOW, "created_at": NOW, "updated_at": NOW,
    } for i in range(count)]
    async with core.db.write() as session:
        await session.execute(insert(Task), rows)


async def plan_ours(core: Core) -> float:
    started = time.perf_counter()
    async with core.db.write() as session:
        tasks = list(await session.scalars(select(Task)))
        await replan_tasks(core, session, tasks, core.clock.now())
    return time.perf_counter() - started


def plan_theirs(path: Path, reminders: list[tuple[int, int, str, datetime]]) -> float:
    scheduler = BackgroundScheduler(
        jobstores={"default": SQLAlchemyJobStore(url=f"sqlite:///{path}")})
    # Paused: jobs are written to the store at once, and none runs during the measurement.
    scheduler.start(paused=True)
    try:
        started = time.perf_counter()
        for task_id, person_id, offset, send_at in reminders:
            scheduler.add_job(send_reminder, DateTrigger(run_date=send_at),
                              args=[task_id, person_id], id=f"nudge:{task_id}:{offset}",
                              misfire_grace_time=3600, replace_existing=True)
        return time.perf_counter() - started
    finally:
        scheduler.shutdown(wait=False)


async def measure(workdir: Path, tasks: int = 10_000, baseline_tasks: int = 1_000
                  ) -> dict[str, float]:
    db = await fresh_database(workdir / "planning.db")
    settings = bench_settings(db.url, quiet_hours="21:00-08:00")
    core = Core(settings, db)
    try:
        officials, _ = await add_people(db, OFFICIALS, 0)
        await add_open_tasks(core, tasks, officials)
        ours_seconds = await plan_ours(core)
        async with db.read() as session:
            rows = (await session.execute(
                select(OutboxItem.task_id, OutboxItem.person_id, OutboxItem.payload,
                       OutboxItem.send_at).order_by(OutboxItem.id))).all()
    finally:
        await db.dispose()
    reminders = [(t, p, str(payload["offset"]), at) for t, p, payload, at in rows
                 if t is not None and t <= baseline_tasks]
    theirs_seconds = await asyncio.to_thread(plan_theirs, workdir / "apscheduler.db", reminders)
    ours_rate = len(rows) / ours_seconds
    theirs_rate = len(reminders) / theirs_seconds
    return {
        "peer_plan_speedup": round(ours_rate / theirs_rate, 1),
        "plan_tasks": tasks,
        "plan_reminders": len(rows),
        "plan_seconds": round(ours_seconds, 3),
        "plan_reminders_per_s": round(ours_rate),
        "apscheduler_jobs_per_s": round(theirs_rate),
    }
