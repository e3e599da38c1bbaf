"""The worst event-loop stall while 1,000 reminders fall due at once (`peer_loop_stall_ratio`,
the peer design's worst stall ÷ ours, and `loop_stall_ms`, ours).

Ours: the reminders are outbox rows and `OutboxDispatcher` claims and sends them in batches.
The peer: what common aiogram reminder bots do, one APScheduler 3 job per reminder in a
`SQLAlchemyJobStore` (on SQLite here); the job store's queries and the unpickling of every due
job run on the event loop. Both send through the same Telegram sender over the in-memory
session, and a ticker measures how late each `asyncio.sleep(0.005)` wakes up meanwhile."""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from aiogram import Bot
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from sqlalchemy import update

from bench.memory_session import MemorySession, memory_bot
from bench.seed import (
    NOW,
    add_people,
    add_reminders,
    add_tasks,
    bench_settings,
    fresh_database,
    scaled,
)
from bot.telegram.sender import TelegramSender
from core.app import Core
from core.replies import Reply
from duban.runtime import freeze_startup_objects
from scheduler.dispatch import OutboxDispatcher
from storage.models import Task

TICK = 0.005
FALL_DUE_IN = timedelta(seconds=2)
DEADLINE = 120.0
ROUNDS = 3  # each side by turns; the medians of their worst stalls are reported
# Each side first sends one reminder, so that neither pays its first-use costs (mapper
# configuration, compiling queries) in the measurement: a running service has paid them.
# The peer's jobs find their sender here: jobs in a persistent store are pickled, so they can
# only name a module-level function, as in the bots this stands for.
_peer_sender: TelegramSender | None = None
_peer_sent = 0


async def peer_reminder(chat_id: int, text: str) -> None:
    """One peer job: send the stored text."""
    global _peer_sent
    assert _peer_sender is not None
    await _peer_sender.send(str(chat_id), Reply(text))
    _peer_sent += 1


@dataclass(frozen=True)
class Stall:
    wall: float  # seconds the latest tick was late
    cpu: float  # the most CPU time the loop's thread spent within one tick: the same stall
    # without what a busy machine adds by running other processes meanwhile


async def worst_stall(work: Callable[[], Awaitable[None]]) -> Stall:
    """The latest tick while `work` runs."""
    wall = cpu = 0.0
    done = asyncio.Event()

    async def tick() -> None:
        nonlocal wall, cpu
        while not done.is_set():
            started, started_cpu = time.perf_counter(), time.thread_time()
            await asyncio.sleep(TICK)
            wall = max(wall, time.perf_counter() - started - TICK)
            cpu = max(cpu, time.thread_time() - started_cpu)

    # Both sides as a service runs them: `duban run` leaves its start-up objects out of
    # garbage collection (without that, full collections stall either side for ~300 ms).
    freeze_startup_objects()
    ticker = asyncio.create_task(tick())
    try:
        await work()
    finally:
        done.set()
        await ticker
    return Stall(wall, cpu)


async def wait_until(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + DEADLINE
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} did not finish in {DEADLINE:.0f} s")
        await asyncio.sleep(0.05)


async def ours(workdir: Path, bot: Bot, reminders: int) -> Stall:
    db = await fresh_database(workdir / "stall-ours.db")
    officials, leaders = await add_people(db, reminders, 10)
    await add_tasks(db, reminders, officials, leaders)
    async with db.write() as session:  # open tasks: every reminder has something to say
        await session.execute(update(Task).values(status="preparing"))
    due_at = datetime.now(NOW.tzinfo) + FALL_DUE_IN
    await add_reminders(db, reminders, reminders, due_now=reminders, due_at=due_at,
                        people=reminders)
    await add_reminders(db, 1, reminders, due_now=1, key="warm-up")
    settings = bench_settings(db.url, send_rate=1000, dispatch_interval_seconds=0.5)
    memory = bot.session
    assert isinstance(memory, MemorySession)
    sent_before = memory.sent
    dispatcher = OutboxDispatcher(Core(settings, db), [TelegramSender(bot)], worker="bench")
    sending = asyncio.create_task(dispatcher.run())
    try:
        await wait_until(lambda: memory.sent > sent_before, "the warm-up")
        return await worst_stall(lambda: wait_until(
            lambda: memory.sent - sent_before > reminders, "our dispatcher"))
    finally:
        sending.cancel()
        await asyncio.gather(sending, return_exceptions=True)
        await db.dispose()


async def peer(workdir: Path, bot: Bot, reminders: int) -> Stall:
    global _peer_sender, _peer_sent
    _peer_sender, _peer_sent = TelegramSender(bot), 0
    path = workdir / "stall-peer.db"
    await asyncio.to_thread(path.unlink, True)
    scheduler = AsyncIOScheduler(jobstores={"default": SQLAlchemyJobStore(f"sqlite:///{path}")})
    scheduler.start()
    try:
        scheduler.add_job(peer_reminder, "date", args=[10_000, "预热"], id="warm-up")
        await wait_until(lambda: _peer_sent > 0, "the warm-up")
        scheduler.pause()
        _peer_sent = 0
        due_at = datetime.now(NOW.tzinfo) + FALL_DUE_IN
        for i in range(reminders):
            scheduler.add_job(peer_reminder, "date", run_date=due_at, id=f"reminder:{i}",
                              args=[10_000 + i, f"提醒：任务 {i + 1} 的截止日期临近，请更新进度。"],
                              misfire_grace_time=3600)
        scheduler.resume()
        return await worst_stall(lambda: wait_until(lambda: _peer_sent >= reminders, "the peer"))
    finally:
        scheduler.shutdown(wait=False)


async def measure(workdir: Path, reminders: int | None = None) -> dict[str, float]:
    count = reminders or scaled(1000)
    bot = memory_bot()
    peers, ourselves = [], []
    for _ in range(ROUNDS):
        peers.append(await peer(workdir, bot, count))
        ourselves.append(await ours(workdir, bot, count))

    def median_ms(seconds: list[float]) -> float:
        return round(statistics.median(seconds) * 1000, 1)

    our_wall, peer_wall = median_ms([s.wall for s in ourselves]), median_ms([s.wall for s in peers])
    return {
        "peer_loop_stall_ratio": round(peer_wall / our_wall, 1),
        "loop_stall_ms": our_wall,
        "peer_loop_stall_ms": peer_wall,
        "loop_stall_cpu_ms": median_ms([s.cpu for s in ourselves]),
        "peer_loop_stall_cpu_ms": median_ms([s.cpu for s in peers]),
    }
