"""Sending the outbox. Due rows are claimed with a lease, a person at a time: all of one person's
due rows together, and never a person whose rows another sender holds, so their messages keep
their order and their chat's limit across copies. The lease is renewed while the rows are worked,
so a slow batch is never taken by a second copy; a crash leaves it to run out. Messages go out
paced under the channel's limits, several people at once (one slow or failing chat holds up
nobody else), and each is marked with its outcome right after it is sent: a crash can at worst
repeat the messages in flight. Stopping lets those finish and be recorded, and hands the rest
back at once."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from collections import defaultdict
from collections.abc import Awaitable, Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TypeVar

from sqlalchemy import and_, or_, select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession

from core import notices
from core.app import Core
from core.calendar import after_quiet_hours
from core.delivery import ChannelSender, SendOutcome, SendResult
from core.dto import PersonView
from core.enums import Channel
from core.people import view_of
from scheduler.leases import claim_groups, keep_working, release, renew
from scheduler.pacing import pacer_for
from storage.models import DeliveryAttempt, OutboxItem, Person, SentMessage
from storage.queries import insert_ignore

log = logging.getLogger(__name__)

UNREACHABLE_COLUMNS = {Channel.TELEGRAM: "telegram_unreachable_at",
                       Channel.WECOM: "wecom_unreachable_at"}
MAX_ATTEMPTS = 10
MAX_BACKOFF = 300.0
# While sending, due rows are looked for again this often (seconds), so that people whose
# messages fall due meanwhile join in without waiting for the pass to end.
CLAIM_EVERY = 1.0
# People claimed at a time, in seconds of sending at the full rate: enough ready chats that the
# per-chat interval never idles the sender, few enough that a crash strands little.
CLAIM_SECONDS = 4.0
# ...and at most this many: one claim's rows are read in one go, which at a high rate (a local
# Bot API server) would otherwise hold the event loop for a noticeable time.
MAX_CLAIM = 100
T = TypeVar("T")


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
        batch: int | None = None,
        lease: timedelta | None = None,
        recipients: Callable[[], Collection[int]] | None = None,
    ) -> None:
        """`batch` is how many people are worked on at most at a time. `recipients`, when
        given, limits sending to those people (the console sends only to the person it acts
        as, and leaves everyone else's messages for the real channels)."""
        settings = core.settings
        self.core = core
        self.senders = {s.channel: s for s in senders}
        self.recipients = recipients
        self.worker = worker
        self.batch = batch or max(10, min(MAX_CLAIM, round(settings.send_rate * CLAIM_SECONDS)))
        self.lease = lease or timedelta(seconds=settings.send_lease_seconds)
        self.pacer = pacer_for(settings)
        self.last_dispatch: datetime | None = None
        self._stopping = asyncio.Event()
        self._pacing = asyncio.Lock()

    async def run(self) -> None:
        """Send whatever is due, then sleep until woken or the next scan; until cancelled or
        stopped."""
        await keep_working(self.dispatch_due, self.core.outbox_signal,
                           self.core.settings.dispatch_interval_seconds, "dispatch",
                           self._stopping)

    def stop(self) -> None:
        """Stop after the messages in flight: they are sent and recorded, the people not got
        to yet are handed back at once. `run()` returns when that is done."""
        self._stopping.set()
        self.core.outbox_signal.wake()

    async def dispatch_due(self) -> bool:
        """Deliver to the people with due rows until none is left (or the dispatcher stops),
        claiming more as others are done. True if anything was claimed."""
        self.last_dispatch = self.core.clock.now()
        working: dict[asyncio.Task[None], int] = {}  # person each task delivers to
        claimed_any = False
        failure: BaseException | None = None
        renewing: asyncio.Task[None] | None = None
        try:
            while not self._stopping.is_set():
                # After a failure (the pacer's Redis gone, say) no more is claimed: the pass
                # ends with it and is tried again after the interval, not in a tight loop.
                if failure is None and len(working) <= self.batch * 3 // 4:
                    people = await self._claim_more(working)
                    for items in people:
                        working[asyncio.create_task(self._deliver_to(items))] = items[0].person_id
                    claimed_any = claimed_any or bool(people)
                if not working:
                    break
                if renewing is None:
                    renewing = asyncio.create_task(self._renew_leases())
                done, _ = await asyncio.wait(working, timeout=CLAIM_EVERY,
                                             return_when=asyncio.FIRST_COMPLETED)
                self.last_dispatch = self.core.clock.now()
                for task in done:
                    del working[task]
                    failure = failure or task.exception()
            if working:  # stopping: each finishes the message it has in flight
                await asyncio.wait(working)
        finally:
            for task in working:
                task.cancel()
            await asyncio.gather(*working, return_exceptions=True)
            if renewing is not None:
                renewing.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await renewing
        if failure is not None:
            raise failure
        return claimed_any

    # ---- claiming --------------------------------------------------------------------------

    async def _claim_more(self, working: dict[asyncio.Task[None], int]) -> list[list[OutboxItem]]:
        """More people to deliver to. If the database fails now, the sends under way go on
        (stopping them mid-way could leave a sent message unrecorded)."""
        try:
            return await self._claim(self.batch - len(working), set(working.values()))
        except SQLAlchemyError:
            if not working:
                raise
            log.warning("claiming outbox rows failed; trying again", exc_info=True)
            return []

    async def _claim(self, people: int, working: Collection[int] = ()) -> list[list[OutboxItem]]:
        """All due rows of up to `people` people, each person's in the order to send them;
        never of the people this dispatcher is `working` on (even if their lease has run out,
        because renewing it was late, they are still being sent)."""
        settings, now = self.core.settings, self.core.clock.now()
        # Older than the catch-up grace: left for the `mark_missed` job, never sent this late.
        oldest = now - timedelta(hours=settings.catch_up_grace_hours)
        waiting = and_(OutboxItem.status == "pending", OutboxItem.send_at <= now,
                       OutboxItem.send_at >= oldest)
        quiet_end = after_quiet_hours(now, settings.tz, settings.quiet_hours)
        if quiet_end > now:
            # Rows are planned outside quiet hours, but a catch-up after downtime or a retry
            # may find them due inside: they wait for the morning (and their grace counts
            # from then).
            async with self.core.db.write() as session:
                await session.execute(update(OutboxItem).where(waiting)
                                      .values(send_at=quiet_end))
            return []
        due = or_(waiting, and_(OutboxItem.status == "sending", OutboxItem.lease_until < now))
        if self.recipients is not None:
            due = and_(due, OutboxItem.person_id.in_(list(self.recipients())))
        if working:
            due = and_(due, OutboxItem.person_id.not_in(list(working)))
        rows = await claim_groups(self.core.db, OutboxItem, due, OutboxItem.person_id,
                                  OutboxItem.send_at, groups=people, worker=self.worker,
                                  now=now, until=now + self.lease, busy="sending")
        by_person: dict[int, list[OutboxItem]] = defaultdict(list)
        for item in sorted(rows, key=lambda item: (item.send_at, item.id)):
            by_person[item.person_id].append(item)
        return list(by_person.values())

    async def _renew_leases(self) -> None:
        """Keep the lease on whatever this worker holds while it works, however long a batch
        takes (a 429 pause, slow answers)."""
        while True:
            await asyncio.sleep(self.lease.total_seconds() / 3)
            try:
                await renew(self.core.db, OutboxItem, worker=self.worker, busy="sending",
                            until=self.core.clock.now() + self.lease)
            except SQLAlchemyError:
                log.warning("renewing the outbox lease failed; trying again", exc_info=True)

    async def _release(self, item_ids: Collection[int], send_at: datetime | None = None) -> None:
        """Back to pending, untried; `send_at` postpones them (they were all due already)."""
        later = {"send_at": send_at} if send_at is not None else {}
        await release(self.core.db, OutboxItem, list(item_ids), worker=self.worker,
                      busy="sending", **later)

    # ---- delivering ------------------------------------------------------------------------

    async def _deliver_to(self, items: list[OutboxItem]) -> None:
        """One person's due messages, in order. A postponed message holds back the ones after
        it, so that the parts of a summary (text, then chart) never arrive out of order."""
        unsent = {item.id for item in items}
        answered = -math.inf
        try:
            person, route = await self._route(items[0].person_id)
            if route is None:
                await self._finish_ids(list(unsent), "failed", error="no reachable channel")
                unsent.clear()
                return
            for message in await notices.render(self.core, person, items):
                if self._stopping.is_set():
                    return
                if not message.reply.text:
                    await self._finish_ids(list(message.item_ids), "skipped")
                    unsent -= set(message.item_ids)
                    continue
                if not await self._paced(route, answered):
                    return
                # Out of our hands once sent: if even its outcome cannot be stored, the rows
                # stay leased and are retried when the lease runs out, never handed back now.
                unsent -= set(message.item_ids)
                later = await self._deliver(route, message)
                answered = asyncio.get_running_loop().time()
                if later is not None:
                    await self._release(unsent, later)
                    unsent.clear()
                    return
        finally:
            # Whatever was not got to goes back, so no lease has to run out for it.
            await self._release(unsent)

    async def _paced(self, route: Route, answered: float) -> bool:
        """Wait for the channel's limits to allow a message to this chat, and for its interval
        to have passed since the previous message to it was `answered` (event-loop time): from
        the answer, not the request, so that a request held up on its way can never bring two
        messages closer together at the channel than it allows. False if the dispatcher stops
        meanwhile."""
        sender = route.sender

        async def ready() -> None:
            next_one = answered + sender.limits.per_chat_interval
            await asyncio.sleep(max(0.0, next_one - asyncio.get_running_loop().time()))
            chat, group = f"{sender.channel}:{route.address}", route.address.startswith("-")
            if group:  # may wait for its per-minute window: not in the queue of the others
                await self.pacer.acquire(chat, sender.limits, group)
                return
            # One at a time, in turn: by now a private chat is ready itself, so only the
            # overall rate is waited for, and a queue keeps that wait fair and cheap (no herd
            # of waiters waking for every slot, each waking a little late).
            async with self._pacing:
                await self.pacer.acquire(chat, sender.limits, group)

        acquiring = asyncio.ensure_future(ready())
        stopping = asyncio.ensure_future(self._stopping.wait())
        try:
            await asyncio.wait({acquiring, stopping}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiting in (acquiring, stopping):
                waiting.cancel()
            await asyncio.gather(acquiring, stopping, return_exceptions=True)
        if acquiring.cancelled() or self._stopping.is_set():
            return False
        acquiring.result()  # the pacer's own failure, if it failed
        return True

    async def _deliver(self, route: Route, message: notices.Rendered) -> datetime | None:
        """Send one message and record how it went; returns when the person's next messages
        may go if not straight away (a retry, or a new route after a block)."""
        try:
            result = await route.sender.send(route.address, message.reply)
        except Exception as error:  # a bug or an unforeseen error must not stop the dispatcher
            log.exception("sending outbox items %s failed", list(message.item_ids))
            result = SendResult(SendOutcome.TEMPORARY, error=type(error).__name__)
        if result.outcome == SendOutcome.RATE_LIMITED:
            self.pacer.pause(result.retry_after or 1.0)
        return await self._stubbornly(lambda: self._record(route, message, result))

    async def _stubbornly(self, write: Callable[[], Awaitable[T]]) -> T:
        """A write that must not be lost: the message went out (or failed) already, and if its
        outcome were not stored it would be sent again. Retried while the database is briefly
        away, for as long as the lease protects the rows."""
        delay, deadline = 0.1, asyncio.get_running_loop().time() + self.lease.total_seconds()
        while True:
            try:
                return await write()
            except (SQLAlchemyError, OSError):
                if asyncio.get_running_loop().time() + delay > deadline:
                    raise
                log.warning("storing a send's outcome failed; retrying in %.1fs", delay,
                            exc_info=True)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 2.0)

    async def _record(
        self, route: Route, message: notices.Rendered, result: SendResult
    ) -> datetime | None:
        now = self.core.clock.now()
        ids = list(message.item_ids)
        async with self.core.db.write() as session:
            if result.outcome != SendOutcome.RATE_LIMITED:  # a rate limit is no failed try
                await session.execute(update(OutboxItem).where(OutboxItem.id.in_(ids))
                                      .values(attempts=OutboxItem.attempts + 1))
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
                wait = timedelta(seconds=result.retry_after or 1.0)
                return await self._retry_later(session, ids, now + wait, result)
            elif result.outcome == SendOutcome.TEMPORARY:
                return await self._retry_later(session, ids, None, result)
            elif result.outcome == SendOutcome.UNREACHABLE:
                await self._unreachable(session, ids, route, now, result)
                return now  # the person's other messages find their route again
            else:
                await self._mark(session, ids, status="failed", last_error=result.error)
        return None

    async def _retry_later(
        self, session: AsyncSession, ids: list[int], at: datetime | None, result: SendResult
    ) -> datetime | None:
        """Back to pending. Rate limits do not count as attempts; other errors back off
        exponentially and give up after MAX_ATTEMPTS; a retry never falls in quiet hours.
        Returns when they will be retried."""
        settings, now = self.core.settings, self.core.clock.now()
        rows = list(await session.scalars(select(OutboxItem).where(OutboxItem.id.in_(ids))))
        for item in rows:
            if item.attempts >= MAX_ATTEMPTS:
                item.status, item.last_error = "failed", result.error
                continue
            backoff = timedelta(seconds=min(MAX_BACKOFF, 2.0 ** item.attempts))
            item.send_at = after_quiet_hours(at or now + backoff, settings.tz,
                                             settings.quiet_hours)
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

    async def _finish_ids(self, ids: list[int], status: str, error: str | None = None) -> None:
        async with self.core.db.write() as session:
            await self._mark(session, ids, status=status, last_error=error)

    @staticmethod
    async def _mark(session: AsyncSession, ids: list[int], **values: object) -> None:
        await session.execute(
            update(OutboxItem).where(OutboxItem.id.in_(ids))
            .values(lease_owner=None, lease_until=None, **values)
        )
