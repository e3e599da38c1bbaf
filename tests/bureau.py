"""A bureau's autumn, for summary tests: tasks assigned, reported, blocked, submitted and
approved over five weeks, one official away, a task of last year, and the year's targets.

`MONDAY` (the weekly summary's moment) is where the clock stands when `populate` returns."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

from core.app import Core
from core.clock import FrozenClock
from core.enums import Channel, Status
from core.tasks import AssignRequest
from storage.models import Person
from tests.conftest import TZ, Staff

MONDAY = datetime(2026, 12, 7, 8, 30, tzinfo=TZ)
AWAY_UNTIL = datetime(2026, 12, 10, 18, 0, tzinfo=TZ)
CLI = Channel.CLI


async def populate(core: Core, staff: Staff, clock: FrozenClock) -> None:
    tasks = core.tasks

    async def assign(at: datetime, request: AssignRequest) -> int:
        clock.set(at)
        return (await tasks.assign(staff.admin, request, CLI)).task.id

    def before(days: int) -> datetime:
        return MONDAY - timedelta(days=days)

    # Last year's approval: not part of this year's figures.
    old = await assign(datetime(2025, 10, 1, 10, 0, tzinfo=TZ), AssignRequest(
        "孙丽", "2025-11-30", "去年的项目", "张副局长", "200"))
    clock.set(datetime(2025, 12, 1, 10, 0, tzinfo=TZ))
    await tasks.report(staff.admin, old, CLI, status=Status.APPROVED, granted=Decimal(200))

    overdue = await assign(before(20), AssignRequest(
        "李明", "2026-12-04", "高新技术企业认定", "张副局长", "50", "某某科技"))
    blocked = await assign(before(19), AssignRequest(
        "孙丽", "2026-12-15", "省重点研发计划", "张副局长", "100", "绿源农业"))
    soon = await assign(before(18), AssignRequest(
        "李明", "2026-12-10", "科技型中小企业评价", "钱副局长"))
    submitted = await assign(before(17), AssignRequest(
        "孙丽", "2026-12-18", "市科技计划项目", "钱副局长", "30"))
    approved = await assign(before(16), AssignRequest(
        "李明", "2026-11-20", "省级工程技术研究中心", "张副局长", "80"))
    await assign(before(15), AssignRequest("孙丽", "2026-12-31", "科技特派员服务站", "张副局长"))

    clock.set(before(12))
    await tasks.report(staff.official, overdue, CLI, progress=40, note="材料收集中")
    clock.set(before(5))
    await tasks.report(staff.admin, approved, CLI, status=Status.APPROVED, granted=Decimal(80))
    clock.set(before(3))
    await tasks.block(staff.official2, blocked, "企业审计报告未出", CLI)
    clock.set(before(2))
    await tasks.report(staff.official2, submitted, CLI, status=Status.SUBMITTED)
    await assign(before(2), AssignRequest("孙丽", "2027-02-01", "创新平台建设", None, "20"))
    clock.set(before(1))
    await tasks.report(staff.official, soon, CLI, progress=60)

    async with core.db.write() as session:
        sun = await session.get(Person, staff.official2.id)
        assert sun is not None
        sun.away_until = AWAY_UNTIL

    targets = core.targets
    await targets.set_target(None, "争取资金", "5000", None, None, CLI)
    await targets.set_target(None, "立项数", "20", None, None, CLI)
    await targets.set_target(None, "高新技术企业新增", "15", "12", None, CLI)
    clock.set(MONDAY)
