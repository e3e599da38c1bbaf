"""申报指南: programme windows with an opening date, an official deadline and the county's internal
deadline. Saved from imported files, listed soonest first, named in commands, and announced to
admins and subscribers when they open."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from core import audit, notices
from core.dto import GuidelineView
from core.enums import Channel, Role, Saved
from core.errors import InputError
from core.parsing import MAX_TITLE, check_text, normalize
from storage.models import Guideline, Person

if TYPE_CHECKING:
    from core.app import Core

LEVEL_WORDS = {
    "国家": "national", "国家级": "national", "中央": "national", "部级": "national",
    "national": "national",
    "省": "province", "省级": "province", "province": "province", "provincial": "province",
    "市": "city", "市级": "city", "地市": "city", "地市级": "city", "city": "city",
    "县": "county", "县级": "county", "区": "county", "县区": "county", "区县": "county",
    "county": "county",
}
MAX_KEY = 255
MAX_DEPARTMENT = 100
MAX_LINK = 500
_LINK = re.compile(r"^https?://\S+$", re.IGNORECASE)


def parse_level(text: str) -> str:
    level = LEVEL_WORDS.get(normalize(text).lower())
    if level is None:
        raise InputError("level_unknown", field="level", value=text)
    return level


def check_link(text: str) -> str:
    link = text.strip()
    if not _LINK.match(link) or len(link) > MAX_LINK:
        raise InputError("link_invalid", field="link", value=text)
    return link


@dataclass(frozen=True)
class GuidelineRecord:
    """One guideline as a file describes it, checked; `key` says which stored one it is."""

    key: str
    name: str
    deadline_at: datetime
    opens_at: datetime | None = None
    level: str | None = None
    department: str | None = None
    link: str | None = None
    description: str | None = None


def guideline_record(
    *,
    name: str,
    deadline_at: datetime,
    tz: ZoneInfo,
    opens_at: datetime | None = None,
    level: str | None = None,
    department: str | None = None,
    link: str | None = None,
    description: str | None = None,
    key: str | None = None,
) -> GuidelineRecord:
    """Check what a row or an event says. Without an explicit key (an .ics UID, a 指南编号
    column) a guideline is known by its name and year: the opening's year when it has one
    (deadlines get extended across New Year, openings rarely move)."""
    name = check_text(name, "guideline", MAX_TITLE)
    if opens_at is not None and opens_at > deadline_at:
        raise InputError("opens_after_deadline", field="opens",
                         opens=opens_at.astimezone(tz).date().isoformat(),
                         deadline=deadline_at.astimezone(tz).date().isoformat())
    year = (opens_at or deadline_at).astimezone(tz).year
    return GuidelineRecord(
        key=check_text(key, "key", MAX_KEY) if key else f"{name}|{year}",
        name=name, deadline_at=deadline_at, opens_at=opens_at,
        level=parse_level(level) if level else None,
        department=check_text(department, "department", MAX_DEPARTMENT) if department else None,
        link=check_link(link) if link else None,
        description=description.strip() or None if description else None,
    )


async def find_guideline(session: AsyncSession, ref: str | int, now: datetime) -> Guideline:
    """A guideline named by its exact name or key, a unique part of its name, or (from a
    button) its id. Rounds whose deadline is still ahead win over past ones of the same name."""
    if isinstance(ref, int):
        row = await session.get(Guideline, ref)
        if row is None:
            raise InputError("guideline_unknown", field="guideline", value=str(ref))
        return row
    text = normalize(ref)
    if not text:
        raise InputError("text_empty", field="guideline")
    matches = list(await session.scalars(
        select(Guideline).where(or_(Guideline.name == text, Guideline.key == text))))
    if not matches:
        matches = list(await session.scalars(
            select(Guideline).where(Guideline.name.contains(text, autoescape=True))))
    matches = [g for g in matches if g.deadline_at > now] or matches
    if not matches:
        raise InputError("guideline_unknown", field="guideline", value=text)
    if len(matches) > 1:
        # Keys name each round exactly (`name|2027`, a UID), and are accepted as names.
        choices = "、".join(g.key for g in matches[:5])
        raise InputError("guideline_ambiguous", field="guideline", value=text, choices=choices)
    return matches[0]


class Guidelines:
    def __init__(self, core: Core) -> None:
        self.core = core

    def internal_due(self, deadline_at: datetime) -> datetime:
        """The county's own deadline: `DUBAN_INTERNAL_DEADLINE_WORKDAYS` working days before the
        official one, at the same local time of day."""
        settings = self.core.settings
        local = deadline_at.astimezone(settings.tz)
        day = self.core.calendar.workdays_before(local.date(), settings.internal_deadline_workdays)
        return datetime.combine(day, local.time(), tzinfo=settings.tz)

    # ---- reading -------------------------------------------------------------------------

    async def upcoming(self) -> list[GuidelineView]:
        """Every guideline whose official deadline is still ahead, soonest first."""
        now = self.core.clock.now()
        async with self.core.db.read() as session:
            rows = await session.scalars(
                select(Guideline).where(Guideline.deadline_at > now)
                .order_by(Guideline.deadline_at, Guideline.id))
            return [GuidelineView.of(row) for row in rows]

    async def get(self, guideline_id: int) -> GuidelineView | None:
        async with self.core.db.read() as session:
            row = await session.get(Guideline, guideline_id)
            return GuidelineView.of(row) if row else None

    async def find(self, ref: str | int) -> GuidelineView:
        async with self.core.db.read() as session:
            return GuidelineView.of(await find_guideline(session, ref, self.core.clock.now()))

    # ---- changing ------------------------------------------------------------------------

    async def subscribe(self, person_id: int, on: bool) -> None:
        """Whether this person hears when a guideline opens (admins always do)."""
        async with self.core.db.write() as session:
            person = await session.get(Person, person_id)
            if person is not None:
                person.subscribed_openings = on

    async def save(
        self, session: AsyncSession, record: GuidelineRecord, *, source: str,
        actor_id: int | None, channel: Channel, now: datetime,
    ) -> tuple[Saved, int]:
        """Create or update the guideline with `record.key`; when its internal deadline moved,
        the tasks that follow it move too. Returns what happened and how many tasks moved."""
        values = {
            "name": record.name, "level": record.level, "department": record.department,
            "opens_at": record.opens_at, "deadline_at": record.deadline_at,
            "internal_due_at": self.internal_due(record.deadline_at), "link": record.link,
            "description": record.description,
        }
        row = await session.scalar(select(Guideline).where(Guideline.key == record.key))
        if row is None:
            row = Guideline(key=record.key, source=source[:100], created_at=now, updated_at=now,
                            **values)
            session.add(row)
            await session.flush()
            audit.record(session, actor_id=actor_id, channel=channel, action="guideline_add",
                         subject=f"guideline:{row.id}", at=now, name=record.name,
                         deadline=record.deadline_at.isoformat())
            return Saved.CREATED, 0
        changed = sorted(name for name, value in values.items() if getattr(row, name) != value)
        if not changed:
            return Saved.UNCHANGED, 0
        for name in changed:
            setattr(row, name, values[name])
        row.source, row.updated_at = source[:100], now
        audit.record(session, actor_id=actor_id, channel=channel, action="guideline_update",
                     subject=f"guideline:{row.id}", at=now, changed=changed,
                     deadline=record.deadline_at.isoformat())
        moved = []
        if "internal_due_at" in changed:
            moved = await self.core.tasks.follow_guideline(session, row, now)
        return Saved.UPDATED, len(moved)

    # ---- openings ------------------------------------------------------------------------

    def announce_at(self, guideline: Guideline) -> datetime:
        """An opening is announced on its day at the reminder time, or when it opens if later
        (an opening given as a date means the whole day, not midnight)."""
        assert guideline.opens_at is not None
        settings = self.core.settings
        day = guideline.opens_at.astimezone(settings.tz).date()
        return max(guideline.opens_at,
                   datetime.combine(day, settings.reminder_time, tzinfo=settings.tz))

    async def announce_openings(self) -> int:
        """Enqueue one notice per recipient for every guideline that has just opened; the dedupe
        key (guideline and opening day) makes a second run, or a second copy, add nothing.
        Openings further back than the catch-up grace (the service was down, or the file was
        imported late) are not announced any more. Returns how many notices were enqueued."""
        settings = self.core.settings
        now = self.core.clock.now()
        lookback = timedelta(hours=max(settings.catch_up_grace_hours, 1))
        enqueued = 0
        async with self.core.db.write() as session:
            opened = await session.scalars(select(Guideline).where(
                Guideline.opens_at.is_not(None), Guideline.opens_at <= now,
                Guideline.opens_at > now - lookback - timedelta(days=1),
                Guideline.deadline_at > now))
            due = [g for g in opened if now - lookback <= self.announce_at(g) <= now]
            recipients = await self._opening_recipients(session) if due else []
            for guideline in due:
                assert guideline.opens_at is not None
                day = guideline.opens_at.astimezone(settings.tz).date().isoformat()
                for person_id in recipients:
                    enqueued += await notices.notify(
                        self.core, session, person_id, "opening", None, now,
                        key=f"{guideline.id}:{day}", guideline_id=guideline.id)
        if enqueued:
            self.core.outbox_signal.wake()
        return enqueued

    @staticmethod
    async def _opening_recipients(session: AsyncSession) -> list[int]:
        admins = await notices.ids_with_role(session, Role.ADMIN)
        subscribed = await session.scalars(
            select(Person.id).where(Person.subscribed_openings, Person.active))
        return sorted(set(admins) | set(subscribed))
