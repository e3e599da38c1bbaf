"""Sending the outbox. Due rows are claimed with a lease (so a second copy or a restarted one
never takes the same row while it is being sent), rendered per person, paced under the channel's
limits, sent one at a time, and marked with the outcome right after each send: a crash can at
worst repeat the one message that was in flight."""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from core import notices
from core.app import Core
from core.delivery import ChannelSender, SendOutcome, SendResult
from core.dto import PersonView
from core.enums import Channel
from core.people import view_of
from scheduler.leases import claim, keep_working, release
from scheduler.pacing import pacer_for
from storage.models import DeliveryAttempt, OutboxItem, Person, SentMessage
from storage.queries import insert_ignore

log = logging.getLogger(__name__)

UNREACHABLE_COLUMNS = {Channel.TELEGRAM: "telegram_unreachable_at",
                       Channel.WECOM: "wecom_unreachable_at"}
MAX_ATTEMPTS = 10
MAX_BACKOFF = 300.0


@dataclass(frozen=True)
class Route:
    sender: ChannelSender
    address: str


class OutboxDispatcher:
    def __init__(
        self,
        core: Core,
        senders: Sequence[ChannelSender],
        *,
        worker: str,
        batch: int = 50,
        lease: timedelta = timedelta(minutes=5),
        recipients: Callable[[], Collection[int]] | None = None,
    ) -> None:
        """`recipients`, when given, limits sending to those people (the console sends only to
        the person it acts as, and leaves everyone else's messages for the real channels)."""
        self.core = core
        self.senders = {s.channel: s for s in senders}
        self.recipients = recipients
        self.worker = worker
        self.batch = batch
        self.lease = lease
        self.pacer = pacer_for(core.settings)
        self.last_dispatch: datetime | None = None

    async def run(self) -> None:
        """Send whatever is due, then sleep until woken or the next scan; until cancelled."""
        await keep_working(self.dispatch_due, self.core.outbox_signal,
                           self.core.settings.dispatch_interval_seconds, "dispatch")

    async def dispatch_due(self) -> bool:
        """One pass: claim a batch of due rows and deliver them. True if anything was claimed."""
        self.last_dispatch = self.core.clock.now()
        claimed = await self._claim()
        if not claimed:
            return False
        by_person: dict[int, list[OutboxItem]] = defaultdict(list)
        for item in claimed:
            by_person[item.person_id].append(item)
        try:
            await self._deliver_all(by_person)
        finally:
            # Whatever this pass did not get to goes back, so no lease has to run out for it.
            await self._release([i.id for items in by_person.values() for i in items])
        return True

    # ---- claiming --------------------------------------------------------------------------

    async def _claim(self) -> list[OutboxItem]:
        now = self.core.clock.now()
        # Older than the catch-up grace: left for the `mark_missed` job, never sent this late.
        oldest = now - timedelta(hours=self.core.settings.catch_up_grace_hours)
        due = or_(
            and_(OutboxItem.status == "pending", OutboxItem.send_at <= now,
                 OutboxItem.send_at >= oldest),
            and_(OutboxItem.status == "sending", OutboxItem.lease_until < now),
        )
        if self.recipients is not None:
            due = and_(due, OutboxItem.person_id.in_(list(self.recipients())))
        rows = await claim(self.core.db, OutboxItem, due, OutboxItem.send_at,
                           batch=self.batch, worker=self.worker, until=now + self.lease,
                           busy="sending")
        return sorted(rows, key=lambda item: (item.send_at, item.id))

    async def _release(self, item_ids: list[int], send_at: datetime | None = None) -> None:
        """Back to pending, untried; `send_at` postpones them (they were all due already)."""
        later = {"send_at": send_at} if send_at is not None else {}
        await release(self.core.db, OutboxItem, item_ids, worker=self.worker, busy="sending",
                      **later)

    # ---- delivering ------------------------------------------------------------------------

    async def _deliver_all(self, by_person: dict[int, list[OutboxItem]]) -> None:
        plans = []
        for person_id, items in by_person.items():
            person, route = await self._route(person_id)
            if route is None:
                await self._finish(items, "failed", error="no reachable channel")
                by_person[person_id] = []
                continue
            rendered = await notices.render(self.core, person, items)
            plans.append((person_id, route, rendered))
        # Round-robin over people, so one person's third message never holds up another's first.
        rounds = max((len(r) for _, _, r in plans), default=0)
        held: set[int] = set()
        for index in range(rounds):
            for person_id, route, rendered in plans:
                if index >= len(rendered) or person_id in held:
                    continue
                retry_at = await self._deliver(route, rendered[index])
                done = set(rendered[index].item_ids)
                by_person[person_id] = [i for i in by_person[person_id] if i.id not in done]
                if retry_at is not None:
                    # The person's later messages wait behind the postponed one, so that the
                    # parts of a summary (text, then chart) never arrive out of order.
                    held.add(person_id)
                    await self._release([i.id for i in by_person[person_id]], retry_at)
                    by_person[person_id] = []

    async def _deliver(self, route: Route, message: notices.Rendered) -> datetime | None:
        """Send one message; returns when it will be retried if it was postponed."""
        items = list(message.item_ids)
        if not message.reply.text:
            await self._finish_ids(items, "skipped")
            return None
        sender = route.sender
        group = route.address.startswith("-")
        await self.pacer.acquire(f"{sender.channel}:{route.address}", sender.limits, group)
        try:
            result = await sender.send(route.address, message.reply)
        except Exception as error:  # a bug or an unforeseen error must not stop the dispatcher
            log.exception("sending outbox items %s failed", items)
            result = SendResult(SendOutcome.TEMPORARY, error=type(error).__name__)
        return await self._record(route, message, result)

    async def _record(
        self, route: Route, message: notices.Rendered, result: SendResult
    ) -> datetime | None:
        now = self.core.clock.now()
        ids = list(message.item_ids)
        async with self.core.db.write() as session:
            session.add_all(
                DeliveryAttempt(outbox_id=i, channel=route.sender.channel, worker=self.worker,
                                started_at=now, outcome=result.outcome, error=result.error,
                                retry_after=result.retry_after, message_ref=result.message_ref)
                for i in ids
            )
            if result.outcome == SendOutcome.SENT:
                await self._mark(session, ids, status="sent", sent_at=now,
                                 channel=route.sender.channel)
                if message.reply.task_id and result.message_ref:
                    await insert_ignore(session, SentMessage, [{
                        "channel": route.sender.channel, "chat_ref": route.address,
                        "message_ref": result.message_ref, "task_id": message.reply.task_id,
                        "created_at": now}], ["channel", "chat_ref", "message_ref"])
            elif result.outcome == SendOutcome.RATE_LIMITED:
                wait = result.retry_after or 1.0
                self.pacer.pause(wait)
                return await self._retry_later(session, ids, now + timedelta(seconds=wait),
                                               result, True)
            elif result.outcome == SendOutcome.TEMPORARY:
                return await self._retry_later(session, ids, None, result, False)
            elif result.outcome == SendOutcome.UNREACHABLE:
                await self._unreachable(session, ids, route, now, result)
            else:
                await self._mark(session, ids, status="failed", last_error=result.error)
        return None

    async def _retry_later(
        self, session: AsyncSession, ids: list[int], at: datetime | None, result: SendResult,
        free: bool,
    ) -> datetime | None:
        """Back to pending. Rate limits do not count as attempts; other errors back off
        exponentially and give up after MAX_ATTEMPTS. Returns when they will be retried."""
        now = self.core.clock.now()
        rows = list(await session.scalars(select(OutboxItem).where(OutboxItem.id.in_(ids))))
        for item in rows:
            if free:
                item.attempts -= 1
            if item.attempts >= MAX_ATTEMPTS:
                item.status, item.last_error = "failed", result.error
                continue
            backoff = min(MAX_BACKOFF, 2.0 ** item.attempts)
            item.send_at = at or now + timedelta(seconds=backoff)
            item.status, item.lease_owner, item.lease_until = "pending", None, None
            item.last_error = result.error
        return max((item.send_at for item in rows if item.status == "pending"), default=None)

    async def _unreachable(
        self, session: AsyncSession, ids: list[int], route: Route, now: datetime,
        result: SendResult,
    ) -> None:
        """Mark the person unreachable on this channel and tell the admins; the rows go out on
        another channel of theirs if there is one, else they fail."""
        person_id = await session.scalar(
            select(OutboxItem.person_id).where(OutboxItem.id == ids[0]))
        person = await session.get(Person, person_id)
        assert person is not None
        channel = route.sender.channel
        setattr(person, UNREACHABLE_COLUMNS[channel], now)
        if self._pick(person, await view_of(session, person)) is not None:
            await self._mark(session, ids, status="pending", send_at=now, last_error=result.error)
        else:
            await self._mark(session, ids, status="failed", last_error=result.error)
        await notices.person_unreachable(self.core, session, person, channel, now)

    async def _route(self, person_id: int) -> tuple[PersonView, Route | None]:
        async with self.core.db.read() as session:
            person = await session.get(Person, person_id)
            assert person is not None
            view = await view_of(session, person)
        return view, self._pick(person, view)

    def _pick(self, person: Person, view: PersonView) -> Route | None:
        """The person's preferred channel if it reaches them, else any other that does."""
        order = [Channel(view.preferred_channel)] if view.preferred_channel else []
        order += [c for c in self.senders if c not in order]
        for channel in order:
            sender = self.senders.get(channel)
            column = UNREACHABLE_COLUMNS.get(channel)
            if sender is None or (column and getattr(person, column) is not None):
                continue
            address = sender.address_of(view)
            if address:
                return Route(sender, address)
        return None

    async def _finish(self, items: list[OutboxItem], status: str, error: str | None = None) -> None:
        await self._finish_ids([i.id for i in items], status, error)

    async def _finish_ids(self, ids: list[int], status: str, error: str | None = None) -> None:
        async with self.core.db.write() as session:
            await self._mark(session, ids, status=status, last_error=error)

    @staticmethod
    async def _mark(session: AsyncSession, ids: list[int], **values: object) -> None:
        await session.execute(
            update(OutboxItem).where(OutboxItem.id.in_(ids))
            .values(lease_owner=None, lease_until=None, **values)
        )
