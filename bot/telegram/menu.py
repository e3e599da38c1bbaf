"""The command menu, in Chinese and English (clients pick by the user's language)."""

from __future__ import annotations

import logging

from aiogram import Bot
from aiogram.exceptions import AiogramError
from aiogram.types import BotCommand

from core.chat.commands import COMMANDS
from core.texts import t

log = logging.getLogger(__name__)


def menu(lang: str) -> list[BotCommand]:
    return [BotCommand(command=c.name, description=t(lang, f"menu.{c.name}"))
            for c in COMMANDS.values() if c.menu]


async def register_menu(bot: Bot, default_language: str) -> None:
    """A failure here costs a convenience, not the service: it is logged, not raised."""
    try:
        await bot.set_my_commands(menu(default_language))
        for lang in ("zh", "en"):
            await bot.set_my_commands(menu(lang), language_code=lang)
    except (AiogramError, OSError, TimeoutError) as error:
        log.warning("could not register the command menu: %s", str(error).splitlines()[0])
