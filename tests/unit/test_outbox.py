"""The outbox: enqueueing is idempotent, old rows are marked missed instead of sent late, the
sender's wake-up never keeps it from stopping."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlalchemy import select

from core.app import Core
from core.clock import FrozenClock
from core.enums import Channel
from core.outbox import OutboxSignal
from core.tasks import AssignRequest
from scheduler.jobs import mark_missed
from storage.models import OutboxItem
from tests.conftest import Staff


async def rows(core: Core) -> list[OutboxItem]:
    """The outbox but for the deadline nudges (planned days ahead, see test_planning)."""
    async with core.db.read() as session:
        return list(await session.scalars(
            select(OutboxItem).where(OutboxItem.kind != "nudge").order_by(OutboxItem.id)))


async def test_messages_older_than_the_grace_are_missed_and_reported(
    core: Core, staff: Staff, clock: FrozenClock
) -> None:
    request = AssignRequest("李明", "2026-12-20", "高企认定", "张副局长")
    await core.tasks.assign(staff.admin, request, Channel.CLI)
    assert [r.kind for r in await rows(core)] == ["assigned", "leader_assigned"]

    clock.advance(timedelta(hours=23))
    await mark_missed(core)
    assert {r.status for r in await rows(core)} == {"pending"}

    clock.advance(timedelta(hours=2))
    await mark_missed(core)
    outbox = await rows(core)
    assert [r.status for r in outbox[:2]] == ["missed", "missed"]
    report = outbox[2]
    assert (report.kind, report.person_id, report.payload["count"]) == ("missed", staff.admin.id, 2)


async def test_a_waiting_loop_stops_when_cancelled_as_it_is_woken() -> None:
    """Regression: asyncio.wait_for (Python 3.11) swallowed a cancellation that arrived with
    the wake-up, so stopping the service hung on the sender's loop."""
    signal = OutboxSignal()

    async def loop() -> None:
        while True:
            await signal.wait(5)

    task = asyncio.create_task(loop())
    await asyncio.sleep(0)
    signal.wake()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(task, 1)
