"""Putting messages in the outbox. A row is stored before anything is sent; the scheduler's
dispatcher claims and sends it. `dedupe_key` makes enqueueing the same message twice harmless."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import OutboxItem
from storage.queries import insert_ignore


async def enqueue(
    session: AsyncSession,
    *,
    person_id: int,
    kind: str,
    dedupe_key: str,
    send_at: datetime,
    due_at: datetime | None = None,
    task_id: int | None = None,
    guideline_id: int | None = None,
    payload: dict[str, Any] | None = None,
) -> bool:
    row = {
        "person_id": person_id, "kind": kind, "dedupe_key": dedupe_key, "send_at": send_at,
        "due_at": due_at or send_at, "task_id": task_id, "guideline_id": guideline_id,
        "payload": payload or {}, "status": "pending", "attempts": 0, "created_at": send_at,
    }
    return await insert_ignore(session, OutboxItem, [row], ["dedupe_key"]) == 1


class OutboxSignal:
    """Wakes the dispatcher when something was enqueued for now, instead of waiting for its scan."""

    def __init__(self) -> None:
        self._event: asyncio.Event | None = None

    def _get(self) -> asyncio.Event:
        if self._event is None:
            self._event = asyncio.Event()
        return self._event

    def wake(self) -> None:
        self._get().set()

    async def wait(self, seconds: float) -> None:
        event = self._get()
        # Not asyncio.wait_for: on Python 3.11 it swallows a cancellation that arrives as the
        # event is set, and the waiting loop would then never stop.
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await event.wait()
        event.clear()
