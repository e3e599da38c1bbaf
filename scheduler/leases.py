"""Rows worked through by one worker at a time (the outbox, the inbox): claimed atomically with
a lease, so a second copy never takes a row being worked on, a crashed worker's rows come free
when the lease runs out, and a stopped worker hands its unfinished rows back at once."""

from __future__ import annotations

import asyncio
import logging
import zlib
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, exists, func, select, update
from sqlalchemy.orm import InstrumentedAttribute, aliased

from core.outbox import OutboxSignal
from storage.db import Database
from storage.models import InboxItem, OutboxItem

log = logging.getLogger(__name__)

Row = TypeVar("Row", OutboxItem, InboxItem)


async def claim_groups(
    db: Database, model: type[Row], due: ColumnElement[bool], group: InstrumentedAttribute[Any],
    order: InstrumentedAttribute[Any], *, groups: int, worker: str, now: datetime,
    until: datetime, busy: str,
) -> list[Row]:
    """Mark every row matching `due` of up to `groups` groups (e.g. all of one person's due
    messages), earliest first, as `busy` for `worker` until `until`. Claiming counts no attempt:
    a worker that dies holding a group has tried none of it; the caller counts its tries.

    A group some worker holds rows of (`busy`, lease not run out) is passed over, so one group is
    worked by one worker at a time and in order. Claims are taken one after the other (SQLite has
    a single writer; PostgreSQL takes a transaction-level advisory lock), so two copies claiming at
    the same moment never split a group: the second sees what the first took."""
    held = aliased(model)
    held_elsewhere = exists().where(getattr(held, group.key) == group, held.status == busy,
                                    held.lease_until >= now)
    claimable = due & ~held_elsewhere
    async with db.write() as session:
        if db.dialect == "postgresql":
            await session.execute(select(func.pg_advisory_xact_lock(_lock_key(model))))
        chosen = list(await session.scalars(
            select(group).where(claimable).group_by(group).order_by(func.min(order))
            .limit(groups)))
        if not chosen:
            return []
        rows = await session.scalars(
            update(model)
            .where(group.in_(chosen), claimable)
            .values(status=busy, lease_owner=worker, lease_until=until)
            .returning(model),
            execution_options={"synchronize_session": False},
        )
        return list(rows)


def _lock_key(model: type[Row]) -> int:
    """A stable advisory-lock number per table (PostgreSQL takes a signed 64-bit key)."""
    return zlib.crc32(f"duban:claim:{model.__tablename__}".encode())


async def renew(db: Database, model: type[Row], *, worker: str, busy: str,
                until: datetime) -> int:
    """Extend the lease on every row `worker` still holds; how many it holds."""
    async with db.write() as session:
        result = await session.execute(
            update(model).where(model.status == busy, model.lease_owner == worker)
            .values(lease_until=until))
        return int(getattr(result, "rowcount", 0) or 0)


async def release(db: Database, model: type[Row], ids: list[int], *, worker: str,
                  busy: str, **later: datetime) -> None:
    """Hand back the rows of `ids` this worker still holds, untried (claims count no attempt);
    `later` postpones them (e.g. `send_at=...`)."""
    if not ids:
        return
    async with db.write() as session:
        await session.execute(
            update(model)
            .where(model.id.in_(ids), model.status == busy, model.lease_owner == worker)
            .values(status="pending", lease_owner=None, lease_until=None, **later)
        )


async def keep_working(
    one_pass: Callable[[], Awaitable[bool]], wake: OutboxSignal, interval: float, what: str,
    stopping: asyncio.Event | None = None,
) -> None:
    """Run passes until cancelled or `stopping` is set (wake the signal too, so a sleeping loop
    notices at once); after a pass that found nothing, sleep until woken or for `interval`
    seconds. A failing pass is logged and tried again later."""
    while stopping is None or not stopping.is_set():
        try:
            worked = await one_pass()
        except Exception:
            log.exception("%s pass failed; retrying after %ss", what, interval)
            worked = False
        if not worked and (stopping is None or not stopping.is_set()):
            await wake.wait(interval)
