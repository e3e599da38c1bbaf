"""The running service: database check, core, the channels the settings switch on (Telegram,
WeCom or both), the HTTP server, the inbox worker, the outbox sender and the periodic jobs,
started and stopped as one `Service` — by `duban run` (until SIGTERM/SIGINT) and by the tests.
Also the console (`duban console`), on the same core."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import secrets
import signal
import socket
import time
from collections.abc import AsyncIterator, Callable, Collection
from typing import Any

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from sqlalchemy import func, select

from bot.channel import ChannelAdapter, StartupError
from bot.console.console import Console
from bot.telegram.channel import TelegramChannel
from bot.wecom.channel import WecomChannel
from config.settings import Settings
from core.app import Core
from core.clock import Clock
from core.delivery import ChannelSender
from core.dto import PersonView
from core.summary.messages import enqueue_run
from duban.http import HttpServer
from scheduler.dispatch import OutboxDispatcher
from scheduler.inbox import InboxWorker
from scheduler.jobs import build_scheduler, stop_scheduler
from scheduler.robots import push_summary
from storage.db import Database
from storage.migrate import schema_is_current
from storage.models import OutboxItem

log = logging.getLogger("duban")

NO_CHANNEL = ("没有可用的渠道：Telegram 需要 DUBAN_BOT_TOKEN（向 @BotFather 申请），企业微信需要 "
              "DUBAN_WECOM_CORP_ID、_AGENT_ID、_SECRET、_TOKEN、_AES_KEY；写入 .env 后重试。"
              "不用账号试用请运行 duban console")
SEND_DEADLINE = 120.0
STOP_MARGIN = 5.0  # seconds, beyond one send's timeout, for the last outcomes to be stored
NOT_MIGRATED = "数据库未初始化或版本过旧：请先运行 duban db upgrade（make run 会自动执行）"

__all__ = ["Service", "StartupError", "open_core", "run_console", "serve"]


def worker_id() -> str:
    """Unique per process, also across restarts and hosts (leases are held in its name)."""
    return f"{socket.gethostname()[:40]}:{os.getpid()}:{secrets.token_hex(4)}"


async def open_core(settings: Settings, clock: Clock | None = None) -> Core:
    db = Database(settings.database_url)
    if not await schema_is_current(db):
        await db.dispose()
        raise StartupError(NOT_MIGRATED)
    return Core(settings, db, clock)


def channels_of(core: Core, settings: Settings) -> list[ChannelAdapter]:
    """The channels the settings switch on, not started yet."""
    channels: list[ChannelAdapter] = []
    if settings.bot_token is not None:
        channels.append(TelegramChannel(core, settings))
    if settings.wecom_enabled:
        channels.append(WecomChannel(core, settings))
    return channels


def outbox_of(
    core: Core, senders: list[ChannelSender], worker: str | None = None,
    recipients: Callable[[], Collection[int]] | None = None,
) -> OutboxDispatcher:
    return OutboxDispatcher(core, senders, worker=worker or worker_id(), recipients=recipients)


class Service:
    """Everything `duban run` runs, as tasks in this event loop."""

    def __init__(self, settings: Settings, clock: Clock | None = None) -> None:
        if settings.bot_token is None and not settings.wecom_enabled:
            raise StartupError(NO_CHANNEL)
        self.settings = settings
        self.clock = clock
        self.core: Core
        self.channels: list[ChannelAdapter] = []
        self.inbox: InboxWorker
        self.outbox: OutboxDispatcher
        self.scheduler: AsyncIOScheduler | None = None
        self.http: HttpServer | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._sending: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self.core = await open_core(self.settings, self.clock)
        try:
            await self._start_parts()
        except BaseException:
            await self.stop()
            raise
        log.info("Duban is running: %s; HTTP on %s:%s",
                 ", ".join(c.channel for c in self.channels), self.settings.http_host,
                 self.http.port if self.http else "-")

    async def _start_parts(self) -> None:
        settings, core, worker = self.settings, self.core, worker_id()
        self.channels = channels_of(core, settings)
        self.inbox = InboxWorker(core, {c.channel: c.handle for c in self.channels},
                                 worker=worker)
        self.outbox = outbox_of(core, [c.sender for c in self.channels], worker=worker)
        # Listening before the channels start: Telegram may deliver as soon as the webhook is set.
        self.http = HttpServer(settings.http_host, settings.http_port,
                               [route for c in self.channels for route in c.routes()], self.health)
        await self.http.start()
        running = [job for channel in self.channels for job in await channel.start()]
        self.scheduler = build_scheduler(core)
        self.scheduler.start()
        self._sending = asyncio.create_task(self.outbox.run())
        self._tasks = [asyncio.create_task(job) for job in (*running, self.inbox.run())]
        self._tasks.append(self._sending)

    async def health(self) -> tuple[bool, dict[str, Any]]:
        """For `/healthz`: the database answers, the scheduler and every loop run."""
        database = await self.core.db.ping()
        scheduler = bool(self.scheduler and self.scheduler.running) and not any(
            task.done() for task in self._tasks)
        last = self.outbox.last_dispatch
        status = {"status": "ok" if database and scheduler else "failing",
                  "database": database, "scheduler": scheduler,
                  "last_dispatch": last.isoformat() if last else None,
                  "channels": [c.channel.value for c in self.channels]}
        return database and scheduler, status

    async def failed(self) -> None:
        """Returns when one of the service's tasks ends on its own (which is a failure)."""
        await asyncio.wait(self._tasks, return_when=asyncio.FIRST_COMPLETED)

    async def stop(self) -> None:
        # Outside first: no new requests; the sender finishes the messages in flight (so they
        # are recorded, not sent again after the restart) and hands the rest back; then the
        # loops (an update being handled is put back in the inbox), then the channels'
        # connections, then the database.
        if self.http is not None:
            await self.http.stop()
        if self.scheduler is not None and self.scheduler.running:
            await stop_scheduler(self.scheduler)
        if self._sending is not None:
            self.outbox.stop()
            await asyncio.wait({self._sending},
                               timeout=self.settings.send_timeout_seconds + STOP_MARGIN)
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if hasattr(self, "outbox"):  # start-up may have failed before it was made
            await self.outbox.pacer.close()
        for channel in self.channels:
            await channel.stop()
        await self.core.db.dispose()


async def send_summary_now(settings: Settings, core: Core, leader: PersonView | None) -> str:
    """`duban summary --send`: store the summaries as a run of their own, push the bureau's to
    the group robots, and send the stored messages from this process (a running service may
    send some of them too: leases keep each to once). Returns what happened, in a few lines."""
    run_at = core.clock.now()
    run_key = f"now:{run_at.isoformat()}:{secrets.token_hex(3)}"  # every call is a run
    people = await enqueue_run(core, run_key, run_at, only=leader)
    robots = await push_summary(core, run_key) if leader is None else {}
    lines = [f"已生成 {people} 人的汇总。"]
    if robots:
        lines.append(f"群机器人：{sum(robots.values())}/{len(robots)} 个已发送。")
    channels = channels_of(core, settings)
    if not channels:
        lines.append("没有设置任何渠道（Telegram 或企业微信）：消息已存入发送队列，"
                     "由运行中的服务（duban run）发送。")
        return "\n".join(lines)
    outbox = outbox_of(core, [c.sender for c in channels])
    try:
        counts = await _send_run(core, outbox, run_key)
    finally:
        await outbox.pacer.close()
        for channel in channels:
            await channel.stop()
    lines.append(f"已发送 {counts.get('sent', 0)} 条消息。")
    if counts.get("failed"):
        lines.append(f"{counts['failed']} 条发送失败，详见日志。")
    waiting = counts.get("pending", 0) + counts.get("sending", 0)
    if waiting:
        lines.append(f"{waiting} 条稍后发送（免打扰时段或重试中），由运行中的服务完成。")
    return "\n".join(lines)


async def _send_run(core: Core, outbox: OutboxDispatcher, run_key: str) -> dict[str, int]:
    """Dispatch until the run's rows are all done, or SEND_DEADLINE; their count by status."""
    rows = OutboxItem.dedupe_key.like(f"summary:{run_key}:%")
    deadline = time.monotonic() + SEND_DEADLINE
    while True:
        claimed = await outbox.dispatch_due()
        async with core.db.read() as session:
            result = await session.execute(
                select(OutboxItem.status, func.count()).where(rows).group_by(OutboxItem.status))
            counts: dict[str, int] = dict(result.all())
        if not counts.get("pending") and not counts.get("sending"):
            return counts
        if time.monotonic() > deadline:
            return counts
        if not claimed:
            await asyncio.sleep(1.0)


def freeze_startup_objects() -> None:
    """Leave what start-up made (the modules, aiogram's hundreds of thousands of pydantic
    objects) out of garbage collection: a full collection would otherwise walk them all and
    stall the event loop for a few hundred milliseconds, every time one runs."""
    gc.collect()
    gc.freeze()


async def serve(settings: Settings) -> None:
    service = Service(settings)
    await service.start()
    freeze_startup_objects()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    stopping = asyncio.create_task(stop.wait())
    failing = asyncio.create_task(service.failed())
    await asyncio.wait({stopping, failing}, return_when=asyncio.FIRST_COMPLETED)
    stopping.cancel()
    failing.cancel()
    log.info("stopping")
    await service.stop()


async def run_console(
    settings: Settings, lines: AsyncIterator[str], write: Callable[[str], None],
    acting: str | None = None, clock: Clock | None = None,
) -> None:
    """The console channel until the lines end or `/quit`: the periodic jobs run, and the
    outbox's messages to the person acted as are shown (everyone else's stay for the real
    channels)."""
    core = await open_core(settings, clock)
    console = Console(core, write)
    outbox = outbox_of(core, [console.notices], recipients=console.recipients)
    scheduler = build_scheduler(core)
    scheduler.start()
    sending = asyncio.create_task(outbox.run())
    try:
        if await console.begin(acting):
            async for line in lines:
                if not await console.handle(line):
                    break
    finally:
        await stop_scheduler(scheduler)
        sending.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await sending
        await outbox.pacer.close()
        await core.db.dispose()
