"""Yearly targets (年度目标) and how far the bureau has come. Funding won and projects approved
are counted from the tasks; any other metric (高新技术企业新增, ...) is entered by an admin."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from core import audit
from core.dto import PersonView, TaskView
from core.enums import Channel, Status
from core.errors import InputError, NotFound
from core.parsing import MAX_NAME, check_text, normalize, parse_amount
from core.permissions import Permission, require
from storage.models import Target

if TYPE_CHECKING:
    from core.app import Core

FUNDING_WON = "funding_won"
PROJECTS_APPROVED = "projects_approved"
COMPUTED_UNITS = {FUNDING_WON: "万元", PROJECTS_APPROVED: "项"}
METRIC_WORDS = {
    "争取资金": FUNDING_WON, "获批资金": FUNDING_WON, "资金": FUNDING_WON, "funding": FUNDING_WON,
    FUNDING_WON: FUNDING_WON,
    "立项数": PROJECTS_APPROVED, "立项": PROJECTS_APPROVED, "项目立项数": PROJECTS_APPROVED,
    "approved": PROJECTS_APPROVED, PROJECTS_APPROVED: PROJECTS_APPROVED,
}
_COUNT_UNITS = "项家个件"


@dataclass(frozen=True)
class Tally:
    """A set of tasks in one year: funding sought by the live ones, and what was approved."""

    sought: Decimal
    won: Decimal
    approved: int


@dataclass(frozen=True)
class Progress:
    """One target and how far it has come; `actual` None: a manual metric not entered yet."""

    metric: str  # FUNDING_WON, PROJECTS_APPROVED or the admin's own name for the metric
    target: Decimal
    actual: Decimal | None
    unit: str | None

    @property
    def computed(self) -> bool:
        return self.metric in COMPUTED_UNITS

    @property
    def percent(self) -> int | None:
        if self.actual is None or not self.target:
            return None
        return int(self.actual * 100 / self.target)


def approved_in(task: TaskView, year: int, tz: ZoneInfo) -> bool:
    when = task.closed_at or task.due_at
    return task.status == Status.APPROVED and when.astimezone(tz).year == year


def live_in(task: TaskView, year: int, tz: ZoneInfo) -> bool:
    """Open now, or closed during the year: the tasks a year's figures are about."""
    return not task.closed or (task.closed_at or task.due_at).astimezone(tz).year == year


def tally(tasks: Iterable[TaskView], year: int, tz: ZoneInfo) -> Tally:
    tasks = [task for task in tasks if live_in(task, year, tz)]
    approved = [task for task in tasks if approved_in(task, year, tz)]
    return Tally(
        sought=sum((task.funding_sought or Decimal(0) for task in tasks), Decimal(0)),
        won=sum((task.funding_granted or Decimal(0) for task in approved), Decimal(0)),
        approved=len(approved),
    )


def metric_key(text: str) -> str:
    """争取资金 → FUNDING_WON, 立项数 → PROJECTS_APPROVED; any other name is a manual metric."""
    name = check_text(normalize(text), "metric", MAX_NAME)
    return METRIC_WORDS.get(name.lower(), name)


def parse_quantity(text: str, field: str) -> Decimal:
    """`5000`, `5000万元`, `20项`, `15家` → Decimal."""
    try:
        return parse_amount(normalize(text).rstrip(_COUNT_UNITS), field)
    except InputError:
        raise InputError("quantity_invalid", field=field, value=text) from None


class Targets:
    def __init__(self, core: Core) -> None:
        self.core = core

    def this_year(self) -> int:
        return self.core.clock.now().astimezone(self.core.settings.tz).year

    async def set_target(
        self, actor: PersonView | None, metric: str, target: str, actual: str | None,
        year: int | None, channel: Channel,
    ) -> Progress:
        """Set a year's target (and, for a manual metric, its actual). `actor` None is the
        command line, which is trusted."""
        if actor is not None:
            require(actor, Permission.SET_TARGETS)
        key = metric_key(metric)
        value = parse_quantity(target, "target")
        if not value:
            raise InputError("target_zero", value=target)
        if actual is not None and key in COMPUTED_UNITS:
            raise InputError("target_actual_computed", metric=metric)
        manual = parse_quantity(actual, "actual") if actual is not None else None
        year = self._year(year)
        now = self.core.clock.now()
        async with self.core.db.write() as session:
            row = await self._row(session, year, key)
            if row is None:
                row = Target(year=year, metric=key)
                session.add(row)
            row.target_value, row.unit = value, COMPUTED_UNITS.get(key)
            row.manual_value = manual if manual is not None else row.manual_value
            row.updated_by, row.updated_at = actor.id if actor else None, now
            audit.record(session, actor_id=row.updated_by, channel=channel, action="target_set",
                         subject=f"target:{year}:{key}", at=now, target=value, actual=manual)
        return (await self.progress(year, metrics={key}))[0]

    async def delete(
        self, actor: PersonView | None, metric: str, year: int | None, channel: Channel
    ) -> str:
        if actor is not None:
            require(actor, Permission.SET_TARGETS)
        key, year = metric_key(metric), self._year(year)
        async with self.core.db.write() as session:
            result = await session.execute(
                delete(Target).where(Target.year == year, Target.metric == key))
            if not result.rowcount:  # type: ignore[attr-defined]
                raise NotFound("target_not_found", metric=metric, year=year)
            audit.record(session, actor_id=actor.id if actor else None, channel=channel,
                         action="target_delete", subject=f"target:{year}:{key}",
                         at=self.core.clock.now())
        return key

    async def progress(self, year: int | None = None,
                       metrics: set[str] | None = None) -> list[Progress]:
        """The year's targets, computed ones first, with what has been reached so far."""
        year = self._year(year)
        async with self.core.db.read() as session:
            rows = list(await session.scalars(select(Target).where(Target.year == year)))
        rows = [r for r in rows if metrics is None or r.metric in metrics]
        if not rows:
            return []
        reached = tally(await self.core.tasks.portfolio(None), year, self.core.settings.tz)
        computed = {FUNDING_WON: reached.won, PROJECTS_APPROVED: Decimal(reached.approved)}
        rows.sort(key=lambda r: (r.metric not in COMPUTED_UNITS, r.metric != FUNDING_WON,
                                 r.metric))
        return [Progress(r.metric, r.target_value, computed.get(r.metric, r.manual_value), r.unit)
                for r in rows]

    def _year(self, year: int | None) -> int:
        if year is None:
            return self.this_year()
        if not 2000 <= year <= 2100:
            raise InputError("date_year", value=str(year))
        return year

    @staticmethod
    async def _row(session: AsyncSession, year: int, metric: str) -> Target | None:
        return await session.scalar(select(Target).where(Target.year == year,
                                                         Target.metric == metric))
