"""The sender's claims and leases, through the real aiogram Bot and the fake Bot API: a person's
due rows are claimed together and never while another sender holds them; a lease is renewed
while a batch takes long; stopping finishes the message in flight and hands the rest back; a
retry never falls in quiet hours."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.exc import OperationalError

from bot.telegram.sender import TelegramSender
from config.settings import Settings
from core import notices
from core.app import Core
from core.clock import FrozenClock
from scheduler.dispatch import OutboxDispatcher
from storage.models import OutboxItem
from tests.conftest import TZ, Staff, make_settings
from tests.e2e.conftest import People
from tests.e2e.harness import eventually
from tests.fakes.telegram_api import FakeTelegram

LEASE = timedelta(seconds=3)


@pytest.fixture
def settings(database_url: str, fake: FakeTelegram) -> Settings:
    return make_settings(database_url, telegram_api_url=fake.base_url,
                         quiet_hours="21:00-08:00")


@pytest.fixture
async def sender(fake: FakeTelegram) -> AsyncIterator[TelegramSender]:
    bot = fake.make_bot()
    yield TelegramSender(bot, timeout=5)
    await bot.session.close()


def dispatcher(core: Core, sender: TelegramSender, worker: str) -> OutboxDispatcher:
    return OutboxDispatcher(core, [sender], worker=worker, lease=LEASE)


async def notice(core: Core, person_id: int, number: int, at: datetime | None = None) -> None:
    """A plain notice (the "missed" report, which needs no task), told apart by its count."""
    async with core.db.write() as session:
        await notices.notify(core, session, person_id, "missed", None, at or core.clock.now(),
                             key=str(number), count=number)


async def outbox(core: Core) -> list[OutboxItem]:
    async with core.db.read() as session:
        return list(await session.scalars(select(OutboxItem).order_by(OutboxItem.id)))


async def test_a_persons_rows_are_claimed_together_and_by_one_sender_at_a_time(
    core: Core, staff: Staff, sender: TelegramSender, clock: FrozenClock
) -> None:
    for number in (1, 2):
        await notice(core, staff.official.id, number)
    await notice(core, staff.official2.id, 3)
    first, second = dispatcher(core, sender, "first"), dispatcher(core, sender, "second")

    claimed = await first._claim(1)
    assert [[i.payload["count"] for i in items] for items in claimed] == [[1, 2]]
    await notice(core, staff.official.id, 4)  # due meanwhile: the first sender holds the person
    claimed = await second._claim(10)
    assert [[i.payload["count"] for i in items] for items in claimed] == [[3]]

    clock.advance(LEASE + timedelta(seconds=1))  # both died: their leases run out
    claimed = await second._claim(10)
    assert [[i.payload["count"] for i in items] for items in claimed] == [[1, 2, 4], [3]]


async def test_a_lease_is_renewed_while_a_slow_batch_is_sent(
    core: Core, staff: Staff, sender: TelegramSender, fake: FakeTelegram, people: People,
    clock: FrozenClock,
) -> None:
    await notice(core, staff.official.id, 1)
    fake.pause()  # the Bot API holds the request
    sending = dispatcher(core, sender, "slow")
    working = asyncio.create_task(sending.dispatch_due())
    await eventually(lambda: _asked(fake))
    clock.advance(LEASE * 2)  # longer than the lease: only the renewal keeps the row
    await asyncio.sleep(LEASE.total_seconds() / 3 + 0.5)
    assert await dispatcher(core, sender, "other")._claim(10) == []
    fake.resume()
    await working
    assert [row.status for row in await outbox(core)] == ["sent"]
    assert len(people.official.received()) == 1


async def test_stopping_sends_the_message_in_flight_and_hands_back_the_rest(
    core: Core, staff: Staff, sender: TelegramSender, fake: FakeTelegram, people: People
) -> None:
    for number in (1, 2, 3):
        await notice(core, staff.official.id, number)
    fake.pause()
    sending = dispatcher(core, sender, "stopping")
    running = asyncio.create_task(sending.run())
    await eventually(lambda: _asked(fake))
    sending.stop()
    fake.resume()
    await asyncio.wait_for(running, 10)
    rows = await outbox(core)
    assert [(r.status, r.lease_owner, r.attempts) for r in rows] == [
        ("sent", None, 1), ("pending", None, 0), ("pending", None, 0)]
    assert len(people.official.received()) == 1


async def test_a_retry_waits_for_the_end_of_quiet_hours(
    core: Core, staff: Staff, sender: TelegramSender, fake: FakeTelegram, clock: FrozenClock,
    people: People,
) -> None:
    clock.set(datetime(2026, 12, 1, 20, 59, 59, tzinfo=TZ))
    await notice(core, staff.official.id, 1)
    fake.fail_next("sendMessage", 502)
    await dispatcher(core, sender, "evening").dispatch_due()
    morning = datetime(2026, 12, 2, 8, 0, tzinfo=TZ)
    [row] = await outbox(core)
    assert (row.status, row.send_at) == ("pending", morning)

    # Due earlier, found at night (the service was down): it waits for the morning too.
    clock.set(datetime(2026, 12, 1, 23, 0, tzinfo=TZ))
    await notice(core, staff.official2.id, 2, at=datetime(2026, 12, 1, 20, 0, tzinfo=TZ))
    assert not await dispatcher(core, sender, "night").dispatch_due()
    assert [row.send_at for row in await outbox(core)] == [morning, morning]
    assert people.official2.received() == []


async def test_an_outcome_is_stored_though_the_database_fails_for_a_moment(
    core: Core, sender: TelegramSender
) -> None:
    failures = [OperationalError("UPDATE outbox", {}, Exception("database is locked"))] * 2

    async def write() -> str:
        if failures:
            raise failures.pop()
        return "stored"

    assert await dispatcher(core, sender, "patient")._stubbornly(write) == "stored"


async def _asked(fake: FakeTelegram) -> bool:
    return fake.stats["by_method"].get("sendMessage", 0) > 0

