"""Rows worked through by one worker at a time (the outbox, the inbox): claimed atomically with
a lease, so a second copy never takes a row being worked on, a crashed worker's rows come free
when the lease runs out, and a stopped worker hands its unfinished rows back at once."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, select, update
from sqlalchemy.orm import InstrumentedAttribute

from core.outbox import OutboxSignal
from storage.db import Database
from storage.models import InboxItem, OutboxItem

log = logging.getLogger(__name__)

Row = TypeVar("Row", OutboxItem, InboxItem)


async def claim(
    db: Database, model: type[Row], due: ColumnElement[bool], order: InstrumentedAttribute[Any],
    *, batch: int, worker: str, until: datetime, busy: str,
) -> list[Row]:
    """Mark up to `batch` rows matching `due` as `busy` for `worker` until `until`; counts an
    attempt on each. PostgreSQL skips rows another copy is claiming at the same moment."""
    async with db.write() as session:
        candidates = select(model.id).where(due).order_by(order).limit(batch)
        if db.dialect == "postgresql":
            candidates = candidates.with_for_update(skip_locked=True)
        rows = await session.scalars(
            update(model)
            .where(model.id.in_(candidates.scalar_subquery()), due)
            .values(status=busy, lease_owner=worker, lease_until=until,
                    attempts=model.attempts + 1)
            .returning(model),
            execution_options={"synchronize_session": False},
        )
        return list(rows)


async def release(db: Database, model: type[Row], ids: list[int], *, worker: str,
                  busy: str, **later: datetime) -> None:
    """Hand back the rows of `ids` this worker still holds, uncounted; `later` postpones them
    (e.g. `send_at=...`)."""
    if not ids:
        return
    async with db.write() as session:
        await session.execute(
            update(model)
            .where(model.id.in_(ids), model.status == busy, model.lease_owner == worker)
            .values(status="pending", lease_owner=None, lease_until=None,
                    attempts=model.attempts - 1, **later)
        )


async def keep_working(
    one_pass: Callable[[], Awaitable[bool]], wake: OutboxSignal, interval: float, what: str
) -> None:
    """Run passes until cancelled; after a pass that found nothing, sleep until woken or for
    `interval` seconds. A failing pass is logged and tried again later."""
    while True:
        try:
            worked = await one_pass()
        except Exception:
            log.exception("%s pass failed; retrying after %ss", what, interval)
            worked = False
        if not worked:
            await wake.wait(interval)
