"""Deadline nudges planned into the outbox: when each of a task's reminders goes out (offsets,
working days, quiet hours, snooze and leave), and re-planning whenever the task changes.

Planning is idempotent: a nudge's dedupe key names the person, the task, the offset and the due
moment, so planning twice adds nothing and a nudge already sent is never planned again."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import TYPE_CHECKING, Any, TypeVar
from zoneinfo import ZoneInfo

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from config.settings import Settings, parse_offsets
from core.calendar import WorkCalendar, after_quiet_hours
from core.enums import Status
from storage.models import OutboxItem, Person, Task
from storage.queries import insert_many_ignore

if TYPE_CHECKING:
    from core.app import Core

T = TypeVar("T")
NUDGE = "nudge"
DAY = timedelta(days=1)
MINUTE = timedelta(minutes=1)
# Ids per IN list: well under the 32,766 bound parameters SQLite and asyncpg accept.
CHUNK = 1000
# Deadline nudges help until the task is submitted; after that there is nothing to hurry.
NUDGED_STATUSES = frozenset({Status.NOT_STARTED, Status.PREPARING})
# 稍后提醒 offers these; a snooze of any other length is refused.
SNOOZE_DAYS = (1, 3)


@dataclass(frozen=True)
class Nudge:
    """One planned reminder: `offset` before the due moment (None: the one that follows a
    snooze or leave), going out at `send_at` (UTC)."""

    offset: timedelta | None
    send_at: datetime

    @property
    def label(self) -> str:
        return "resume" if self.offset is None else str(int(self.offset.total_seconds()))


@dataclass(frozen=True)
class Pause:
    """No nudges before `until`: the task is snoozed (`resume`: one nudge when it ends) or the
    official is on leave (a nudge when they are back only if one fell in their leave)."""

    until: datetime
    resume: bool


def nudge_times(
    due_at: datetime,
    offsets: Iterable[timedelta],
    *,
    now: datetime,
    settings: Settings,
    calendar: WorkCalendar,
    pause: Pause | None = None,
) -> list[Nudge]:
    """When a task due at `due_at` is nudged, soonest first.

    - a whole-day offset `Nd` goes out at `DUBAN_REMINDER_TIME` N days before the due day,
      moved EARLIER to the previous working day (调休 honoured) when that day is not one; `h`
      and `m` offsets count back from the due moment and do not move for working days;
    - quiet hours push a nudge to their end, unless that is after the due moment: then it goes
      out in the last minute before quiet hours began instead. A reminder that arrives after
      the deadline it announces is worth nothing, and one the evening before still is;
    - nothing goes out after the due moment (a due time before the reminder time);
    - nudges whose time has passed, or that fall in a pause, are not planned; two offsets that
      land on the same moment (a long holiday) are one nudge, the nearer offset's.
    """
    tz, quiet = settings.tz, settings.quiet_hours
    local_due = due_at.astimezone(tz)
    planned: dict[datetime, Nudge] = {}
    paused = False
    for offset in sorted(set(offsets), reverse=True):
        if offset % DAY:
            at = due_at - offset
        else:
            day = calendar.on_or_before(local_due.date() - timedelta(days=offset // DAY))
            at = min(datetime.combine(day, settings.reminder_time, tzinfo=tz), due_at)
        at = _awake(at, due_at, tz, quiet)
        if pause is not None and at < pause.until:
            paused = paused or at > now
            continue
        if at > now:
            planned[at] = Nudge(offset, at)  # a nearer offset comes later and wins
    if pause is not None and pause.until > now and (pause.resume or paused):
        at = after_quiet_hours(pause.until, tz, quiet)
        if at < due_at and at not in planned:
            planned[at] = Nudge(None, at)
    return [planned[at] for at in sorted(planned)]


def _awake(
    at: datetime, due_at: datetime, tz: ZoneInfo, quiet: tuple[time, time] | None
) -> datetime:
    later = after_quiet_hours(at, tz, quiet)
    if later <= due_at or quiet is None:
        return later
    local = at.astimezone(tz)
    began = datetime.combine(local.date(), quiet[0], tzinfo=tz)
    if began > local:
        began -= DAY
    return began - MINUTE


def offsets_of(task: Task, settings: Settings) -> tuple[timedelta, ...]:
    return parse_offsets(task.reminder_offsets) if task.reminder_offsets else \
        settings.reminder_offsets


def pause_of(task: Task, away_until: datetime | None, now: datetime) -> Pause | None:
    """The later of the task's snooze and its official's leave, if either is still running."""
    pauses = [Pause(task.snoozed_until, True)] if task.snoozed_until else []
    pauses += [Pause(away_until, False)] if away_until else []
    pauses = [p for p in pauses if p.until > now]
    return max(pauses, key=lambda p: (p.until, p.resume)) if pauses else None


def nudge_key(person_id: int, task_id: int, due_at: datetime, nudge: Nudge) -> str:
    """Stable for the same nudge of the same due moment: re-planning never sends one twice."""
    moment = nudge.send_at if nudge.offset is None else due_at
    return f"{NUDGE}:{person_id}:{task_id}:{nudge.label}:{int(moment.timestamp())}"


class Planner:
    """Nudges for many tasks planned at one moment. Tasks of one guideline, or due the same day,
    share their due moment: their nudge times are worked out once."""

    def __init__(self, core: Core, now: datetime) -> None:
        self.settings, self.calendar, self.now = core.settings, core.calendar, now
        self._times: dict[tuple[datetime, str | None, Pause | None], list[Nudge]] = {}

    def rows(self, task: Task, away_until: datetime | None) -> list[dict[str, Any]]:
        """The outbox rows for a task's nudges (none for a task past needing them)."""
        if Status(task.status) not in NUDGED_STATUSES:
            return []
        pause = pause_of(task, away_until, self.now)
        key = (task.due_at, task.reminder_offsets, pause)
        nudges = self._times.get(key)
        if nudges is None:
            nudges = self._times[key] = nudge_times(
                task.due_at, offsets_of(task, self.settings), now=self.now,
                settings=self.settings, calendar=self.calendar, pause=pause)
        return [{
            "person_id": task.official_id, "kind": NUDGE, "task_id": task.id,
            "guideline_id": None, "payload": {"offset": n.label},
            "dedupe_key": nudge_key(task.official_id, task.id, task.due_at, n),
            "due_at": task.due_at, "send_at": n.send_at, "status": "pending", "attempts": 0,
            "created_at": self.now,
        } for n in nudges]


async def replan(core: Core, session: AsyncSession, task: Task, now: datetime) -> int:
    """Drop the task's nudges not sent yet and plan them anew, after any change to it."""
    return await replan_tasks(core, session, [task], now)


async def replan_tasks(
    core: Core, session: AsyncSession, tasks: Sequence[Task], now: datetime
) -> int:
    """`replan` for many tasks at once, the nudges stored in one executemany. Returns how many
    nudges were planned (those sent before are not stored again)."""
    for ids in _chunks([task.id for task in tasks]):
        await session.execute(delete(OutboxItem).where(
            OutboxItem.kind == NUDGE, OutboxItem.status == "pending",
            OutboxItem.task_id.in_(ids)))
    away = await away_until(session, {task.official_id for task in tasks}, now)
    planner = Planner(core, now)
    rows = [row for task in tasks for row in planner.rows(task, away.get(task.official_id))]
    await insert_many_ignore(session, OutboxItem, rows, ["dedupe_key"])
    return len(rows)


async def away_until(
    session: AsyncSession, person_ids: set[int], now: datetime
) -> dict[int, datetime]:
    """Who of these people is on leave now, and until when."""
    found: dict[int, datetime] = {}
    for ids in _chunks(sorted(person_ids)):
        rows = await session.execute(select(Person.id, Person.away_until).where(
            Person.id.in_(ids), Person.away_until > now))
        found.update({person_id: until for person_id, until in rows if until is not None})
    return found


def _chunks(items: list[T]) -> Iterable[list[T]]:
    for start in range(0, len(items), CHUNK):
        yield items[start:start + CHUNK]
