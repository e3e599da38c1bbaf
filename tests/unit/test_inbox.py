"""The inbox: an update stored once however often it is delivered, handled in order per chat,
retried with backoff when handling fails, kept as failed after the last attempt."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from sqlalchemy import func, select

from core.app import Core
from core.clock import FrozenClock
from core.inbox import SEEN_FOR, forget_seen, receive
from scheduler.inbox import MAX_ATTEMPTS, InboxWorker
from storage.models import InboundSeen, InboxItem


async def items(core: Core) -> list[InboxItem]:
    async with core.db.read() as session:
        return list(await session.scalars(select(InboxItem).order_by(InboxItem.id)))


async def test_a_redelivery_is_stored_once_and_forgotten_after_a_week(
    core: Core, clock: FrozenClock
) -> None:
    assert await receive(core, "wecom", "4561255354251345929", "liming", {"n": 1})
    assert not await receive(core, "wecom", "4561255354251345929", "liming", {"n": 1})
    assert await receive(core, "telegram", "4561255354251345929", "1005", {"n": 1})
    assert len(await items(core)) == 2
    clock.advance(SEEN_FOR + timedelta(minutes=1))
    await forget_seen(core)
    async with core.db.read() as session:
        assert await session.scalar(select(func.count()).select_from(InboundSeen)) == 0


async def test_one_chat_in_order_several_chats_at_once(core: Core) -> None:
    handled: list[int] = []
    other_chat_ran = asyncio.Event()

    async def handle(payload: dict[str, Any]) -> None:
        if payload["n"] == 1:  # waits for the other chat: only possible if both run at once
            await asyncio.wait_for(other_chat_ran.wait(), 5)
        if payload["n"] == 3:
            other_chat_ran.set()
        handled.append(payload["n"])

    for n, chat in ((1, "a"), (2, "a"), (3, "b")):
        await receive(core, "wecom", str(n), chat, {"n": n})
    assert await InboxWorker(core, {"wecom": handle}, worker="w").process_due()
    assert handled == [3, 1, 2]
    assert await items(core) == []


async def test_a_chat_is_worked_by_one_worker_at_a_time(core: Core) -> None:
    """Two workers (say two copies) claiming one chat at a time: the first takes all of chat a's
    updates, the second none of them while they are held, so a's updates keep their order."""
    for n, chat in ((1, "a"), (2, "b"), (3, "a")):
        await receive(core, "telegram", str(n), chat, {"n": n})
    first = InboxWorker(core, {"telegram": _ignore}, worker="first", batch=1)
    second = InboxWorker(core, {"telegram": _ignore}, worker="second", batch=1)
    assert [item.payload["n"] for item in await first._claim()] == [1, 3]
    assert [item.payload["n"] for item in await second._claim()] == [2]
    assert await second._claim() == []


async def _ignore(payload: dict[str, Any]) -> None:
    """A handler with nothing to do."""


async def test_a_failing_update_is_retried_with_backoff_then_kept_as_failed(
    core: Core, clock: FrozenClock
) -> None:
    calls = 0

    async def broken(payload: dict[str, Any]) -> None:
        nonlocal calls
        calls += 1
        raise RuntimeError("database is locked")

    worker = InboxWorker(core, {"wecom": broken}, worker="w")
    await receive(core, "wecom", "1", "liming", {"text": "任务"})
    for attempt in range(1, MAX_ATTEMPTS + 1):
        assert await worker.process_due()
        assert not await worker.process_due()  # not again before its backoff is over
        clock.advance(timedelta(seconds=2 ** attempt))
    (item,) = await items(core)
    assert (item.status, item.attempts, calls) == ("failed", MAX_ATTEMPTS, MAX_ATTEMPTS)
    assert item.last_error == "RuntimeError: database is locked"


async def test_a_crashed_worker_leaves_the_update_to_another_after_the_lease(
    core: Core, clock: FrozenClock
) -> None:
    handled: list[str] = []

    async def handle(payload: dict[str, Any]) -> None:
        handled.append(payload["text"])

    await receive(core, "telegram", "7", "1005", {"text": "/tasks"})
    crashed = InboxWorker(core, {"telegram": handle}, worker="crashed")
    assert len(await crashed._claim()) == 1  # claimed, then the process died
    survivor = InboxWorker(core, {"telegram": handle}, worker="survivor")
    assert not await survivor.process_due()
    clock.advance(survivor.lease + timedelta(seconds=1))
    assert await survivor.process_due()
    assert handled == ["/tasks"] and await items(core) == []
