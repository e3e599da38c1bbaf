"""Fixtures for flows over the wire: the fake Bot API server (and the fake WeCom) and Duban
running against it."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from core.clock import FrozenClock
from tests.conftest import make_settings
from tests.e2e.harness import Running
from tests.fakes.telegram_api import FakeTelegram, FakeUser
from tests.fakes.telegram_limits import RateLimits
from tests.fakes.wecom_api import FakeWecom, fake_wecom


@pytest.fixture
async def fake() -> AsyncIterator[FakeTelegram]:
    async with FakeTelegram() as server:
        # Telegram tolerates a short burst to one chat (a reply right after a notice); the
        # sender's own pacing is tested with the strict limits elsewhere.
        server.limits = RateLimits(private_burst=3)
        yield server


@pytest.fixture
async def wecom() -> AsyncIterator[FakeWecom]:
    async with fake_wecom() as server:
        yield server


@pytest.fixture
async def duban(
    fake: FakeTelegram, database_url: str, clock: FrozenClock
) -> AsyncIterator[Running]:
    settings = make_settings(database_url, telegram_api_url=fake.base_url)
    running = await Running(fake, settings, clock).start()
    yield running
    await running.stop()


class People:
    """The staff of `tests.conftest.Staff` as chat users of the fake server."""

    def __init__(self, fake: FakeTelegram) -> None:
        self.admin = fake.user(1001, "王主任", username="wang", started=True)
        self.director = fake.user(1002, "赵局长", started=True)
        self.leader = fake.user(1003, "张副局长", username="zhang", started=True)
        self.leader2 = fake.user(1004, "钱副局长", started=True)
        self.official = fake.user(1005, "李明", username="liming", started=True)
        self.official2 = fake.user(1006, "孙丽", started=True)


@pytest.fixture
def people(fake: FakeTelegram) -> People:
    return People(fake)


def users(people: People) -> list[FakeUser]:
    return [people.admin, people.director, people.leader, people.leader2, people.official,
            people.official2]
