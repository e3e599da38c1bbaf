"""包抓 tasks: assigning, seeing, reporting progress, blockers, edits. Every call checks the
actor's permission itself, writes the task's history and the audit log in one transaction."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING

from sqlalchemy import Select, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from config.settings import format_offsets, parse_offsets
from core import audit, notices, planning
from core.dto import PersonView, TaskDetail, TaskView, UpdateView
from core.enums import CLOSED, Channel, Role, Saved, Status, UpdateKind
from core.errors import InputError, NotAllowed, NotFound, about
from core.guidelines import find_guideline
from core.parsing import MAX_NOTE, MAX_TITLE, check_text, parse_amount, parse_due
from core.people import resolve
from core.permissions import Permission, require, require_update, require_view
from storage.models import Guideline, Task, TaskUpdate
from storage.queries import names_of

if TYPE_CHECKING:
    from core.app import Core


@dataclass(frozen=True)
class AssignRequest:
    """What an admin typed, picked or imported; everything still as text, checked by
    `Tasks.checked`. An empty `due` with a guideline means the guideline's internal deadline."""

    official: str | int  # an int is a person picked from a button
    due: str
    title: str
    leader: str | int | None = None
    funding: str | None = None
    enterprise: str | None = None
    guideline: str | int | None = None  # an int is a guideline picked from a button


@dataclass(frozen=True)
class TaskFields:
    """An `AssignRequest` checked against the database: the columns of a task."""

    title: str
    enterprise: str | None
    official_id: int
    leader_id: int | None
    funding_sought: Decimal | None
    due_at: datetime
    guideline_id: int | None
    due_follows_guideline: bool


@dataclass(frozen=True)
class Outcome:
    """A task after a change, and which parts changed (for the one-line acknowledgement)."""

    task: TaskView
    changes: tuple[str, ...] = field(default=())
    warning: str | None = None


EDITABLE = ("official", "leader", "due", "title", "enterprise", "funding", "offsets")


class Tasks:
    def __init__(self, core: Core) -> None:
        self.core = core

    # ---- reading -------------------------------------------------------------------------

    async def visible(self, actor: PersonView, include_closed: bool = False) -> list[TaskView]:
        """The actor's tasks: officials their own, leaders also their portfolio, directors and
        admins everything. Open first, soonest due first."""
        query = select(Task)
        if not actor.sees_everything:
            query = query.where(or_(Task.official_id == actor.id, Task.leader_id == actor.id))
        if not include_closed:
            query = query.where(Task.status.not_in([s.value for s in CLOSED]))
        async with self.core.db.read() as session:
            return await self._views(session, query.order_by(Task.due_at, Task.id))

    async def portfolio(self, leader_id: int | None) -> list[TaskView]:
        """All tasks of one leader's portfolio, or of the whole bureau when `leader_id` is None."""
        query = select(Task)
        if leader_id is not None:
            query = query.where(Task.leader_id == leader_id)
        async with self.core.db.read() as session:
            return await self._views(session, query.order_by(Task.due_at, Task.id))

    async def updatable(self, actor: PersonView) -> list[TaskView]:
        """Open tasks the actor is the responsible official of."""
        query = select(Task).where(
            Task.official_id == actor.id, Task.status.not_in([s.value for s in CLOSED])
        )
        async with self.core.db.read() as session:
            return await self._views(session, query.order_by(Task.due_at))

    async def views_by_id(self, task_ids: set[int]) -> dict[int, TaskView]:
        """Unchecked: for rendering messages already addressed to the right person."""
        if not task_ids:
            return {}
        async with self.core.db.read() as session:
            views = await self._views(session, select(Task).where(Task.id.in_(task_ids)))
        return {v.id: v for v in views}

    async def get(self, actor: PersonView, task_id: int) -> TaskView:
        async with self.core.db.read() as session:
            view = await self._load_view(session, task_id)
        require_view(actor, view)
        return view

    async def get_updatable(self, actor: PersonView, task_id: int) -> TaskView:
        view = await self.get(actor, task_id)
        require_update(actor, view)
        return view

    async def detail(self, actor: PersonView, task_id: int, history: int = 10) -> TaskDetail:
        async with self.core.db.read() as session:
            view = await self._load_view(session, task_id)
            require_view(actor, view)
            rows = list(await session.scalars(
                select(TaskUpdate).where(TaskUpdate.task_id == task_id)
                .order_by(TaskUpdate.created_at.desc(), TaskUpdate.id.desc()).limit(history)
            ))
            names = await names_of(session, {u.author_id for u in rows if u.author_id})
        updates = tuple(UpdateView.of(u, names.get(u.author_id or 0)) for u in rows)
        return TaskDetail(task=view, history=updates)

    # ---- changing ------------------------------------------------------------------------

    async def assign(self, actor: PersonView, request: AssignRequest, channel: Channel) -> Outcome:
        require(actor, Permission.ASSIGN)
        now = self.core.clock.now()
        async with self.core.db.write() as session:
            task = await self._create(session, await self.checked(session, request), actor,
                                      channel, now)
            view = await self._view(session, task)
        self.core.outbox_signal.wake()
        return Outcome(view, warning="due_past" if view.due_at <= now else None)

    async def save_imported(
        self, session: AsyncSession, request: AssignRequest, actor: PersonView | None,
        channel: Channel, now: datetime,
    ) -> Saved:
        """A task sheet row: the task with the same 项目名称 and 申报单位 (closed ones too) is
        updated to what the row says, otherwise a new one is assigned. Inside the import's
        transaction; the caller checks the IMPORT permission."""
        fields = await self.checked(session, request)
        task = await self._same_task(session, fields.title, fields.enterprise)
        if task is None:
            await self._create(session, fields, actor, channel, now)
            return Saved.CREATED
        changed = [name for name, value in vars(fields).items() if getattr(task, name) != value]
        if not changed:
            return Saved.UNCHANGED
        before = await self._view(session, task)
        for name in changed:
            setattr(task, name, getattr(fields, name))
        if "official_id" in changed:
            task.acknowledged_at = None
        task.updated_at = now
        # Named as /edit names them (`due`, `official`), the way edits show in the history.
        named = [name.removesuffix("_id").removesuffix("_at").removesuffix("_sought")
                 for name in changed if name != "due_follows_guideline"] or ["due"]
        self._history(session, task, actor, channel, UpdateKind.EDITED, now,
                      note="import: " + ", ".join(named))
        self._audit(session, actor, channel, task, "task_import_update", now, changed=changed)
        await notices.task_edited(self.core, session, task, before, now)
        await planning.replan(self.core, session, task, now)
        return Saved.UPDATED

    async def follow_guideline(
        self, session: AsyncSession, guideline: Guideline, now: datetime
    ) -> list[int]:
        """The guideline's internal deadline moved (an extension, a re-import): every open task
        that takes its due date from it moves too, with history, audit and a notice to the
        official. Returns the ids of the tasks that moved."""
        tasks = await session.scalars(select(Task).where(
            Task.guideline_id == guideline.id, Task.due_follows_guideline,
            Task.status.not_in([s.value for s in CLOSED]),
            Task.due_at != guideline.internal_due_at,
        ).order_by(Task.id))
        moved = []
        for task in tasks:
            task.due_at, task.updated_at = guideline.internal_due_at, now
            due = task.due_at.astimezone(self.core.settings.tz).strftime("%Y-%m-%d %H:%M")
            self._history(session, task, None, Channel.SYSTEM, UpdateKind.EDITED, now,
                          note=f"due={due} ({guideline.name})")
            self._audit(session, None, Channel.SYSTEM, task, "task_follow_guideline", now,
                        guideline=guideline.id, due=task.due_at.isoformat())
            await notices.notify(self.core, session, task.official_id, "due_changed", task, now)
            await planning.replan(self.core, session, task, now)
            moved.append(task.id)
        return moved

    async def acknowledge(self, actor: PersonView, task_id: int, channel: Channel) -> Outcome:
        async with self.core.db.write() as session:
            task, view = await self._for_update(session, actor, task_id)
            if task.acknowledged_at is not None:
                return Outcome(view, ("already_acknowledged",))
            now = self.core.clock.now()
            task.acknowledged_at = now
            if task.status == Status.NOT_STARTED:
                task.status = Status.PREPARING.value
            self._touch(session, task, actor, channel, UpdateKind.ACKNOWLEDGED, now)
            return Outcome(await self._view(session, task), ("acknowledged",))

    async def report(
        self,
        actor: PersonView,
        task_id: int,
        channel: Channel,
        *,
        progress: int | None = None,
        status: Status | None = None,
        note: str | None = None,
        granted: Decimal | None = None,
    ) -> Outcome:
        """Progress, status and/or a note. A note alone may come from anyone who sees the task
        (a leader's comment); progress and status only from the official or an admin."""
        if note is not None:
            note = check_text(note, "note", MAX_NOTE)
        if progress is None and status is None and note is None:
            raise InputError("report_empty")
        now = self.core.clock.now()
        async with self.core.db.write() as session:
            if progress is None and status is None:
                task, view = await self._loaded(session, actor, task_id)
                self._history(session, task, actor, channel, UpdateKind.NOTE, now, note=note)
                if view.official.id == actor.id or actor.has(Role.ADMIN):
                    task.last_update_at = now
                changes: tuple[str, ...] = ("note",)
            else:
                task, view = await self._for_update(session, actor, task_id)
                changes = self._apply(session, task, actor, channel, now,
                                      progress, status, note, granted)
                if status is not None:  # submitted or closed: no more nudges; reopened: again
                    await planning.replan(self.core, session, task, now)
            self._audit(session, actor, channel, task, "task_report", now, changes=changes)
            view = _reported(task, view)
        self.core.outbox_signal.wake()
        return Outcome(view, changes)

    async def step_progress(
        self, actor: PersonView, task_id: int, delta: int, channel: Channel
    ) -> Outcome:
        """The 进度 +/- buttons: read and write in one transaction, so two taps add up."""
        now = self.core.clock.now()
        async with self.core.db.write() as session:
            task, view = await self._for_update(session, actor, task_id)
            progress = max(0, min(100, task.progress + delta))
            changes = self._apply(session, task, actor, channel, now, progress, None, None, None)
            self._audit(session, actor, channel, task, "task_report", now, changes=changes)
            return Outcome(_reported(task, view), changes)

    async def block(
        self, actor: PersonView, task_id: int, reason: str, channel: Channel
    ) -> Outcome:
        reason = check_text(reason, "reason", 500)
        now = self.core.clock.now()
        async with self.core.db.write() as session:
            task, _ = await self._for_update(session, actor, task_id)
            task.blocked, task.blocked_reason = True, reason
            self._touch(session, task, actor, channel, UpdateKind.BLOCKED, now, note=reason)
            self._audit(session, actor, channel, task, "task_block", now, reason=reason)
            await notices.task_blocked(self.core, session, task, now)
            view = await self._view(session, task)
        self.core.outbox_signal.wake()
        return Outcome(view, ("blocked",))

    async def unblock(self, actor: PersonView, task_id: int, channel: Channel) -> Outcome:
        now = self.core.clock.now()
        async with self.core.db.write() as session:
            task, view = await self._for_update(session, actor, task_id)
            if not task.blocked:
                return Outcome(view, ("not_blocked",))
            task.blocked, task.blocked_reason = False, None
            self._touch(session, task, actor, channel, UpdateKind.UNBLOCKED, now)
            self._audit(session, actor, channel, task, "task_unblock", now)
            return Outcome(await self._view(session, task), ("unblocked",))

    async def snooze(
        self, actor: PersonView, task_id: int, days: int, channel: Channel
    ) -> Outcome:
        """稍后提醒: no nudges for `days` days, then one if the task is still open."""
        if days not in planning.SNOOZE_DAYS:
            raise InputError("button_invalid")
        now = self.core.clock.now()
        async with self.core.db.write() as session:
            task, _ = await self._for_update(session, actor, task_id)
            if Status(task.status).closed:
                raise NotAllowed("task_closed", task_id=task.id, status=task.status)
            task.snoozed_until = now + timedelta(days=days)
            self._history(session, task, actor, channel, UpdateKind.SNOOZED, now,
                          note=task.snoozed_until.astimezone(self.core.settings.tz)
                          .strftime("%Y-%m-%d %H:%M"))
            self._audit(session, actor, channel, task, "task_snooze", now, days=days)
            await planning.replan(self.core, session, task, now)
            return Outcome(await self._view(session, task), ("snoozed",))

    async def edit(
        self, actor: PersonView, task_id: int, field_name: str, value: str, channel: Channel
    ) -> Outcome:
        """Admin edits: reassign, change leader, due date, title, enterprise, funding, offsets."""
        require(actor, Permission.EDIT_TASK)
        if field_name not in EDITABLE:
            raise InputError("edit_field_unknown", value=field_name)
        now = self.core.clock.now()
        async with self.core.db.write() as session:
            task = await self._load(session, task_id)
            before = await self._view(session, task)
            await self._set_field(session, task, field_name, value)
            task.updated_at = now
            self._history(session, task, actor, channel, UpdateKind.EDITED, now,
                          note=f"{field_name}={value}")
            self._audit(session, actor, channel, task, "task_edit", now, field=field_name,
                        value=value)
            await notices.task_edited(self.core, session, task, before, now)
            await planning.replan(self.core, session, task, now)
            view = await self._view(session, task)
        self.core.outbox_signal.wake()
        warning = "due_past" if field_name == "due" and view.due_at <= now else None
        return Outcome(view, (f"edit_{field_name}",), warning)

    # ---- helpers -------------------------------------------------------------------------

    async def checked(self, session: AsyncSession, request: AssignRequest) -> TaskFields:
        """Every field of a request checked, in the order a person reads them; the first wrong
        one raises, naming its field."""
        official = await resolve(session, request.official, "official", Role.OFFICIAL)
        guideline = (
            await find_guideline(session, request.guideline, self.core.clock.now())
            if request.guideline not in (None, "") else None
        )
        with about("due"):
            if request.due.strip():
                due, follows = self.parse_due(request.due), False
            elif guideline is not None:
                due, follows = guideline.internal_due_at, True
            else:
                raise InputError("due_or_guideline", field="due")
        title = check_text(request.title, "title", MAX_TITLE)
        leader = (
            await resolve(session, request.leader, "leader", Role.LEADER)
            if request.leader is not None else None
        )
        return TaskFields(
            title=title,
            enterprise=(check_text(request.enterprise, "enterprise", MAX_TITLE)
                        if request.enterprise else None),
            official_id=official.id, leader_id=leader.id if leader else None,
            funding_sought=parse_amount(request.funding, "funding") if request.funding else None,
            due_at=due, guideline_id=guideline.id if guideline else None,
            due_follows_guideline=follows,
        )

    async def _create(
        self, session: AsyncSession, fields: TaskFields, actor: PersonView | None,
        channel: Channel, now: datetime,
    ) -> Task:
        task = Task(
            **vars(fields), status=Status.NOT_STARTED.value, progress=0,
            created_by=actor.id if actor else None, created_at=now, updated_at=now,
            last_update_at=now,
        )
        session.add(task)
        await session.flush()
        self._history(session, task, actor, channel, UpdateKind.ASSIGNED, now)
        self._audit(session, actor, channel, task, "task_assign", now, title=task.title,
                    official=task.official_id, leader=task.leader_id, due=task.due_at.isoformat(),
                    guideline=task.guideline_id)
        await notices.task_assigned(self.core, session, task, now)
        await planning.replan(self.core, session, task, now)
        return task

    @staticmethod
    async def _same_task(session: AsyncSession, title: str, enterprise: str | None) -> Task | None:
        same_enterprise = (Task.enterprise.is_(None) if enterprise is None
                           else Task.enterprise == enterprise)
        tasks = list(await session.scalars(
            select(Task).where(Task.title == title, same_enterprise).order_by(Task.id)))
        if len(tasks) > 1:
            raise InputError("task_ambiguous", field="title", value=title,
                             choices="、".join(f"#{task.id}" for task in tasks))
        return tasks[0] if tasks else None

    def parse_due(self, text: str) -> datetime:
        settings = self.core.settings
        today = self.core.clock.now().astimezone(settings.tz).date()
        return parse_due(text, today, settings.tz, settings.due_time).at

    async def _set_field(self, session: AsyncSession, task: Task, name: str, value: str) -> None:
        if name == "official":
            task.official_id = (await resolve(session, value, "official", Role.OFFICIAL)).id
            task.acknowledged_at = None
        elif name == "leader":
            clear = value.strip() in ("", "无", "-", "none")
            task.leader_id = None if clear else (
                await resolve(session, value, "leader", Role.LEADER)).id
        elif name == "due":
            task.due_at, task.due_follows_guideline = self.parse_due(value), False
        elif name in ("title", "enterprise"):
            setattr(task, name, check_text(value, name, MAX_TITLE))
        elif name == "funding":
            task.funding_sought = parse_amount(value, "funding")
        else:
            try:
                task.reminder_offsets = format_offsets(parse_offsets(value))
            except ValueError:
                raise InputError("offsets_invalid", value=value) from None

    def _apply(
        self,
        session: AsyncSession,
        task: Task,
        actor: PersonView,
        channel: Channel,
        now: datetime,
        progress: int | None,
        status: Status | None,
        note: str | None,
        granted: Decimal | None,
    ) -> tuple[str, ...]:
        if Status(task.status).closed and not actor.has(Role.ADMIN):
            raise NotAllowed("task_closed", task_id=task.id, status=task.status)
        changes: list[str] = []
        if progress is not None:
            task.progress = progress
            changes.append("progress")
            if task.status == Status.NOT_STARTED and progress > 0:
                task.status = Status.PREPARING.value
        if status is not None:
            task.status = status.value
            changes.append("status")
            if status == Status.APPROVED:
                task.progress = 100
                task.funding_granted = granted if granted is not None else task.funding_granted
            task.closed_at = now if status.closed else None
        kind = UpdateKind.STATUS if status is not None else UpdateKind.PROGRESS
        self._touch(session, task, actor, channel, kind, now, note=note,
                    progress=progress, status=status)
        if note:
            changes.append("note")
        return tuple(changes)

    def _touch(
        self, session: AsyncSession, task: Task, actor: PersonView, channel: Channel,
        kind: UpdateKind, now: datetime, *, note: str | None = None,
        progress: int | None = None, status: Status | None = None,
    ) -> None:
        task.last_update_at = task.updated_at = now
        self._history(session, task, actor, channel, kind, now, note=note,
                      progress=progress, status=status)

    @staticmethod
    def _history(
        session: AsyncSession, task: Task, actor: PersonView | None, channel: Channel,
        kind: UpdateKind, now: datetime, *, note: str | None = None,
        progress: int | None = None, status: Status | None = None,
    ) -> None:
        """`actor` None: Duban itself (a guideline moved) or the command line."""
        session.add(TaskUpdate(
            task_id=task.id, author_id=actor.id if actor else None, channel=channel, kind=kind,
            progress=progress, status=status.value if status else None, note=note,
            created_at=now,
        ))

    @staticmethod
    def _audit(
        session: AsyncSession, actor: PersonView | None, channel: Channel, task: Task,
        action: str, now: datetime, **detail: object,
    ) -> None:
        audit.record(session, actor_id=actor.id if actor else None, channel=channel,
                     action=action, subject=f"task:{task.id}", at=now, **detail)

    @staticmethod
    async def _load(session: AsyncSession, task_id: int) -> Task:
        task = await session.get(Task, task_id)
        if task is None:
            raise NotFound("task_not_found", task_id=task_id)
        return task

    async def _load_view(self, session: AsyncSession, task_id: int) -> TaskView:
        return await self._view(session, await self._load(session, task_id))

    async def _loaded(
        self, session: AsyncSession, actor: PersonView, task_id: int
    ) -> tuple[Task, TaskView]:
        task = await self._load(session, task_id)
        view = await self._view(session, task)
        require_view(actor, view)
        return task, view

    async def _for_update(
        self, session: AsyncSession, actor: PersonView, task_id: int
    ) -> tuple[Task, TaskView]:
        task, view = await self._loaded(session, actor, task_id)
        require_update(actor, view)
        return task, view

    async def _view(self, session: AsyncSession, task: Task) -> TaskView:
        return (await self._views_of(session, [task]))[0]

    async def _views(self, session: AsyncSession, query: Select[Task]) -> list[TaskView]:
        return await self._views_of(session, list(await session.scalars(query)))

    @staticmethod
    async def _views_of(session: AsyncSession, tasks: list[Task]) -> list[TaskView]:
        ids = {t.official_id for t in tasks} | {t.leader_id for t in tasks if t.leader_id}
        names = await names_of(session, ids)
        guideline_ids = {t.guideline_id for t in tasks if t.guideline_id}
        guidelines: dict[int, str] = {}
        if guideline_ids:
            rows = await session.execute(
                select(Guideline.id, Guideline.name).where(Guideline.id.in_(guideline_ids))
            )
            guidelines = dict(rows.all())
        return [TaskView.of(t, names, guidelines.get(t.guideline_id or 0)) for t in tasks]


def _reported(task: Task, before: TaskView) -> TaskView:
    """The view of a task after a report, which never changes who works on it or its guideline:
    their names are the ones `before` looked up (progress reports are the commonest writes)."""
    names = {before.official.id: before.official.name}
    if before.leader is not None:
        names[before.leader.id] = before.leader.name
    return TaskView.of(task, names, before.guideline_name)
