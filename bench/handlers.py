"""Progress updates through the real dispatcher, database write included, against a bare
aiogram echo handler on the same in-memory session (`handler_ratio`), and the p99 handling time
of a progress update when 200 arrive per second from 200 officials (`update_p99_ms`)."""

from __future__ import annotations

import asyncio
import itertools
import statistics
import time
from pathlib import Path
from typing import Any

from aiogram import Bot, Dispatcher, Router
from aiogram.types import Message, Update

from bench.memory_session import memory_bot
from bench.seed import SCALE, add_people, add_tasks, bench_settings, fresh_database, scaled
from bot.telegram.factory import create_dispatcher
from core.app import Core
from duban.runtime import freeze_startup_objects

OFFICIALS = 200
_update_ids = itertools.count(1)


def progress_update(official: int, percent: int) -> Update:
    """Official number `official` (Telegram id 10_000+n, task n+1) reports progress."""
    user = {"id": 10_000 + official, "is_bot": False, "first_name": f"责任人{official}"}
    return Update.model_validate({"update_id": next(_update_ids), "message": {
        "message_id": next(_update_ids), "date": int(time.time()), "from": user,
        "chat": {"id": user["id"], "type": "private"},
        "text": f"/report {official + 1} {percent} 材料整理中",
        "entities": [{"type": "bot_command", "offset": 0, "length": 7}],
    }})


def echo_dispatcher() -> Dispatcher:
    router = Router()

    @router.message()
    async def echo(message: Message) -> None:
        await message.answer(message.text or "")

    dispatcher = Dispatcher()
    dispatcher.include_router(router)
    return dispatcher


async def rate(dispatcher: Dispatcher, bot: Bot, updates: list[Update], **data: Any) -> float:
    started = time.perf_counter()
    for update in updates:
        await dispatcher.feed_update(bot, update, **data)
    return len(updates) / (time.perf_counter() - started)


async def paced_latencies(dispatcher: Dispatcher, bot: Bot, per_second: int, seconds: float
                          ) -> list[float]:
    latencies: list[float] = []

    async def handle(update: Update) -> None:
        started = time.perf_counter()
        await dispatcher.feed_update(bot, update)
        latencies.append(time.perf_counter() - started)

    total = int(per_second * seconds)
    start = time.perf_counter()
    running = []
    for i in range(total):
        await asyncio.sleep(max(0.0, start + i / per_second - time.perf_counter()))
        running.append(asyncio.create_task(handle(progress_update(i % OFFICIALS, i % 101))))
    await asyncio.gather(*running)
    return latencies


async def measure(workdir: Path, updates: int | None = None) -> dict[str, float]:
    db = await fresh_database(workdir / "handlers.db")
    officials, leaders = await add_people(db, OFFICIALS, 10)
    await add_tasks(db, OFFICIALS, officials, leaders)
    core = Core(bench_settings(db.url), db)
    bot = memory_bot()
    try:
        ours = create_dispatcher(core, bot)
        freeze_startup_objects()  # as `duban run` does once it has started
        batch = [progress_update(i % OFFICIALS, i % 101) for i in range(updates or scaled(2000))]
        ours_rate = await rate(ours, bot, batch)
        echo_rate = await rate(echo_dispatcher(), bot, batch)
        latencies = sorted(await paced_latencies(ours, bot, per_second=200,
                                                 seconds=max(1.0, 10 * SCALE)))
    finally:
        await db.dispose()
    p99 = latencies[int(len(latencies) * 0.99) - 1] * 1000
    return {
        "handler_ratio": round(ours_rate / echo_rate, 3),
        "handler_updates_per_s": round(ours_rate, 1),
        "echo_updates_per_s": round(echo_rate, 1),
        "update_p99_ms": round(p99, 2),
        "update_median_ms": round(statistics.median(latencies) * 1000, 2),
    }
