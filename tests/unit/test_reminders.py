"""How nudges read (one card, or one digest for several), and the follow-up checks: stale,
overdue and escalation, each once however often it runs."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy import select, update

from core import notices, reminders
from core.app import Core
from core.clock import FrozenClock
from core.enums import Channel, Status
from core.tasks import AssignRequest
from core.texts import plain
from storage.models import OutboxItem, Task
from tests.conftest import Staff
from tests.conftest import local as at


async def assign(core: Core, staff: Staff, due: str, title: str, leader: str | None = "张副局长"
                 ) -> int:
    request = AssignRequest("李明", due, title, leader)
    return (await core.tasks.assign(staff.admin, request, Channel.TELEGRAM)).task.id


async def outbox(core: Core, kind: str, status: str = "pending") -> list[OutboxItem]:
    async with core.db.read() as session:
        return list(await session.scalars(select(OutboxItem).where(
            OutboxItem.kind == kind, OutboxItem.status == status).order_by(OutboxItem.id)))


async def due_nudges(core: Core, when: datetime) -> list[OutboxItem]:
    return [i for i in await outbox(core, "nudge") if i.send_at == when]


async def test_several_nudges_at_once_are_one_message_most_urgent_first(
    core: Core, staff: Staff, clock: FrozenClock
) -> None:
    later = await assign(core, staff, "2026-12-21", "高企认定")
    sooner = await assign(core, staff, "2026-12-17 17:00", "科技型中小企业")  # 3d: 14 Dec
    closed = await assign(core, staff, "2026-12-21", "已撤销的项目")
    await core.tasks.report(staff.admin, closed, Channel.TELEGRAM, status=Status.WITHDRAWN)
    clock.set(at(2026, 12, 14, 9))
    items = await due_nudges(core, at(2026, 12, 14, 9))
    assert {i.task_id for i in items} == {later, sooner}
    person = await core.people.get(staff.official.id)
    (message,) = await notices.render(core, person, items)
    text = plain(message.reply.text)
    assert "2 个任务临近截止" in text
    assert text.index(f"#{sooner}") < text.index(f"#{later}")
    assert sorted(message.item_ids) == sorted(i.id for i in items)
    rows = [[b.label for b in row] for row in message.reply.buttons]
    assert rows[0] == [f"#{sooner} 已提交", f"#{sooner} 进度", f"#{sooner} 稍后",
                       f"#{sooner} 困难"]


async def one_nudge_due(
    core: Core, staff: Staff, clock: FrozenClock
) -> tuple[int, list[OutboxItem]]:
    """A task due 12/21 and its 14-day nudge, due now (12/07 09:00)."""
    task_id = await assign(core, staff, "2026-12-21", "高企认定")
    clock.set(at(2026, 12, 7, 9))
    return task_id, await due_nudges(core, at(2026, 12, 7, 9))


async def test_a_single_nudge_shows_the_card_with_its_buttons(
    core: Core, staff: Staff, clock: FrozenClock
) -> None:
    task_id, items = await one_nudge_due(core, staff, clock)
    (message,) = await notices.render(core, await core.people.get(staff.official.id), items)
    assert "截止提醒" in message.reply.text and "高企认定" in message.reply.text
    assert message.reply.task_id == task_id
    assert [[b.label for b in row] for row in message.reply.buttons] == [
        ["已提交", "更新进度"], ["稍后提醒", "遇到困难"]]


async def test_a_nudge_about_a_submitted_task_is_skipped(
    core: Core, staff: Staff, clock: FrozenClock
) -> None:
    task_id, items = await one_nudge_due(core, staff, clock)
    async with core.db.write() as session:  # submitted while the nudge was being claimed
        await session.execute(update(Task).where(Task.id == task_id).values(status="submitted"))
    (message,) = await notices.render(core, await core.people.get(staff.official.id), items)
    assert message.reply.text == "" and message.item_ids == (items[0].id,)


async def test_stale_once_per_silent_stretch(
    core: Core, staff: Staff, clock: FrozenClock
) -> None:
    task_id = await assign(core, staff, "2027-03-01", "创新平台")
    clock.advance(timedelta(days=6))
    assert await reminders.check_stale(core) == 0
    clock.advance(timedelta(days=1))  # Tuesday 8 December 10:00: seven days silent
    assert await reminders.check_stale(core) == 1
    assert await reminders.check_stale(core) == 0
    (item,) = await outbox(core, "stale")
    assert item.send_at == at(2026, 12, 8, 10) and item.task_id == task_id
    (message,) = await notices.render(core, await core.people.get(staff.official.id), [item])
    assert "进展如何" in message.reply.text and message.reply.buttons
    clock.advance(timedelta(days=7))
    assert await reminders.check_stale(core) == 1
    await core.tasks.report(staff.official, task_id, Channel.TELEGRAM, progress=30)
    assert await reminders.check_stale(core) == 0


async def test_stale_found_at_the_weekend_waits_for_the_next_working_morning(
    core: Core, staff: Staff, clock: FrozenClock
) -> None:
    await assign(core, staff, "2027-03-01", "创新平台")
    clock.set(at(2026, 12, 12, 10))  # a Saturday
    assert await reminders.check_stale(core) == 1
    (item,) = await outbox(core, "stale")
    assert item.send_at == at(2026, 12, 14, 9)  # Monday


async def test_overdue_the_day_after_to_official_and_leader_once(
    core: Core, staff: Staff, clock: FrozenClock
) -> None:
    task_id = await assign(core, staff, "2026-12-21", "高企认定")
    clock.set(at(2026, 12, 22, 8, 59))
    assert await reminders.check_overdue(core) == 0
    clock.set(at(2026, 12, 22, 9))
    assert await reminders.check_overdue(core) == 2
    assert await reminders.check_overdue(core) == 0
    (official,) = await outbox(core, "overdue")
    (leader,) = await outbox(core, "overdue_leader")
    assert (official.person_id, leader.person_id) == (staff.official.id, staff.leader.id)
    (message,) = await notices.render(core, await core.people.get(staff.leader.id), [leader])
    assert "已逾期1天" in message.reply.text and "李明" in message.reply.text
    submitted = await assign(core, staff, "2026-12-21", "已提交的项目")
    await core.tasks.report(staff.official, submitted, Channel.TELEGRAM, status=Status.SUBMITTED)
    assert await reminders.check_overdue(core) == 0
    assert task_id != submitted


async def test_checks_read_the_tasks_in_chunks_and_miss_none(
    core: Core, staff: Staff, clock: FrozenClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Chunks of two over five tasks, one of them closed in the middle of a chunk: every open
    task is found, once, and a submitted one never."""
    monkeypatch.setattr(reminders, "CHUNK", 2)
    ids = [await assign(core, staff, "2026-12-21", f"项目{n}") for n in range(5)]
    await core.tasks.report(staff.official, ids[2], Channel.TELEGRAM, status=Status.SUBMITTED)
    clock.set(at(2026, 12, 22, 9))
    assert await reminders.check_stale(core) == 5  # 15 days silent; submitted ones too
    assert await reminders.check_overdue(core) == 8  # official and leader for each of four
    assert {i.task_id for i in await outbox(core, "overdue")} == set(ids) - {ids[2]}
    assert await reminders.check_stale(core) == 0
    assert await reminders.check_overdue(core) == 0


async def test_overdue_while_away_reaches_only_the_leader_until_back(
    core: Core, staff: Staff, clock: FrozenClock
) -> None:
    await assign(core, staff, "2026-12-21", "高企认定")
    clock.set(at(2026, 12, 20, 10))
    await core.people.set_away(staff.official, None, 5, Channel.TELEGRAM)
    clock.set(at(2026, 12, 22, 10))
    assert await reminders.check_overdue(core) == 1
    assert await outbox(core, "overdue") == []
    clock.set(at(2026, 12, 25, 10))
    assert await reminders.check_overdue(core) == 1  # back: now the official hears too
    assert len(await outbox(core, "overdue")) == 1


async def mark_sent(core: Core, item: OutboxItem, when: datetime) -> None:
    async with core.db.write() as session:
        await session.execute(update(OutboxItem).where(OutboxItem.id == item.id)
                              .values(status="sent", sent_at=when))


async def test_an_unanswered_day_before_nudge_escalates_once(
    core: Core, staff: Staff, clock: FrozenClock
) -> None:
    task_id = await assign(core, staff, "2026-12-21", "高企认定")
    (day_before,) = await due_nudges(core, at(2026, 12, 18, 9))
    assert day_before.payload["offset"] == "86400"
    (week_before,) = await due_nudges(core, at(2026, 12, 14, 9))
    await mark_sent(core, week_before, at(2026, 12, 14, 9))
    await mark_sent(core, day_before, at(2026, 12, 18, 9))
    clock.set(at(2026, 12, 19, 8, 59))
    assert await reminders.check_escalations(core) == 0
    clock.set(at(2026, 12, 19, 9, 0))
    assert await reminders.check_escalations(core) == 1  # the week-before nudge never does
    assert await reminders.check_escalations(core) == 0
    (item,) = await outbox(core, "escalation")
    assert item.person_id == staff.leader.id and item.task_id == task_id
    (message,) = await notices.render(core, await core.people.get(staff.leader.id), [item])
    assert "24 小时" in message.reply.text and "李明" in message.reply.text


async def test_an_answered_nudge_does_not_escalate_and_leave_does_not_stop_it(
    core: Core, staff: Staff, clock: FrozenClock
) -> None:
    answered = await assign(core, staff, "2026-12-21", "高企认定")
    silent = await assign(core, staff, "2026-12-21", "创新平台", leader=None)
    for item in await due_nudges(core, at(2026, 12, 18, 9)):
        await mark_sent(core, item, at(2026, 12, 18, 9))
    clock.set(at(2026, 12, 18, 11))
    await core.tasks.report(staff.official, answered, Channel.TELEGRAM, note="材料在走流程")
    await core.people.set_away(staff.official, None, 3, Channel.TELEGRAM)
    clock.set(at(2026, 12, 19, 10))
    assert await reminders.check_escalations(core) == 1
    (item,) = await outbox(core, "escalation")
    assert item.task_id == silent and item.person_id == staff.admin.id  # no leader: the admins
