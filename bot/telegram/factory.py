"""Building the Bot and the Dispatcher: the same factory serves `duban run` and the tests."""

from __future__ import annotations

import logging
from typing import Any

from aiogram import Bot, Dispatcher
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.enums import ParseMode
from aiogram.types import ErrorEvent

from bot.state import SqlStorage, form_storage
from bot.telegram.handlers import get_routers
from bot.telegram.sender import TelegramSender
from config.settings import Settings
from core.app import Core
from core.chat.conversation import Conversation
from core.delivery import answer
from core.replies import Reply
from core.texts import t

log = logging.getLogger(__name__)


def create_bot(settings: Settings) -> Bot:
    if settings.bot_token is None:
        raise ValueError("DUBAN_BOT_TOKEN is not set")
    session = AiohttpSession(api=TelegramAPIServer.from_base(settings.telegram_api_url))
    return Bot(
        token=settings.bot_token.get_secret_value(),
        session=session,
        default=DefaultBotProperties(parse_mode=ParseMode.HTML, link_preview_is_disabled=True),
    )


def create_dispatcher(core: Core, bot: Bot) -> Dispatcher:
    sender = TelegramSender(bot, core.settings.send_timeout_seconds)
    storage, isolation = form_storage(core.settings, core.db)
    dispatcher = Dispatcher(
        storage=storage,
        # One chat's updates in order, so two quick taps never race on a form.
        events_isolation=isolation,
        core=core,
        conversation=Conversation(core),
        sender=sender,
    )
    if isinstance(storage, SqlStorage):
        dispatcher.update.outer_middleware(storage.one_update)
    dispatcher.include_routers(*get_routers())
    dispatcher.errors.register(_on_error)
    return dispatcher


async def _on_error(event: ErrorEvent, core: Core, sender: TelegramSender, **_: Any) -> None:
    """A bug must not leave the person waiting in silence: log it, say sorry."""
    log.error("update %s failed", event.update.update_id, exc_info=event.exception)
    update = event.update
    user = (update.message.from_user if update.message
            else update.callback_query.from_user if update.callback_query else None)
    if user is not None:
        text = t(core.settings.language, "internal_error")
        await answer(core, sender, str(user.id), [Reply(text)])
