"""What a summary says, as data: one leader's portfolio or the whole bureau at one moment.

Gathered once, then worded for a chat (`render`), drawn (`core.chart`) or pushed to group robots."""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING

from sqlalchemy import select

from core.dto import PersonRef, TaskView
from core.enums import Status, UpdateKind
from core.targets import Progress, Tally, live_in, tally
from core.views import Look, days_left, risk
from storage.models import Person, TaskUpdate

if TYPE_CHECKING:
    from core.app import Core

SOON_DAYS = 14
WEEK = timedelta(days=7)
RISKS = ("🔴", "🟡", "🟢")


@dataclass(frozen=True)
class Silent:
    """An official whose open tasks have had no update for `stale_days` or more."""

    official: PersonRef
    tasks: tuple[tuple[int, int], ...]  # (task number, days without an update), longest first
    away_until: datetime | None  # on leave (/away): shown as away, not as silent


@dataclass(frozen=True)
class Change:
    kind: str  # "new", "submitted", "approved" or "rejected"
    task: TaskView
    amount: Decimal | None  # sought for new and submitted tasks, granted for approved ones


@dataclass(frozen=True)
class LeaderLine:
    """One leader's portfolio in a line (None: the tasks nobody leads)."""

    leader: PersonRef | None
    away_until: datetime | None
    counts: dict[Status, int]
    risks: dict[str, int]
    overdue: int
    blocked: int
    tally: Tally

    @property
    def open(self) -> int:
        return sum(self.risks.values())


@dataclass(frozen=True)
class Summary:
    leader: PersonRef | None  # None: the whole bureau
    now: datetime
    year: int
    counts: dict[Status, int]  # open tasks, and tasks closed this year
    risks: dict[str, int]  # open tasks by 三色
    overdue: tuple[TaskView, ...]
    blocked: tuple[TaskView, ...]  # not overdue (those are listed once, as overdue)
    due_soon: tuple[TaskView, ...]  # within SOON_DAYS, not overdue, not blocked
    silent: tuple[Silent, ...]
    changes: tuple[Change, ...]
    tally: Tally
    targets: tuple[Progress, ...]  # the bureau's targets for the year
    leaders: tuple[LeaderLine, ...]  # the bureau: every leader; a portfolio: its leader

    @property
    def open(self) -> int:
        return sum(self.risks.values())


async def gather(core: Core, look: Look, leader: PersonRef | None,
                 portfolio: list[TaskView] | None = None) -> Summary:
    """`portfolio`: the leader's (or the bureau's) tasks, when the caller has read them."""
    tz = look.tz
    year = look.today.year
    if portfolio is None:
        portfolio = await core.tasks.portfolio(leader.id if leader else None)
    tasks = [task for task in portfolio if live_in(task, year, tz)]
    open_tasks = [task for task in tasks if not task.closed]
    overdue = [task for task in open_tasks if _overdue(look, task)]
    # Each task in one list at most; by id, since `in` on the lists made this quadratic.
    listed = {task.id for task in overdue}
    blocked = [task for task in open_tasks if task.blocked and task.id not in listed]
    listed |= {task.id for task in blocked}
    due_soon = [task for task in open_tasks if task.id not in listed
                and not task.status.submitted_or_later
                and days_left(look, task.due_at) <= SOON_DAYS]
    away = await _away(core, {task.official.id for task in open_tasks}
                       | {task.leader.id for task in tasks if task.leader})
    return Summary(
        leader=leader, now=look.now, year=year,
        counts=_by_status(tasks), risks=_by_risk(look, open_tasks),
        overdue=tuple(overdue), blocked=tuple(blocked), due_soon=tuple(due_soon),
        silent=_silent(look, open_tasks, away),
        changes=await _changes(core, look, tasks),
        tally=tally(tasks, year, tz),
        targets=tuple(await core.targets.progress(year)),
        leaders=_leader_lines(look, tasks, leader, away),
    )


def _overdue(look: Look, task: TaskView) -> bool:
    return not task.status.submitted_or_later and task.due_at < look.now


def _by_status(tasks: list[TaskView]) -> dict[Status, int]:
    counts = Counter(task.status for task in tasks)
    return {status: counts[status] for status in Status if counts[status]}


def _by_risk(look: Look, open_tasks: list[TaskView]) -> dict[str, int]:
    counts = Counter(risk(look, task) for task in open_tasks)
    return {colour: counts[colour] for colour in RISKS}


def _silent(look: Look, open_tasks: list[TaskView],
            away: dict[int, datetime]) -> tuple[Silent, ...]:
    stale: dict[PersonRef, list[tuple[int, int]]] = defaultdict(list)
    for task in open_tasks:
        days = (look.now - task.last_update_at).days
        if days >= look.stale_days:
            stale[task.official].append((task.id, days))
    silent = [Silent(official, tuple(sorted(items, key=lambda i: -i[1])), away.get(official.id))
              for official, items in stale.items()]
    return tuple(sorted(silent, key=lambda s: (-s.tasks[0][1], s.official.name)))


async def _changes(core: Core, look: Look, tasks: list[TaskView]) -> tuple[Change, ...]:
    """New tasks and status changes to submitted, approved or rejected in the last week; a task
    counts once per kind of change."""
    since = look.now - WEEK
    by_id = {task.id: task for task in tasks}
    changes = [Change("new", task, task.funding_sought)
               for task in tasks if task.created_at >= since]
    watched = (Status.SUBMITTED, Status.APPROVED, Status.REJECTED)
    async with core.db.read() as session:
        rows = await session.execute(
            select(TaskUpdate.task_id, TaskUpdate.status).distinct().where(
                TaskUpdate.kind == UpdateKind.STATUS.value, TaskUpdate.created_at >= since,
                TaskUpdate.status.in_([s.value for s in watched]),
                TaskUpdate.task_id.in_(list(by_id)),
            ).order_by(TaskUpdate.task_id)
        )
    for task_id, status in rows:
        task = by_id[task_id]
        amount = task.funding_granted if status == Status.APPROVED else task.funding_sought
        changes.append(Change(str(status), task, amount))
    order = ["new", *watched]
    return tuple(sorted(changes, key=lambda c: (order.index(c.kind), c.task.id)))


def _leader_lines(
    look: Look, tasks: list[TaskView], leader: PersonRef | None, away: dict[int, datetime]
) -> tuple[LeaderLine, ...]:
    groups: dict[PersonRef | None, list[TaskView]] = defaultdict(list)
    for task in tasks:
        groups[task.leader].append(task)
    if leader is not None:
        groups = {leader: groups.get(leader, [])}
    lines = []
    for who, group in groups.items():
        open_tasks = [task for task in group if not task.closed]
        lines.append(LeaderLine(
            leader=who, away_until=away.get(who.id) if who else None,
            counts=_by_status(group), risks=_by_risk(look, open_tasks),
            overdue=sum(1 for task in open_tasks if _overdue(look, task)),
            blocked=sum(1 for task in open_tasks if task.blocked),
            tally=tally(group, look.today.year, look.tz),
        ))
    # The most urgent first; the tasks nobody leads last.
    return tuple(sorted(lines, key=lambda line: (
        line.leader is None, -line.risks["🔴"], -line.overdue, -line.open,
        line.leader.name if line.leader else "")))


async def _away(core: Core, person_ids: set[int]) -> dict[int, datetime]:
    """Who of these is on leave now, and until when."""
    if not person_ids:
        return {}
    now = core.clock.now()
    async with core.db.read() as session:
        rows = await session.execute(select(Person.id, Person.away_until).where(
            Person.id.in_(person_ids), Person.away_until > now))
    return {person_id: until for person_id, until in rows if until is not None}

