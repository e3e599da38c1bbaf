"""`duban backup` while Duban writes: the copy, restored, is a consistent database the app opens,
and a steady stream of commits cannot keep a backup from finishing."""

from __future__ import annotations

import asyncio
import os
import shutil
import sqlite3
import sys
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from core.app import Core
from core.chat.context import MemoryFormState, Speaker
from core.chat.conversation import Conversation
from core.clock import FrozenClock
from core.enums import Channel
from core.tasks import AssignRequest
from storage import backup, migrate
from storage.db import Database
from storage.models import Task
from tests.conftest import BACKEND, T0, Staff, make_settings, sqlite_url

pytestmark = pytest.mark.skipif(
    BACKEND == "postgres",
    reason="duban backup copies a SQLite file with SQLite's online backup API; "
           "a PostgreSQL database is backed up with pg_dump (README)")
DUBAN = Path(sys.executable).with_name("duban")
HISTORY_ROWS = 10_000  # 4 KB each, 40 MB of audit history: ten steps of a stepwise copy




def add_history(path: Path) -> None:
    with sqlite3.connect(path) as db:
        db.execute("WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?) "
                   "INSERT INTO audit_log (channel, action, subject, detail, created_at) "
                   "SELECT 'cli', 'history', 'task:0', json_object('note', hex(randomblob(2000))),"
                   " '2026-01-01 00:00:00.000000' FROM n", (HISTORY_ROWS,))


async def keep_writing(core: Core, staff: Staff, stop: asyncio.Event) -> int:
    """Assign a task and report progress on it, over and over; returns how many."""
    written = 0
    while not stop.is_set():
        written += 1
        request = AssignRequest("李明", "2026-12-20", f"并发写入 {written}", "张副局长")
        task = (await core.tasks.assign(staff.admin, request, Channel.CLI)).task
        await core.tasks.report(staff.official, task.id, Channel.TELEGRAM,
                                progress=written % 100)
    return written


async def run_backup(database_url: str, target: Path) -> tuple[int, str]:
    env = {**os.environ, "DUBAN_DATABASE_URL": database_url}
    process = await asyncio.create_subprocess_exec(
        DUBAN, "backup", str(target), env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    output, _ = await asyncio.wait_for(process.communicate(), timeout=120)
    return process.returncode or 0, output.decode()


def check_integrity(path: Path) -> int:
    """SQLite's own checks, then the rows' agreement: every task has the update its assignment
    wrote, and its progress is that of its latest progress update. Returns the tasks."""
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        assert db.execute("PRAGMA foreign_key_check").fetchall() == []
        tasks = db.execute("SELECT id, progress FROM tasks").fetchall()
        for task_id, progress in tasks:
            updates = db.execute("SELECT kind, progress FROM task_updates WHERE task_id = ? "
                                 "ORDER BY id", (task_id,)).fetchall()
            assert updates and updates[0][0] == "assigned", (task_id, updates)
            reported = [p for _, p in updates if p is not None]
            assert progress == (reported[-1] if reported else 0), (task_id, updates)
        return len(tasks)


async def test_a_backup_taken_during_writes_restores_to_a_consistent_database(
    db_path: Path, tmp_path: Path
) -> None:
    """`duban backup` in its own process while tasks are assigned and reported on, each in its
    own transaction as the bot does."""
    url = sqlite_url(db_path)
    add_history(db_path)
    core = Core(make_settings(url), Database(url), FrozenClock(T0))
    staff = await Staff(core).create()
    stop = asyncio.Event()
    writer = asyncio.create_task(keep_writing(core, staff, stop))
    await asyncio.sleep(0.2)  # writes under way before the backup starts
    target = tmp_path / "backup.db"
    try:
        code, output = await run_backup(url, target)
    finally:
        stop.set()
        written = await writer
        await core.db.dispose()
    assert code == 0, output
    assert "已备份到" in output

    restored = tmp_path / "restored.db"
    shutil.copy(target, restored)
    tasks = check_integrity(restored)
    assert 0 < tasks < written, (tasks, written)  # a moment in the middle of the writes

    copy = Core(make_settings(sqlite_url(restored)), Database(sqlite_url(restored)),
                FrozenClock(T0))
    try:
        assert await migrate.schema_is_current(copy.db)
        async with copy.db.read() as session:
            assert await session.scalar(select(func.count()).select_from(Task)) == tasks
        admin = Speaker(Channel.TELEGRAM, str(staff.admin.telegram_id))
        replies = await Conversation(copy).message(admin, "/tasks", MemoryFormState())
        assert not any(reply.error for reply in replies)
        assert f"（{tasks} 项）" in replies[0].text
    finally:
        await copy.db.dispose()


class CommitAfterEveryStep:
    """`sqlite3` as storage/backup.py uses it, except that another connection commits after
    every step of a backup, as a busy bot may."""

    def __init__(self, source: Path) -> None:
        self.source = source
        self.steps = 0

    def connect(self, path: Path) -> _Connection:
        return _Connection(sqlite3.connect(path), self)

    def after_step(self, status: int, remaining: int, total: int) -> None:
        self.steps += 1
        if self.steps > 50:
            raise RuntimeError("the backup restarts at every commit: it will never finish")
        with sqlite3.connect(self.source) as writer:
            writer.execute("INSERT INTO audit_log (channel, action, subject, detail, created_at) "
                           "VALUES ('cli', 'probe', 'task:0', '{}', '2026-01-01 00:00:00')")


class _Connection:
    def __init__(self, real: sqlite3.Connection, steps: CommitAfterEveryStep) -> None:
        self.real, self.steps = real, steps

    def __enter__(self) -> _Connection:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.real.__exit__(*exc)

    def backup(self, target: _Connection, **options: Any) -> None:
        self.real.backup(target.real, **options, progress=self.steps.after_step)

    def execute(self, sql: str) -> sqlite3.Cursor:
        return self.real.execute(sql)


async def test_commits_between_backup_steps_do_not_keep_it_from_finishing(
    db_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Regression: copied in steps of 1024 pages, the backup restarted from the first page at
    every commit between two steps, and never finished while the bot kept writing."""
    add_history(db_path)
    steps = CommitAfterEveryStep(db_path)
    monkeypatch.setattr(backup, "sqlite3", steps)
    await backup.backup(sqlite_url(db_path), tmp_path / "copy.db")
    assert steps.steps == 1
