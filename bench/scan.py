"""How the dispatcher's due-scan grows with the outbox (`due_scan_growth`): the time of one scan
with 1,000,000 stored reminders ÷ with 1,000, the same 50 due in both. Index-backed, it stays
near 1; a table scan would grow with the table."""

from __future__ import annotations

import statistics
import time
from pathlib import Path

from bench.memory_session import memory_bot
from bench.seed import bench_settings, large_database, reminder_database, scaled
from bot.telegram.sender import TelegramSender
from core.app import Core
from scheduler.dispatch import OutboxDispatcher
from storage.db import Database

DUE = 50
SCANS = 31


def dispatcher_on(db: Database) -> OutboxDispatcher:
    sender = TelegramSender(memory_bot())
    return OutboxDispatcher(Core(bench_settings(db.url), db), [sender], worker="bench", batch=DUE)


async def scan_seconds(dispatcher: OutboxDispatcher) -> float:
    """The time of claiming the due rows; they are handed back untimed."""
    started = time.perf_counter()
    claimed = [item for person in await dispatcher._claim(DUE) for item in person]
    elapsed = time.perf_counter() - started
    assert len(claimed) == DUE, f"{len(claimed)} due rows claimed, {DUE} expected"
    await dispatcher._release([item.id for item in claimed])
    return elapsed


async def measure(workdir: Path) -> dict[str, float]:
    small = await reminder_database(workdir / "scan-small.db", reminders=1000, due_now=DUE)
    large = await large_database(workdir)
    try:
        small_scans, large_scans = [], []
        ours = dispatcher_on(small), dispatcher_on(large)
        for _ in range(SCANS + 1):  # side by side, so both see the same noise
            small_scans.append(await scan_seconds(ours[0]))
            large_scans.append(await scan_seconds(ours[1]))
    finally:
        await small.dispose()
        await large.dispose()
    # The first scan of each compiles the query.
    small_scan, large_scan = (statistics.median(scans[1:]) for scans in (small_scans, large_scans))
    return {
        "due_scan_growth": round(large_scan / small_scan, 2),
        "due_scan_ms": round(large_scan * 1000, 2),
        "due_scan_reminders": float(scaled(1_000_000)),
    }
