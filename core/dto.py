"""Plain read-only views handed out of the core; ORM objects never leave a unit of work."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Row

from core.enums import Role, Status
from storage.models import Guideline, Person, Task, TaskUpdate


@dataclass(frozen=True)
class PersonView:
    id: int
    name: str
    roles: frozenset[Role]
    language: str
    username: str | None = None
    telegram_id: int | None = None
    wecom_id: str | None = None
    title: str | None = None
    preferred_channel: str | None = None
    away_until: datetime | None = None
    unreachable: frozenset[str] = frozenset()  # channels on which messages no longer arrive

    def has(self, *roles: Role) -> bool:
        return bool(self.roles.intersection(roles))

    @property
    def sees_everything(self) -> bool:
        return self.has(Role.ADMIN, Role.DIRECTOR)

    @classmethod
    def of(cls, person: Person | Row[*tuple[Any, ...]], roles: frozenset[Role]
           ) -> PersonView:
        return cls(
            id=person.id, name=person.name, roles=roles, language=person.language,
            username=person.username, telegram_id=person.telegram_id, wecom_id=person.wecom_id,
            title=person.title, preferred_channel=person.preferred_channel,
            away_until=person.away_until,
            unreachable=frozenset(
                channel for channel, at in (("telegram", person.telegram_unreachable_at),
                                            ("wecom", person.wecom_unreachable_at)) if at
            ),
        )


@dataclass(frozen=True)
class PersonRef:
    id: int
    name: str


@dataclass(frozen=True)
class TaskView:
    id: int
    title: str
    enterprise: str | None
    official: PersonRef
    leader: PersonRef | None
    guideline_id: int | None
    guideline_name: str | None
    funding_sought: Decimal | None
    funding_granted: Decimal | None
    due_at: datetime
    status: Status
    progress: int
    blocked: bool
    blocked_reason: str | None
    acknowledged_at: datetime | None
    last_update_at: datetime
    created_at: datetime
    snoozed_until: datetime | None
    reminder_offsets: str | None
    closed_at: datetime | None = None

    @property
    def closed(self) -> bool:
        return self.status.closed

    @classmethod
    def of(cls, task: Task, names: dict[int, str], guideline_name: str | None = None) -> TaskView:
        leader = PersonRef(task.leader_id, names[task.leader_id]) if task.leader_id else None
        return cls(
            id=task.id, title=task.title, enterprise=task.enterprise,
            official=PersonRef(task.official_id, names[task.official_id]), leader=leader,
            guideline_id=task.guideline_id, guideline_name=guideline_name,
            funding_sought=task.funding_sought, funding_granted=task.funding_granted,
            due_at=task.due_at, status=Status(task.status), progress=task.progress,
            blocked=task.blocked, blocked_reason=task.blocked_reason,
            acknowledged_at=task.acknowledged_at, last_update_at=task.last_update_at,
            created_at=task.created_at, snoozed_until=task.snoozed_until,
            reminder_offsets=task.reminder_offsets, closed_at=task.closed_at,
        )


@dataclass(frozen=True)
class UpdateView:
    created_at: datetime
    author: str | None
    channel: str
    kind: str
    progress: int | None
    status: Status | None
    note: str | None

    @classmethod
    def of(cls, update: TaskUpdate, author: str | None) -> UpdateView:
        return cls(
            created_at=update.created_at, author=author, channel=update.channel, kind=update.kind,
            progress=update.progress, status=Status(update.status) if update.status else None,
            note=update.note,
        )


@dataclass(frozen=True)
class TaskDetail:
    task: TaskView
    history: tuple[UpdateView, ...]


@dataclass(frozen=True)
class GuidelineView:
    """A 申报指南 window: opens, official deadline, the county's internal deadline."""

    id: int
    name: str
    level: str | None  # national, province, city, county
    department: str | None
    opens_at: datetime | None
    deadline_at: datetime
    internal_due_at: datetime
    link: str | None

    @classmethod
    def of(cls, row: Guideline) -> GuidelineView:
        return cls(id=row.id, name=row.name, level=row.level, department=row.department,
                   opens_at=row.opens_at, deadline_at=row.deadline_at,
                   internal_due_at=row.internal_due_at, link=row.link)
