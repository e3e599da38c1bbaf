"""Processing the inbox: updates stored by the HTTP endpoints are claimed with a lease (like
the outbox), handed to their channel's handler, and deleted once handled. A chat's updates are
claimed together, never while another worker (or copy) holds some of them, and handled in order;
different chats at the same time. A handler that fails is retried with backoff; a crash leaves
the lease to run out, and the update is handled again."""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Awaitable, Callable, Mapping
from datetime import timedelta
from typing import Any

from sqlalchemy import and_, delete, or_, update

from core.app import Core
from scheduler.leases import claim_groups, keep_working, release
from storage.models import InboxItem

log = logging.getLogger(__name__)

Handler = Callable[[dict[str, Any]], Awaitable[None]]
MAX_ATTEMPTS = 5


class InboxWorker:
    def __init__(
        self,
        core: Core,
        handlers: Mapping[str, Handler],
        *,
        worker: str,
        batch: int = 50,
        lease: timedelta = timedelta(minutes=5),
    ) -> None:
        self.core = core
        self.handlers = dict(handlers)
        self.worker = worker
        self.batch = batch
        self.lease = lease

    async def run(self) -> None:
        """Handle whatever is due, then sleep until woken or the next scan; until cancelled."""
        await keep_working(self.process_due, self.core.inbox_signal,
                           self.core.settings.dispatch_interval_seconds, "inbox")

    async def process_due(self) -> bool:
        """One pass: claim due updates and handle them. True if anything was claimed."""
        claimed = await self._claim()
        if not claimed:
            return False
        by_chat: dict[tuple[str, str], list[InboxItem]] = defaultdict(list)
        for item in claimed:
            by_chat[(item.channel, item.chat_key)].append(item)
        try:
            await asyncio.gather(*(self._handle_chat(items) for items in by_chat.values()))
        finally:
            # Cancelled mid-way (the service stops): what was not handled goes back at once.
            await self._release([item.id for item in claimed])
        return True

    async def _claim(self) -> list[InboxItem]:
        now = self.core.clock.now()
        due = and_(
            InboxItem.channel.in_(list(self.handlers)),
            or_(and_(InboxItem.status == "pending", InboxItem.process_at <= now),
                and_(InboxItem.status == "processing", InboxItem.lease_until < now)),
        )
        rows = await claim_groups(
            self.core.db, InboxItem, due, InboxItem.chat_key, InboxItem.id, groups=self.batch,
            worker=self.worker, now=now, until=now + self.lease, busy="processing")
        return sorted(rows, key=lambda item: item.id)

    async def _handle_chat(self, items: list[InboxItem]) -> None:
        for item in items:
            try:
                await self.handlers[item.channel](item.payload)
            except Exception as error:
                log.exception("handling %s update %s failed", item.channel, item.id)
                await self._failed(item, error)
                continue
            async with self.core.db.write() as session:
                await session.execute(delete(InboxItem).where(InboxItem.id == item.id))

    async def _failed(self, item: InboxItem, error: Exception) -> None:
        now = self.core.clock.now()
        attempts = item.attempts + 1  # a claim is no attempt: a crash tried nothing
        values: dict[str, Any] = {"lease_owner": None, "lease_until": None, "attempts": attempts,
                                  "last_error": f"{type(error).__name__}: {error}"[:300]}
        if attempts >= MAX_ATTEMPTS:
            values["status"] = "failed"
        else:
            values.update(status="pending", process_at=now + timedelta(seconds=2 ** attempts))
        async with self.core.db.write() as session:
            await session.execute(update(InboxItem).where(InboxItem.id == item.id).values(values))

    async def _release(self, item_ids: list[int]) -> None:
        await release(self.core.db, InboxItem, item_ids, worker=self.worker, busy="processing")
