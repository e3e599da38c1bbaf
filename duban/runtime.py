"""The running service: database check, core, Telegram polling and the outbox sender, started
and stopped as one `Service` — by `duban run` (until SIGTERM/SIGINT) and by the tests."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import signal
import socket
import time

from aiogram import Bot, Dispatcher
from aiogram.exceptions import AiogramError, TelegramNetworkError, TelegramUnauthorizedError
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from sqlalchemy import func, select

from bot.telegram.factory import create_bot, create_dispatcher
from bot.telegram.menu import register_menu
from bot.telegram.sender import TelegramSender
from config.settings import Settings
from core.app import Core
from core.clock import Clock
from core.dto import PersonView
from core.summary.messages import enqueue_run
from scheduler.dispatch import OutboxDispatcher
from scheduler.jobs import build_scheduler
from scheduler.robots import push_summary
from storage.db import Database
from storage.migrate import schema_is_current
from storage.models import OutboxItem

log = logging.getLogger("duban")

NO_TOKEN = ("未设置 DUBAN_BOT_TOKEN：请向 @BotFather 申请机器人令牌，写入 .env"
            "（DUBAN_BOT_TOKEN=...）后重试；不用账号试用请运行 duban console")
SEND_DEADLINE = 120.0
NOT_MIGRATED = "数据库未初始化或版本过旧：请先运行 duban db upgrade（make run 会自动执行）"


class StartupError(Exception):
    """Start-up cannot go on; the message is one line saying what to do."""


def worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


async def open_core(settings: Settings, clock: Clock | None = None) -> Core:
    db = Database(settings.database_url)
    if not await schema_is_current(db):
        await db.dispose()
        raise StartupError(NOT_MIGRATED)
    return Core(settings, db, clock)


async def learn_username(bot: Bot) -> str | None:
    try:
        me = await bot.get_me(request_timeout=15)
    except TelegramUnauthorizedError:
        raise StartupError("DUBAN_BOT_TOKEN 被 Telegram 拒绝（401）：请检查令牌是否正确") from None
    except TelegramNetworkError as error:
        raise StartupError(f"无法连接 DUBAN_TELEGRAM_API_URL 的 Bot API 服务器：{error.message}"
                           ) from None
    except AiogramError as error:
        first_line = str(error).splitlines()[0]
        raise StartupError(
            f"DUBAN_TELEGRAM_API_URL 的服务器对 getMe 的回答不符合 Bot API：{first_line}"
        ) from None
    return me.username


class Service:
    """Everything `duban run` runs, as tasks in this event loop."""

    def __init__(self, settings: Settings, clock: Clock | None = None) -> None:
        if settings.bot_token is None:
            raise StartupError(NO_TOKEN)
        self.settings = settings
        self.clock = clock
        self.core: Core
        self.bot: Bot
        self.dispatcher: Dispatcher
        self.outbox: OutboxDispatcher
        self.scheduler: AsyncIOScheduler
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        self.core = await open_core(self.settings, self.clock)
        self.bot = create_bot(self.settings)
        try:
            self.core.bot_username = await learn_username(self.bot)
        except BaseException:
            await self._close()
            raise
        await register_menu(self.bot, self.settings.language)
        self.dispatcher = create_dispatcher(self.core, self.bot)
        self.outbox = OutboxDispatcher(self.core, [TelegramSender(self.bot)], worker=worker_id())
        self.scheduler = build_scheduler(self.core)
        self.scheduler.start()
        self._tasks = [
            asyncio.create_task(self.dispatcher.start_polling(
                self.bot, handle_signals=False, close_bot_session=False)),
            asyncio.create_task(self.outbox.run()),
        ]
        log.info("Duban is running as @%s", self.core.bot_username)

    async def failed(self) -> None:
        """Returns when one of the service's tasks ends on its own (which is a failure)."""
        await asyncio.wait(self._tasks, return_when=asyncio.FIRST_COMPLETED)

    async def stop(self) -> None:
        with contextlib.suppress(RuntimeError):  # polling may have ended on its own
            await self.dispatcher.stop_polling()
        self.scheduler.shutdown(wait=False)
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.dispatcher.fsm.close()  # the form storage (Redis connections)
        await self._close()

    async def _close(self) -> None:
        await self.bot.session.close()
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
    if settings.bot_token is None:
        lines.append("未设置 DUBAN_BOT_TOKEN：消息已存入发送队列，"
                     "由运行中的服务（duban run）发送。")
        return "\n".join(lines)
    bot = create_bot(settings)
    try:
        outbox = OutboxDispatcher(core, [TelegramSender(bot)], worker=worker_id())
        counts = await _send_run(core, outbox, run_key)
    finally:
        await bot.session.close()
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


async def serve(settings: Settings) -> None:
    service = Service(settings)
    await service.start()
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
