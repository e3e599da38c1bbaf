"""When deadline nudges go out: offsets in days, hours and minutes, working days with 调休,
quiet hours, snooze and leave, times already past — and re-planning on every change."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

import pytest
from sqlalchemy import select, update

from config.settings import Settings, parse_offsets
from core.app import Core
from core.calendar import WorkCalendar
from core.clock import FrozenClock
from core.enums import Channel, Status
from core.guidelines import GuidelineRecord
from core.planning import Nudge, Pause, nudge_times, replan
from core.tasks import AssignRequest
from storage.models import OutboxItem, Task
from tests.conftest import T0, TZ, Staff, make_settings
from tests.conftest import local as at

DEFAULT = parse_offsets("14d,7d,3d,1d,0d")



@pytest.fixture
def quiet_settings() -> Settings:
    return make_settings("sqlite+aiosqlite://", quiet_hours="21:00-08:00")


@pytest.fixture
def plain_settings() -> Settings:
    return make_settings("sqlite+aiosqlite://")


def times(nudges: list[Nudge]) -> list[tuple[datetime, str]]:
    return [(n.send_at.astimezone(TZ), n.label) for n in nudges]


def plan(settings: Settings, due: datetime, offsets: str | tuple[timedelta, ...] = DEFAULT,
         now: datetime = T0, calendar: WorkCalendar | None = None,
         pause: Pause | None = None) -> list[tuple[datetime, str]]:
    chosen = parse_offsets(offsets) if isinstance(offsets, str) else offsets
    return times(nudge_times(due, chosen, now=now, settings=settings,
                             calendar=calendar or WorkCalendar(), pause=pause))


# ---- the rules, one by one -------------------------------------------------------------------

def test_day_offsets_at_the_reminder_time_and_weekends_move_earlier(
    plain_settings: Settings,
) -> None:
    # Due Monday 21 December: 1d falls on Sunday and moves to Friday, where 3d already is.
    assert plan(plain_settings, at(2026, 12, 21, 18)) == [
        (at(2026, 12, 7, 9), "1209600"), (at(2026, 12, 14, 9), "604800"),
        (at(2026, 12, 18, 9), "86400"), (at(2026, 12, 21, 9), "0"),
    ]


def test_hour_and_minute_offsets_count_back_from_the_due_moment(
    plain_settings: Settings,
) -> None:
    assert plan(plain_settings, at(2026, 12, 21, 17), "2h,30m") == [
        (at(2026, 12, 21, 15), "7200"), (at(2026, 12, 21, 16, 30), "1800")]
    # They do not move for weekends: the deadline is the deadline.
    assert plan(plain_settings, at(2026, 12, 20, 18), "2h") == [(at(2026, 12, 20, 16), "7200")]


def test_spring_festival_2026_moves_nudges_to_the_worked_saturday(
    plain_settings: Settings,
) -> None:
    """春节 2026: off 15–23 February, Saturday 14 February worked (调休)."""
    due = at(2026, 2, 24, 18)
    assert plan(plain_settings, due, now=at(2026, 1, 20, 10)) == [
        (at(2026, 2, 10, 9), "1209600"), (at(2026, 2, 14, 9), "86400"),
        (at(2026, 2, 24, 9), "0")]


def test_national_day_2026_and_its_adjusted_working_days(plain_settings: Settings) -> None:
    """国庆 2026: off 1–7 October, 中秋 25 September; Sunday 20 September and Saturday
    10 October worked."""
    now = at(2026, 9, 1, 10)
    assert plan(plain_settings, at(2026, 10, 9, 18), now=now) == [
        (at(2026, 9, 24, 9), "1209600"), (at(2026, 9, 30, 9), "259200"),
        (at(2026, 10, 8, 9), "86400"), (at(2026, 10, 9, 9), "0")]
    assert plan(plain_settings, at(2026, 10, 12, 18), "1d", now=now) == [
        (at(2026, 10, 10, 9), "86400")]
    assert plan(plain_settings, at(2026, 9, 21, 18), "1d", now=now) == [
        (at(2026, 9, 20, 9), "86400")]


def test_a_year_without_holiday_data_falls_back_to_weekdays_with_one_warning(
    plain_settings: Settings, caplog: pytest.LogCaptureFixture,
) -> None:
    calendar = WorkCalendar()
    with caplog.at_level(logging.WARNING):
        nudges = plan(plain_settings, at(2031, 1, 6, 18), "3d,1d", now=at(2030, 12, 1),
                      calendar=calendar)
        plan(plain_settings, at(2031, 1, 13, 18), "1d", now=at(2030, 12, 1), calendar=calendar)
    # 3d is Friday; 1d (Sunday) moves to Friday too: one nudge, the nearer offset's.
    assert nudges == [(at(2031, 1, 3, 9), "86400")]
    assert len([r for r in caplog.records if "2031" in r.getMessage()]) == 1


def test_working_days_rule_off(plain_settings: Settings) -> None:
    assert plan(plain_settings, at(2026, 12, 21, 18), "1d",
                calendar=WorkCalendar(workdays_only=False)) == [(at(2026, 12, 20, 9), "86400")]


def test_quiet_hours_wait_but_never_past_the_due_moment(quiet_settings: Settings) -> None:
    # 07:00 is quiet: the nudge waits until 08:00, still before the 10:00 deadline.
    assert plan(quiet_settings, at(2026, 12, 22, 10), "3h") == [(at(2026, 12, 22, 8), "10800")]
    # 22:00 would wait until after the 23:00 deadline: it goes out before quiet hours instead.
    assert plan(quiet_settings, at(2026, 12, 21, 23), "1h") == [
        (at(2026, 12, 21, 20, 59), "3600")]


def test_a_due_time_before_the_reminder_time_is_not_overshot(plain_settings: Settings) -> None:
    assert plan(plain_settings, at(2026, 12, 21, 8), "0d") == [(at(2026, 12, 21, 8), "0")]


def test_times_already_past_are_not_planned(plain_settings: Settings) -> None:
    assert plan(plain_settings, at(2026, 12, 21, 18), now=at(2026, 12, 18, 10)) == [
        (at(2026, 12, 21, 9), "0")]
    assert plan(plain_settings, at(2026, 12, 1, 9), now=T0) == []


def test_a_snooze_drops_what_falls_in_it_and_nudges_when_it_ends(
    plain_settings: Settings,
) -> None:
    snooze = Pause(at(2026, 12, 15, 10), resume=True)
    assert plan(plain_settings, at(2026, 12, 21, 18), pause=snooze) == [
        (at(2026, 12, 15, 10), "resume"), (at(2026, 12, 18, 9), "86400"),
        (at(2026, 12, 21, 9), "0")]


def test_leave_nudges_on_return_only_when_a_nudge_fell_in_it(plain_settings: Settings) -> None:
    leave = Pause(at(2026, 12, 10), resume=False)
    assert plan(plain_settings, at(2026, 12, 21, 18), pause=leave)[0] == (
        at(2026, 12, 10), "resume")
    assert plan(plain_settings, at(2026, 12, 21, 18), "3d", pause=leave) == [
        (at(2026, 12, 18, 9), "259200")]


# ---- re-planning in the database -------------------------------------------------------------

async def nudges(core: Core, task_id: int | None = None) -> list[tuple[int, datetime, str]]:
    """Pending nudges: (person, local send time, offset)."""
    query = select(OutboxItem).where(OutboxItem.kind == "nudge", OutboxItem.status == "pending")
    if task_id is not None:
        query = query.where(OutboxItem.task_id == task_id)
    async with core.db.read() as session:
        rows = await session.scalars(query.order_by(OutboxItem.send_at, OutboxItem.id))
        return [(r.person_id, r.send_at.astimezone(TZ), r.payload["offset"]) for r in rows]


async def assign(core: Core, staff: Staff, due: str = "2026-12-21", title: str = "高企认定",
                 official: str = "李明") -> int:
    request = AssignRequest(official, due, title, "张副局长")
    return (await core.tasks.assign(staff.admin, request, Channel.TELEGRAM)).task.id


async def test_assigning_plans_and_replanning_is_idempotent(core: Core, staff: Staff) -> None:
    task_id = await assign(core, staff)
    planned = await nudges(core, task_id)
    assert [(when, offset) for _, when, offset in planned] == [
        (at(2026, 12, 7, 9), "1209600"), (at(2026, 12, 14, 9), "604800"),
        (at(2026, 12, 18, 9), "86400"), (at(2026, 12, 21, 9), "0")]
    assert {person for person, _, _ in planned} == {staff.official.id}
    async with core.db.write() as session:
        task = await session.get(Task, task_id)
        assert task is not None
        await replan(core, session, task, core.clock.now())
        # The first nudge went out: re-planning must not plan it again.
        await session.execute(update(OutboxItem).where(
            OutboxItem.task_id == task_id, OutboxItem.kind == "nudge",
            OutboxItem.send_at == at(2026, 12, 7, 9)).values(status="sent"))
        await replan(core, session, task, core.clock.now())
    assert await nudges(core, task_id) == planned[1:]


async def test_per_task_offsets_and_a_new_due_date(core: Core, staff: Staff) -> None:
    task_id = await assign(core, staff)
    await core.tasks.edit(staff.admin, task_id, "offsets", "3d,1d", Channel.TELEGRAM)
    assert [w for _, w, _ in await nudges(core, task_id)] == [at(2026, 12, 18, 9)]
    await core.tasks.edit(staff.admin, task_id, "due", "2026-12-24", Channel.TELEGRAM)
    assert [w for _, w, _ in await nudges(core, task_id)] == [
        at(2026, 12, 21, 9), at(2026, 12, 23, 9)]


async def test_reassigning_moves_the_nudges_to_the_new_official(core: Core, staff: Staff) -> None:
    task_id = await assign(core, staff)
    await core.tasks.edit(staff.admin, task_id, "official", "孙丽", Channel.TELEGRAM)
    assert {p for p, _, _ in await nudges(core, task_id)} == {staff.official2.id}


@pytest.mark.parametrize("status", [Status.SUBMITTED, Status.WITHDRAWN, Status.REJECTED])
async def test_submitted_or_closed_tasks_get_no_nudges(
    core: Core, staff: Staff, status: Status
) -> None:
    task_id = await assign(core, staff)
    await core.tasks.report(staff.admin, task_id, Channel.TELEGRAM, status=status)
    assert await nudges(core, task_id) == []
    await core.tasks.report(staff.admin, task_id, Channel.TELEGRAM, status=Status.PREPARING)
    assert len(await nudges(core, task_id)) == 4  # reopened: planned again


async def test_snooze_pauses_and_nudges_once_it_is_over(
    core: Core, staff: Staff, clock: FrozenClock
) -> None:
    task_id = await assign(core, staff)
    clock.set(at(2026, 12, 14, 9, 30))
    await core.tasks.snooze(staff.official, task_id, 3, Channel.TELEGRAM)
    assert [(w, o) for _, w, o in await nudges(core, task_id)] == [
        (at(2026, 12, 17, 9, 30), "resume"), (at(2026, 12, 18, 9), "86400"),
        (at(2026, 12, 21, 9), "0")]


async def test_a_moved_guideline_deadline_moves_its_tasks_nudges(core: Core, staff: Staff) -> None:
    record = GuidelineRecord(key="gx-2026", name="高企认定", deadline_at=at(2026, 12, 28, 18))
    async with core.db.write() as session:
        await core.guidelines.save(session, record, source="t.csv", actor_id=None,
                                   channel=Channel.CLI, now=core.clock.now())
    outcome = await core.tasks.assign(
        staff.admin, AssignRequest("李明", "", "高企申报", guideline="gx-2026"), Channel.CLI)
    assert outcome.task.due_at == at(2026, 12, 21, 18)  # five working days earlier
    moved = GuidelineRecord(key="gx-2026", name="高企认定", deadline_at=at(2027, 1, 8, 18))
    async with core.db.write() as session:
        await core.guidelines.save(session, moved, source="t.csv", actor_id=None,
                                   channel=Channel.CLI, now=core.clock.now())
    planned = await nudges(core, outcome.task.id)
    # Five weekdays before 8 January (no holiday data for 2027 installed): Friday 1 January.
    assert [(w, o) for _, w, o in planned] == [
        (at(2026, 12, 18, 9), "1209600"), (at(2026, 12, 25, 9), "604800"),
        (at(2026, 12, 29, 9), "259200"), (at(2026, 12, 31, 9), "86400"), (at(2027, 1, 1, 9), "0")]


async def test_leave_pauses_the_persons_nudges_until_back(
    core: Core, staff: Staff, clock: FrozenClock
) -> None:
    task_id = await assign(core, staff)
    await core.people.set_away(staff.official, None, 10, Channel.TELEGRAM)  # back 11 December
    assert [(w, o) for _, w, o in await nudges(core, task_id)] == [
        (at(2026, 12, 11, 0, 0), "resume"), (at(2026, 12, 14, 9), "604800"),
        (at(2026, 12, 18, 9), "86400"), (at(2026, 12, 21, 9), "0")]
    await core.people.set_away(staff.official, None, 0, Channel.TELEGRAM)
    assert [o for _, _, o in await nudges(core, task_id)] == ["1209600", "604800", "86400", "0"]


async def test_a_task_sheet_row_plans_and_its_new_due_date_replans(
    core: Core, staff: Staff
) -> None:
    async def save(due: str) -> None:
        row = AssignRequest("李明", due, "创新平台", "张副局长", enterprise="某某科技")
        async with core.db.write() as session:
            await core.tasks.save_imported(session, row, staff.admin, Channel.CLI,
                                           core.clock.now())

    await save("2026-12-21")
    assert [w for _, w, _ in await nudges(core)][-1] == at(2026, 12, 21, 9)
    await save("2026-12-24")
    assert [w for _, w, _ in await nudges(core)] == [
        at(2026, 12, 10, 9), at(2026, 12, 17, 9), at(2026, 12, 21, 9), at(2026, 12, 23, 9),
        at(2026, 12, 24, 9)]
