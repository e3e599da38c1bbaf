"""Databases for benchmarks: migrated SQLite files with a bureau of people and tasks, filled in
bulk (plain INSERTs in large transactions) when the numbers are large."""

from __future__ import annotations

import asyncio
import itertools
import os
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import insert

from config.settings import Settings
from storage import migrate
from storage.db import Database
from storage.models import OutboxItem, Person, PersonRole, Task, TaskUpdate
from tests.fakes.telegram_api import DEFAULT_TOKEN

NOW = datetime.now(UTC)
CHUNK = 20_000
# `DUBAN_BENCH_SCALE=0.01 make bench` checks that every benchmark runs, in seconds; the figures
# it prints then say nothing about the goals.
SCALE = float(os.environ.get("DUBAN_BENCH_SCALE", "1"))


def scaled(count: int) -> int:
    return max(1, int(count * SCALE))


def bench_settings(database_url: str, **overrides: Any) -> Settings:
    """A benchmark's settings: the fake Bot API's token, no quiet hours, nothing read from the
    environment or a .env file."""
    values = {"database_url": database_url, "bot_token": DEFAULT_TOKEN, "quiet_hours": ""}
    return Settings(_env_file=None, **(values | overrides))


def sqlite_url(path: Path) -> str:
    return f"sqlite+aiosqlite:///{path}"


async def fresh_database(path: Path) -> Database:
    await asyncio.to_thread(path.unlink, True)
    await migrate.upgrade_async(sqlite_url(path))
    return Database(sqlite_url(path))


async def add_people(db: Database, officials: int, leaders: int) -> tuple[list[int], list[int]]:
    """Officials get Telegram ids 10_000+i, leaders 20_000+i; one admin (id 1, Telegram 1)."""
    rows = [{"id": 1, "name": "管理员", "telegram_id": 1}]
    rows += [{"id": 10 + i, "name": f"责任人{i}", "telegram_id": 10_000 + i}
             for i in range(officials)]
    rows += [{"id": 10 + officials + i, "name": f"领导{i}", "telegram_id": 20_000 + i}
             for i in range(leaders)]
    roles = [{"person_id": 1, "role": "admin"}]
    roles += [{"person_id": 10 + i, "role": "official"} for i in range(officials)]
    roles += [{"person_id": 10 + officials + i, "role": "leader"} for i in range(leaders)]
    async with db.write() as session:
        for row in rows:
            row.update(language="zh", active=True, subscribed_openings=False,
                       created_at=NOW, updated_at=NOW)
        await session.execute(insert(Person), rows)
        await session.execute(insert(PersonRole), roles)
    official_ids = [10 + i for i in range(officials)]
    leader_ids = [10 + officials + i for i in range(leaders)]
    return official_ids, leader_ids


async def add_tasks(
    db: Database, count: int, officials: list[int], leaders: list[int], seed: int = 7
) -> None:
    chance = random.Random(seed)
    statuses = ["not_started", "preparing", "preparing", "submitted", "recommended", "approved"]
    for start in range(0, count, CHUNK):
        rows = []
        for i in range(start, min(count, start + CHUNK)):
            due = NOW + timedelta(days=chance.randint(-20, 90), hours=chance.randint(0, 23))
            rows.append({
                "id": i + 1, "title": f"项目{i + 1}", "enterprise": f"企业{i % 997}",
                "official_id": officials[i % len(officials)],
                "leader_id": leaders[i % len(leaders)] if leaders else None,
                "due_at": due, "status": chance.choice(statuses),
                "progress": chance.randint(0, 100), "blocked": chance.random() < 0.05,
                "funding_sought": chance.randint(10, 500), "due_follows_guideline": False,
                "last_update_at": NOW - timedelta(days=chance.randint(0, 20)),
                "created_at": NOW - timedelta(days=60), "updated_at": NOW,
            })
        async with db.write() as session:
            await session.execute(insert(Task), rows)


async def add_updates(db: Database, tasks: int, officials: list[int], per_task: int = 3,
                      seed: int = 11) -> None:
    """A few weeks of history: `per_task` updates per task, by its official, some of them status
    changes (what a summary's "this week" part reads)."""
    chance = random.Random(seed)
    statuses = ["preparing", "submitted", "approved", "rejected"]
    updates = [(task, n) for task in range(1, tasks + 1) for n in range(per_task)]
    for start in range(0, len(updates), CHUNK):
        rows = []
        for task, n in updates[start:start + CHUNK]:
            status = chance.choice(statuses) if n == per_task - 1 else None
            rows.append({
                "task_id": task, "author_id": officials[(task - 1) % len(officials)],
                "channel": "telegram", "kind": "status" if status else "progress",
                "progress": None if status else chance.randint(0, 100), "status": status,
                "note": "材料整理中", "created_at": NOW - timedelta(days=chance.randint(0, 21)),
            })
        async with db.write() as session:
            await session.execute(insert(TaskUpdate), rows)


async def add_reminders(
    db: Database, count: int, tasks: int, due_now: int = 0, due_at: datetime | None = None,
    people: int = 1000, key: str = "bench",
) -> None:
    """`count` sent or pending reminders spread over tasks; the last `due_now` are due at
    `due_at` (a minute ago by default), the others later or sent already. Reminder `i` goes to
    official `i % people` about task `i % tasks + 1` (that official's task when people == tasks)
    and reads like a changed deadline: the task card with its buttons."""
    due_moment = due_at or NOW - timedelta(minutes=1)
    for start in range(0, count, CHUNK):
        rows = []
        for i in range(start, min(count, start + CHUNK)):
            due = i >= count - due_now
            at = due_moment if due else NOW + timedelta(minutes=1 + i % 100_000)
            rows.append({
                "person_id": 10 + (i % people), "kind": "due_changed",
                "task_id": 1 + (i % tasks),
                "dedupe_key": f"{key}:{i}", "due_at": at, "send_at": at,
                "status": "pending" if due or i % 2 else "sent", "attempts": 0,
                "payload": {}, "created_at": NOW,
            })
        async with db.write() as session:
            await session.execute(insert(OutboxItem), rows)


async def add_due_notices(
    db: Database, officials: list[int], per_person: int, at: datetime
) -> dict[int, int]:
    """`per_person` open tasks for each official, each with its "assigned" notice due at `at`
    (task ids numbered person by person). Returns each task's official's Telegram id."""
    chats: dict[int, int] = {}
    tasks, notices = [], []
    for number, (person, _) in enumerate(itertools.product(officials, range(per_person)), 1):
        chats[number] = 10_000 + person - 10
        tasks.append({
            "id": number, "title": f"项目{number}", "official_id": person,
            "due_at": at + timedelta(days=30), "status": "not_started", "progress": 0,
            "blocked": False, "due_follows_guideline": False, "last_update_at": at,
            "created_at": at, "updated_at": at,
        })
        notices.append({
            "person_id": person, "kind": "assigned", "task_id": number,
            "dedupe_key": f"assigned:{person}:{number}", "due_at": at, "send_at": at,
            "status": "pending", "attempts": 0, "payload": {}, "created_at": at,
        })
    for start in range(0, len(tasks), CHUNK):
        async with db.write() as session:
            await session.execute(insert(Task), tasks[start:start + CHUNK])
            await session.execute(insert(OutboxItem), notices[start:start + CHUNK])
    return chats


async def reminder_database(path: Path, reminders: int, due_now: int, tasks: int = 1000
                            ) -> Database:
    """A bureau of 1,000 officials and 10 leaders with `tasks` tasks and `reminders` outbox
    rows, `due_now` of them due."""
    db = await fresh_database(path)
    officials, leaders = await add_people(db, 1000, 10)
    await add_tasks(db, tasks, officials, leaders)
    await add_reminders(db, reminders, tasks, due_now=due_now)
    return db


async def large_database(workdir: Path) -> Database:
    """100,000 tasks and 1,000,000 reminders (50 due), built once per `make bench` and shared
    by the benchmarks that need a big database (the scan hands back what it claims)."""
    path = workdir / "large.db"
    if await asyncio.to_thread(path.exists):
        return Database(sqlite_url(path))
    building = path.with_suffix(".building")
    db = await reminder_database(building, scaled(1_000_000), due_now=50, tasks=scaled(100_000))
    await db.dispose()
    await asyncio.to_thread(building.rename, path)
    return Database(sqlite_url(path))
