"""Periodic jobs, run by APScheduler 3 in memory: nothing is pickled, and each job finds its work
in the database, so a late, skipped or doubled run (or one in every running copy) is harmless.

A job is a plain async function of the core; `JOBS` lists them with their triggers."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy import func, select, update

from core import notices
from core.app import Core
from core.enums import Role
from storage.models import OutboxItem

log = logging.getLogger(__name__)

JobFunction = Callable[[Core], Awaitable[None]]


@dataclass(frozen=True)
class PeriodicJob:
    name: str
    run: JobFunction
    trigger: Callable[[Core], BaseTrigger]
    run_at_start: bool = False  # also once at start-up, e.g. to catch up after downtime


async def mark_missed(core: Core) -> None:
    """Messages whose time passed longer ago than the catch-up grace (the service was down) are
    not sent late any more: they are marked missed, and the admins are told how many."""
    now = core.clock.now()
    cutoff = now - timedelta(hours=core.settings.catch_up_grace_hours)
    async with core.db.write() as session:
        stale = (OutboxItem.status == "pending") & (OutboxItem.send_at < cutoff)
        count = await session.scalar(select(func.count()).select_from(OutboxItem).where(stale))
        if not count:
            return
        await session.execute(update(OutboxItem).where(stale).values(status="missed"))
        for admin_id in await notices.ids_with_role(session, Role.ADMIN):
            await notices.notify(core, session, admin_id, "missed", None, now, count=count)
    log.warning("%d outbox messages were older than the catch-up grace and marked missed", count)
    core.outbox_signal.wake()


async def announce_openings(core: Core) -> None:
    """Tell admins and subscribers about guideline windows that have just opened."""
    count = await core.guidelines.announce_openings()
    if count:
        log.info("%d guideline opening notices enqueued", count)


JOBS: list[PeriodicJob] = [
    PeriodicJob("mark_missed", mark_missed, lambda core: IntervalTrigger(minutes=10),
                run_at_start=True),
    PeriodicJob("announce_openings", announce_openings,
                lambda core: IntervalTrigger(minutes=5), run_at_start=True),
]


def build_scheduler(core: Core, jobs: list[PeriodicJob] | None = None) -> AsyncIOScheduler:
    scheduler = AsyncIOScheduler(timezone=core.settings.tz)
    for job in jobs if jobs is not None else JOBS:
        first = {"next_run_time": core.clock.now()} if job.run_at_start else {}
        scheduler.add_job(
            _guarded(job), job.trigger(core), args=[core], id=job.name, name=job.name,
            coalesce=True, max_instances=1, misfire_grace_time=300, **first,
        )
    return scheduler


def _guarded(job: PeriodicJob) -> JobFunction:
    async def run(core: Core) -> None:
        try:
            await job.run(core)
        except Exception:
            log.exception("periodic job %s failed; it runs again at its next time", job.name)

    return run
