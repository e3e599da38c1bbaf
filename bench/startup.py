"""`duban run` start-up with 100,000 tasks and 1,000,000 reminders stored: seconds from starting
the process until it logs that it is running (`startup_s`), and its peak resident memory by
then plus the start-up jobs' first run (`rss_mb`). Telegram is our fake Bot API server, on this
machine. Importing aiogram alone is measured too (`aiogram_import_s`, `aiogram_rss_mb`): it is
most of both figures and none of it is ours to cut (it builds every Bot API type's pydantic
validator at import)."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import statistics
import sys
import time
from pathlib import Path

from bench.seed import large_database
from tests.fakes.telegram_api import DEFAULT_TOKEN, FakeTelegram

READY = b"Duban is running"
SETTLE = 3.0  # for the start-up jobs (missed messages, openings, the weekly summary) to run
TIMEOUT = 120.0
ROUNDS = 3  # the service and the bare import by turns; the medians are reported
# Peak memory from /proc, not getrusage: Linux carries the parent's peak over into a child.
IMPORT_AIOGRAM = """
import json, time
started = time.perf_counter()
import aiogram
seconds = time.perf_counter() - started
peak = next(line for line in open("/proc/self/status") if line.startswith("VmHWM:"))
print(json.dumps([seconds, int(peak.split()[1]) / 1024]))
"""


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc: start-up memory is measured on Linux only")


async def start_service(database_url: str, api_url: str, workdir: Path) -> tuple[float, float]:
    env = {**os.environ, "DUBAN_DATABASE_URL": database_url, "DUBAN_BOT_TOKEN": DEFAULT_TOKEN,
           "DUBAN_TELEGRAM_API_URL": api_url, "DUBAN_HTTP_PORT": "0",
           # Not due today: the summary run is measured by itself (bench/summary.py).
           "DUBAN_SUMMARY_CRON": "0 3 1 1 *", "DUBAN_LOG_LEVEL": "INFO"}
    started = time.perf_counter()
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "duban", "run", cwd=workdir, env=env,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
    assert process.stderr is not None
    try:
        async with asyncio.timeout(TIMEOUT):
            while READY not in (line := await process.stderr.readline()):
                if not line:
                    raise RuntimeError("duban run stopped before it was running")
        ready = time.perf_counter() - started
        await asyncio.sleep(SETTLE)
        return ready, peak_rss_mb(process.pid)
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
        drain = asyncio.create_task(process.stderr.read())
        await process.wait()
        await drain


async def aiogram_import() -> tuple[float, float]:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-c", IMPORT_AIOGRAM, stdout=asyncio.subprocess.PIPE)
    output, _ = await process.communicate()
    seconds, rss = json.loads(output)
    return float(seconds), float(rss)


async def measure(workdir: Path) -> dict[str, float]:
    db = await large_database(workdir)
    await db.dispose()
    service, bare = [], []
    async with FakeTelegram() as telegram:
        for _ in range(ROUNDS):
            service.append(await start_service(db.url, telegram.base_url, workdir))
            bare.append(await aiogram_import())
    ready, rss = (statistics.median(figures) for figures in zip(*service, strict=True))
    import_seconds, import_rss = (statistics.median(figures) for figures in zip(*bare, strict=True))
    return {
        "startup_s": round(ready, 2),
        "rss_mb": round(rss, 1),
        "aiogram_import_s": round(import_seconds, 2),
        "aiogram_rss_mb": round(import_rss, 1),
    }
