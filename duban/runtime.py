"""The running service: database check, core, Telegram polling, the outbox sender, the scheduler,
and a clean stop on SIGTERM/SIGINT."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import signal
import socket

from aiogram import Bot
from aiogram.exceptions import TelegramUnauthorizedError

from bot.telegram.factory import create_bot, create_dispatcher
from bot.telegram.menu import register_menu
from bot.telegram.sender import TelegramSender
from config.settings import Settings
from core.app import Core
from scheduler.dispatch import OutboxDispatcher
from storage.db import Database
from storage.migrate import schema_is_current

log = logging.getLogger("duban")


class StartupError(Exception):
    """Start-up cannot go on; the message is one line saying what to do."""


def worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


async def open_core(settings: Settings) -> Core:
    db = Database(settings.database_url)
    if not await schema_is_current(db):
        await db.dispose()
        raise StartupError("数据库未初始化或版本过旧：请先运行 duban db upgrade（make run 会自动执行）")
    return Core(settings, db)


async def learn_username(bot: Bot) -> str | None:
    try:
        me = await bot.get_me(request_timeout=15)
    except TelegramUnauthorizedError:
        raise StartupError("DUBAN_BOT_TOKEN 被 Telegram 拒绝（401）：请检查令牌是否正确") from None
    return me.username


async def serve(settings: Settings) -> None:
    if settings.bot_token is None:
        raise StartupError(
            "未设置 DUBAN_BOT_TOKEN：请向 @BotFather 申请机器人令牌，写入 .env（DUBAN_BOT_TOKEN=...）"
            "后重试；不用账号试用请运行 duban console"
        )
    core = await open_core(settings)
    bot = create_bot(settings)
    try:
        core.bot_username = await learn_username(bot)
        await register_menu(bot, settings.language)
        await _run_until_stopped(core, bot)
    finally:
        await bot.session.close()
        await core.db.dispose()


async def _run_until_stopped(core: Core, bot: Bot) -> None:
    dispatcher = create_dispatcher(core, bot)
    outbox = OutboxDispatcher(core, [TelegramSender(bot)], worker=worker_id())
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    polling = asyncio.create_task(dispatcher.start_polling(bot, handle_signals=False,
                                                           close_bot_session=False))
    sending = asyncio.create_task(outbox.run())
    log.info("Duban is running as @%s", core.bot_username)
    stopped = asyncio.create_task(stop.wait())
    await asyncio.wait({polling, sending, stopped}, return_when=asyncio.FIRST_COMPLETED)
    log.info("stopping")
    with contextlib.suppress(RuntimeError):  # polling may have ended on its own
        await dispatcher.stop_polling()
    for task in (sending, stopped, polling):
        task.cancel()
    await asyncio.gather(polling, sending, stopped, return_exceptions=True)
    for failed in (polling, sending):
        if not failed.cancelled() and failed.exception():
            raise failed.exception()  # type: ignore[misc]
