"""Periodic jobs, run by APScheduler 3 in memory: nothing is pickled, and each job finds its work
in the database, so a late, skipped or doubled run (or one in every running copy) is harmless.

A job is a plain async function of the core; `JOBS` lists them with their triggers."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy import update

from config.settings import Settings
from core import notices, reminders
from core.app import Core
from core.enums import Role
from core.inbox import forget_seen
from core.summary.messages import enqueue_run
from scheduler.robots import push_summary
from storage.models import OutboxItem

log = logging.getLogger(__name__)
MISFIRE_GRACE = timedelta(minutes=5)
JOB_TASK = "duban-job:"  # the name of a running periodic job's task starts with this

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
        # Counted from the rows this run changed, not counted before: another copy running the
        # job at the same moment changes none of the same rows and so tells no one again.
        marked = await session.scalars(
            update(OutboxItem).where(stale).values(status="missed").returning(OutboxItem.id),
            execution_options={"synchronize_session": False})
        count = len(marked.all())
        if not count:
            return
        for admin_id in await notices.ids_with_role(session, Role.ADMIN):
            await notices.notify(core, session, admin_id, "missed", None, now, count=count)
    log.warning("%d outbox messages were older than the catch-up grace and marked missed", count)
    core.outbox_signal.wake()


async def announce_openings(core: Core) -> None:
    """Tell admins and subscribers about guideline windows that have just opened."""
    count = await core.guidelines.announce_openings()
    if count:
        log.info("%d guideline opening notices enqueued", count)


async def follow_ups(core: Core) -> None:
    """The reminder checks of `core.reminders` (stale, overdue, escalation), one after the other
    so that they never queue for the database's write lock against each other."""
    for check, what in ((reminders.check_stale, "stale nudges"),
                        (reminders.check_overdue, "overdue notices"),
                        (reminders.check_escalations, "escalations")):
        count = await check(core)
        if count:
            log.info("%d %s stored", count, what)
            core.outbox_signal.wake()


def summary_trigger(settings: Settings) -> CronTrigger:
    return CronTrigger.from_crontab(settings.summary_cron, timezone=settings.tz)


def latest_run(settings: Settings, now: datetime) -> datetime | None:
    """The latest moment of `DUBAN_SUMMARY_CRON` at or before `now`, if it is recent enough to
    be sent still (the catch-up grace; at least the scheduler's misfire grace)."""
    trigger = summary_trigger(settings)
    grace = max(timedelta(hours=settings.catch_up_grace_hours), MISFIRE_GRACE)
    latest = None
    fire = trigger.get_next_fire_time(None, now - grace)
    while fire is not None and fire <= now:
        latest = fire
        fire = trigger.get_next_fire_time(fire, fire + timedelta(microseconds=1))
    return latest


async def weekly_summary(core: Core) -> None:
    """The summary of the cron's latest run to each leader and the director (once: the run is
    claimed with the outbox rows), and to the group robots (once per robot). Also run at start,
    so a run missed while the service was down goes out if it is within the grace."""
    run_at = latest_run(core.settings, core.clock.now())
    if run_at is None:
        return
    run_key = f"weekly:{run_at.isoformat()}"
    stored = await enqueue_run(core, run_key, run_at)
    if stored:
        log.info("weekly summary %s stored for %d people", run_key, stored)
    await push_summary(core, run_key)


JOBS: list[PeriodicJob] = [
    PeriodicJob("mark_missed", mark_missed, lambda core: IntervalTrigger(minutes=10),
                run_at_start=True),
    PeriodicJob("announce_openings", announce_openings,
                lambda core: IntervalTrigger(minutes=5), run_at_start=True),
    PeriodicJob("weekly_summary", weekly_summary, lambda core: summary_trigger(core.settings),
                run_at_start=True),
    PeriodicJob("forget_seen", forget_seen, lambda core: IntervalTrigger(hours=6)),
    PeriodicJob("follow_ups", follow_ups, lambda core: IntervalTrigger(minutes=15),
                run_at_start=True),
]


def build_scheduler(core: Core, jobs: list[PeriodicJob] | None = None) -> AsyncIOScheduler:
    scheduler = AsyncIOScheduler(timezone=core.settings.tz)
    for job in jobs if jobs is not None else JOBS:
        first = {"next_run_time": core.clock.now()} if job.run_at_start else {}
        scheduler.add_job(
            _guarded(job), job.trigger(core), args=[core], id=job.name, name=job.name,
            coalesce=True, max_instances=1,
            misfire_grace_time=int(MISFIRE_GRACE.total_seconds()), **first,
        )
    return scheduler


async def stop_scheduler(scheduler: AsyncIOScheduler, timeout: float = 30.0) -> None:  # noqa: ASYNC109
    """Stop the periodic jobs and let the ones running now finish (for at most `timeout`
    seconds) before the database closes: a job cancelled in the middle of a SQLite call could
    leave its connection hanging, and stopping with it."""
    scheduler.shutdown(wait=False)
    running = [task for task in asyncio.all_tasks() if task.get_name().startswith(JOB_TASK)]
    if running:
        await asyncio.wait(running, timeout=timeout)


def _guarded(job: PeriodicJob) -> JobFunction:
    async def guarded(core: Core) -> None:
        try:
            await job.run(core)
        except Exception:
            log.exception("periodic job %s failed; it runs again at its next time", job.name)

    async def run(core: Core) -> None:
        # In a task of its own, shielded: shutting the scheduler down cancels this runner, not
        # the job, which `stop_scheduler` waits for.
        await asyncio.shield(asyncio.create_task(guarded(core), name=JOB_TASK + job.name))

    return run
