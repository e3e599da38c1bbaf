"""With DUBAN_REDIS_URL, forms live in Redis: a half-filled /assign survives a restart."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from core.clock import FrozenClock
from tests.conftest import Staff, make_settings
from tests.e2e.conftest import People
from tests.e2e.harness import Running, ask, tap, text_of
from tests.fakes.telegram_api import FakeTelegram

REDIS_URL = "redis://127.0.0.1:6379/15"


@pytest.fixture
async def redis_duban(
    fake: FakeTelegram, database_url: str, clock: FrozenClock
) -> AsyncIterator[Running]:
    redis = Redis.from_url(REDIS_URL)
    await redis.flushdb()
    await redis.aclose()
    settings = make_settings(database_url, telegram_api_url=fake.base_url, redis_url=REDIS_URL)
    running = await Running(fake, settings, clock).start()
    yield running
    await running.stop()


async def test_a_form_in_redis_survives_a_restart(
    redis_duban: Running, staff: Staff, people: People
) -> None:
    step = await tap(people.admin, await ask(people.admin, "/assign"), "李明")
    assert "项目名称" in text_of(step)
    redis = Redis.from_url(REDIS_URL)
    try:
        assert await redis.keys("duban:*")
    finally:
        await redis.aclose()
    await redis_duban.restart()
    assert "申报单位" in text_of(await ask(people.admin, "科技小巨人培育"))
