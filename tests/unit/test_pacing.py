"""The sending limits shared through Redis (`RedisPacer`), against the real Redis server: two
pacers stand for two running copies. Each test has a key prefix of its own, so tests running
side by side never share limits. Slot times are read from Redis (the script keeps them there),
so nothing here depends on how fast the machine is."""

from __future__ import annotations

import asyncio
import itertools
import uuid
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from core.delivery import ChatLimits
from scheduler.pacing import Pacer, RedisPacer, pacer_for
from tests.conftest import make_settings

REDIS_URL = "redis://127.0.0.1:6379/13"
TELEGRAM = ChatLimits(per_chat_interval=1.0, group_per_minute=20)


class Refused(Exception):
    """Raised by a sleep that records instead of waiting."""


@pytest.fixture
async def redis() -> AsyncIterator[Redis]:
    client = Redis.from_url(REDIS_URL)
    yield client
    await client.aclose()


@pytest.fixture
async def prefix(redis: Redis) -> AsyncIterator[str]:
    prefix = f"test:pace:{uuid.uuid4().hex}"
    yield prefix
    keys = await redis.keys(f"{prefix}:*")
    if keys:
        await redis.delete(*keys)


@pytest.fixture
async def copies(prefix: str) -> AsyncIterator[list[RedisPacer]]:
    """Two copies' pacers, each with its own connections, at 20 messages a second."""
    pacers = [RedisPacer(Redis.from_url(REDIS_URL), 20, prefix=prefix) for _ in range(2)]
    yield pacers
    for pacer in pacers:
        await pacer.close()


async def slot(redis: Redis, key: str) -> float:
    """The time (ms, Redis's clock) the script stored under `key`."""
    value = await redis.get(key)
    assert value is not None, key
    return float(value)


async def test_two_copies_keep_one_chat_a_second_apart(
    copies: list[RedisPacer], redis: Redis, prefix: str
) -> None:
    first, second = copies
    await first.acquire("telegram:1", TELEGRAM, group=False)
    earlier = await slot(redis, f"{prefix}:chat:telegram:1")
    await second.acquire("telegram:1", TELEGRAM, group=False)
    later = await slot(redis, f"{prefix}:chat:telegram:1")
    assert later - earlier >= 1000


async def test_another_chat_waits_only_for_the_overall_rate(
    copies: list[RedisPacer], prefix: str
) -> None:
    first, _ = copies
    waits: list[float] = []

    async def record(seconds: float) -> None:
        waits.append(seconds)
        await asyncio.sleep(seconds)

    other = RedisPacer(Redis.from_url(REDIS_URL), 20, prefix=prefix, sleep=record)
    try:
        await first.acquire("telegram:1", TELEGRAM, group=False)
        await other.acquire("telegram:2", TELEGRAM, group=False)
    finally:
        await other.close()
    assert max(waits, default=0) <= 0.05  # 20 a second: one interval at most, not a second


async def test_the_overall_rate_is_shared(
    copies: list[RedisPacer], redis: Redis, prefix: str
) -> None:
    slots = []
    for number in range(6):
        await copies[number % 2].acquire(f"telegram:{number}", TELEGRAM, group=False)
        slots.append(await slot(redis, f"{prefix}:global"))
    # 20 a second: each slot at least 50 ms after the one before, whichever copy took it
    # (the stored times keep a tenth of a millisecond).
    assert all(b - a >= 49.9 for a, b in itertools.pairwise(slots))


async def test_a_429_in_one_copy_pauses_every_copy(
    copies: list[RedisPacer], redis: Redis, prefix: str
) -> None:
    first, second = copies
    first.pause(0.3)
    await first.acquire("telegram:1", TELEGRAM, group=False)
    paused_until = await slot(redis, f"{prefix}:pause")
    await second.acquire("telegram:2", TELEGRAM, group=False)
    for chat in ("telegram:1", "telegram:2"):
        sent_at = await slot(redis, f"{prefix}:chat:{chat}") - 1000
        assert sent_at >= paused_until


async def test_a_group_gets_its_per_minute_cap_across_copies(
    copies: list[RedisPacer], prefix: str
) -> None:
    limits = ChatLimits(per_chat_interval=0.0, group_per_minute=2)
    first, second = copies
    await first.acquire("telegram:-100", limits, group=True)
    await second.acquire("telegram:-100", limits, group=True)
    waits: list[float] = []

    async def refuse(seconds: float) -> None:
        waits.append(seconds)
        raise Refused

    third = RedisPacer(Redis.from_url(REDIS_URL), 20, prefix=prefix, sleep=refuse)
    try:
        with pytest.raises(Refused):
            await third.acquire("telegram:-100", limits, group=True)
    finally:
        await third.close()
    assert waits[0] > 50  # the window's oldest send leaves it a minute after it went


async def test_the_settings_choose_the_pacer(database_url: str) -> None:
    assert isinstance(pacer_for(make_settings(database_url)), Pacer)
    shared = pacer_for(make_settings(database_url, redis_url=REDIS_URL))
    assert isinstance(shared, RedisPacer)
    await shared.close()
