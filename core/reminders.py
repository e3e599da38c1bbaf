"""Follow-ups found by looking at the tasks, run by periodic jobs: the stale "进展如何？", the
overdue notice, and the escalation of an unanswered day-before nudge to the leader.

Each writes outbox rows under dedupe keys naming the event, so running a check twice, late, or
in several copies at once adds nothing. A check looks in a read transaction first and takes the
write lock only when it found something: most runs find nothing, and SQLite has one writer."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import ColumnElement, exists, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from core import notices, planning
from core.calendar import after_quiet_hours
from core.enums import CLOSED, Role
from core.outbox import enqueue
from storage.models import OutboxItem, Task, TaskUpdate

if TYPE_CHECKING:
    from core.app import Core

# The nudge that escalates when unanswered: the one a day before the due date.
DAY_BEFORE = str(int(planning.DAY.total_seconds()))
NUDGED = [s.value for s in planning.NUDGED_STATUSES]
CHUNK = 1_000


async def overseers(session: AsyncSession, task: Task) -> list[int]:
    """Who answers for a task: its leader, or the admins when it has none."""
    people = [task.leader_id] if task.leader_id else await notices.ids_with_role(session,
                                                                                 Role.ADMIN)
    return [p for p in people if p != task.official_id]


def next_working_slot(core: Core, now: datetime) -> datetime:
    """The reminder time of the next working day (now, if today is one and that time has come),
    outside quiet hours."""
    settings, tz = core.settings, core.settings.tz
    day = now.astimezone(tz).date()
    for _ in range(60):  # the longest holiday is far shorter
        if core.calendar.is_workday(day):
            start = datetime.combine(day, settings.reminder_time, tzinfo=tz)
            at = after_quiet_hours(max(now, start), tz, settings.quiet_hours)
            if at.astimezone(tz).date() == day:
                return at
        day += timedelta(days=1)
    return after_quiet_hours(now, tz, settings.quiet_hours)


async def check_stale(core: Core) -> int:
    """An open task without an update for `DUBAN_STALE_DAYS` gets a "进展如何？" on the next
    working morning, once per such stretch of silence (at 7, 14, 21… days)."""
    now = core.clock.now()
    period = timedelta(days=core.settings.stale_days)
    send_at = next_working_slot(core, now)
    enqueued = 0
    async for tasks, away in _open_tasks(core, now, (
            Task.status.not_in([s.value for s in CLOSED]), Task.last_update_at <= now - period,
            or_(Task.snoozed_until.is_(None), Task.snoozed_until <= now))):
        tasks = [task for task in tasks if task.official_id not in away]
        if not tasks:
            continue
        async with core.db.write() as session:
            for task in tasks:
                silence = (now - task.last_update_at) // period
                key = f"{task.id}:{int(task.last_update_at.timestamp())}:{silence}"
                enqueued += await enqueue(
                    session, person_id=task.official_id, kind="stale", task_id=task.id,
                    dedupe_key=f"stale:{task.official_id}:{key}", send_at=send_at)
    return enqueued


async def check_overdue(core: Core) -> int:
    """From the reminder time of the day after the due date, a task not yet submitted is
    overdue: its official (when not on leave) and its leader are told, once per due date."""
    now, tz = core.clock.now(), core.settings.tz
    reminder_time = core.settings.reminder_time
    enqueued = 0
    async for tasks, away in _open_tasks(core, now, (Task.status.in_(NUDGED), Task.due_at < now)):
        tasks = [task for task in tasks if now >= datetime.combine(
            task.due_at.astimezone(tz).date() + timedelta(days=1), reminder_time, tzinfo=tz)]
        if not tasks:
            continue
        async with core.db.write() as session:
            for task in tasks:
                key = f"{task.id}:{int(task.due_at.timestamp())}"
                if task.official_id not in away:
                    enqueued += await notices.notify(core, session, task.official_id, "overdue",
                                                     task, now, key=key)
                for person_id in await overseers(session, task):
                    enqueued += await notices.notify(core, session, person_id, "overdue_leader",
                                                     task, now, key=key)
    return enqueued


async def _open_tasks(core: Core, now: datetime, conditions: tuple[ColumnElement[bool], ...]
                      ) -> AsyncIterator[tuple[list[Task], dict[int, datetime]]]:
    """The tasks matching `conditions` in id order, a chunk at a time, each with who of their
    officials is away: a first run over a big bureau's backlog (tens of thousands of stale
    tasks) then holds one chunk in memory, not all of them. Each chunk is read before the write
    lock is taken, and most runs find nothing."""
    after = 0
    while True:
        async with core.db.read() as session:
            tasks = list(await session.scalars(select(Task).where(
                Task.id > after, *conditions).order_by(Task.id).limit(CHUNK)))
            if not tasks:
                return
            away = await planning.away_until(session, {t.official_id for t in tasks}, now)
        yield tasks, away
        after = tasks[-1].id


async def check_escalations(core: Core) -> int:
    """A day-before nudge sent `DUBAN_ESCALATION_HOURS` ago with no update or acknowledgement
    on its task since goes to the leader, once. Escalations reach the leader even while the
    official is on leave. Nudges older than the catch-up grace beyond that are left alone."""
    now, settings = core.clock.now(), core.settings
    since = now - timedelta(hours=settings.escalation_hours)
    lookback = timedelta(hours=max(settings.catch_up_grace_hours, 1))
    answered = exists().where(TaskUpdate.task_id == OutboxItem.task_id,
                              TaskUpdate.author_id.is_not(None),
                              TaskUpdate.created_at > OutboxItem.sent_at)
    async with core.db.read() as session:
        rows = (await session.execute(
            select(OutboxItem, Task).join(Task, Task.id == OutboxItem.task_id).where(
                OutboxItem.kind == planning.NUDGE, OutboxItem.status == "sent",
                OutboxItem.sent_at <= since, OutboxItem.sent_at > since - lookback,
                Task.status.in_(NUDGED), ~answered,
            ).order_by(OutboxItem.id))).all()
    unanswered = [(nudge, task) for nudge, task in rows
                  if nudge.payload.get("offset") == DAY_BEFORE]
    if not unanswered:
        return 0
    enqueued = 0
    async with core.db.write() as session:
        for nudge, task in unanswered:
            for person_id in await overseers(session, task):
                enqueued += await notices.notify(core, session, person_id, "escalation", task,
                                                 now, key=f"{task.id}:{nudge.id}")
    return enqueued
