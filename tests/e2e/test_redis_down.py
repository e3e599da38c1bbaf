"""With DUBAN_REDIS_URL set, the sending limits live in Redis: while it cannot be reached nothing
is sent, and the messages wait in the outbox, untried, until it can."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from core.app import Core
from core.clock import FrozenClock
from core.enums import Channel
from core.tasks import AssignRequest
from storage.models import OutboxItem
from tests.conftest import Staff, make_settings
from tests.e2e.conftest import People
from tests.e2e.harness import Running, eventually
from tests.e2e.test_redis_forms import REDIS_URL
from tests.fakes.telegram_api import FakeTelegram

UNREACHABLE = "redis://127.0.0.1:9/0"  # the discard port: nothing listens there


async def test_while_redis_is_down_messages_wait_in_the_outbox(
    fake: FakeTelegram, database_url: str, clock: FrozenClock, core: Core, staff: Staff,
    people: People, caplog: pytest.LogCaptureFixture,
) -> None:
    await core.tasks.assign(staff.admin, AssignRequest("李明", "2026-12-20", "高企认定"),
                            Channel.CLI)
    # The notice is due when the service starts: one pass at start, then none for a minute, so
    # the row is looked at between passes.
    settings = make_settings(database_url, telegram_api_url=fake.base_url, redis_url=UNREACHABLE,
                             dispatch_interval_seconds=60)
    running = await Running(fake, settings, clock).start()
    try:
        async def tried() -> bool:
            return "dispatch pass failed" in caplog.text

        await eventually(tried)
        async with running.core.db.read() as session:
            rows = list(await session.scalars(
                select(OutboxItem).where(OutboxItem.kind == "assigned")))  # not the nudges
        assert [(r.status, r.attempts) for r in rows] == [("pending", 0)]
        assert people.official.received() == []
    finally:
        await running.stop()

    running = await Running(fake, make_settings(
        database_url, telegram_api_url=fake.base_url, redis_url=REDIS_URL), clock).start()
    try:
        assert "高企认定" in str((await people.official.wait_for_message()).get("text"))
    finally:
        await running.stop()
