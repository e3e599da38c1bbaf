"""The Telegram channel: long polling by default; with `DUBAN_WEBHOOK_URL` set, a webhook on the
service's HTTP server (updates go through the inbox, see `bot.telegram.webhook`)."""

from __future__ import annotations

import contextlib
from collections.abc import Coroutine
from typing import Any

from aiogram import Bot
from aiogram.exceptions import AiogramError, TelegramNetworkError, TelegramUnauthorizedError
from aiogram.types import Update
from aiohttp import web

from bot.channel import StartupError
from bot.telegram.factory import create_bot, create_dispatcher
from bot.telegram.menu import register_menu
from bot.telegram.sender import TelegramSender
from bot.telegram.webhook import TelegramWebhook, webhook_path
from config.settings import Settings
from core.app import Core
from core.enums import Channel


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


class TelegramChannel:
    channel = Channel.TELEGRAM

    def __init__(self, core: Core, settings: Settings) -> None:
        self.core = core
        self.settings = settings
        self.bot = create_bot(settings)
        self.dispatcher = create_dispatcher(core, self.bot)
        self.sender = TelegramSender(self.bot, settings.send_timeout_seconds)

    def routes(self) -> list[web.RouteDef]:
        url, secret = self.settings.webhook_url, self.settings.webhook_secret
        if url is None or secret is None:
            return []
        hook = TelegramWebhook(self.core, secret.get_secret_value())
        return [web.post(webhook_path(url), hook.receive)]

    async def start(self) -> list[Coroutine[Any, Any, None]]:
        self.core.bot_username = await learn_username(self.bot)
        await register_menu(self.bot, self.settings.language)
        url, secret = self.settings.webhook_url, self.settings.webhook_secret
        if url is not None and secret is not None:
            # Pending updates are kept: Telegram holds them while we restart.
            await self.bot.set_webhook(
                url, secret_token=secret.get_secret_value(), drop_pending_updates=False,
                allowed_updates=self.dispatcher.resolve_used_update_types())
            return []
        # Polling after a webhook was set would get 409 Conflict until the webhook is removed.
        await self.bot.delete_webhook(drop_pending_updates=False)
        return [self.dispatcher.start_polling(self.bot, handle_signals=False,
                                              close_bot_session=False)]

    async def handle(self, payload: dict[str, Any]) -> None:
        update = Update.model_validate(payload, context={"bot": self.bot})
        await self.dispatcher.feed_update(self.bot, update)

    async def stop(self) -> None:
        if self.settings.webhook_url is None:
            with contextlib.suppress(RuntimeError):  # polling may have ended on its own
                await self.dispatcher.stop_polling()
        await self.dispatcher.fsm.close()  # the form storage (Redis connections)
        await self.bot.session.close()
