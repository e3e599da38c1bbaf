"""Private messages: commands, answers to forms, replies to task messages, files to import —
all to the core."""

from __future__ import annotations

from aiogram import Bot, Router
from aiogram.enums import ChatType
from aiogram.fsm.context import FSMContext
from aiogram.types import Message

from bot.state import FsmFormState
from bot.telegram.handlers.common import speaker_of
from bot.telegram.sender import TelegramSender
from core.app import Core
from core.chat.conversation import Conversation
from core.chat.imports import Upload
from core.delivery import answer
from core.enums import Channel

DOWNLOAD_TIMEOUT = 60


def router() -> Router:
    messages = Router(name="messages")
    messages.message.filter(in_private)
    messages.message.register(on_text, has_text)
    messages.message.register(on_document, has_document)
    messages.message.register(on_other)
    return messages


async def in_private(message: Message) -> bool:
    """From a person, in their private chat with the bot (groups get no answers)."""
    return message.chat.type == ChatType.PRIVATE and message.from_user is not None


async def has_text(message: Message) -> bool:
    return bool(message.text)


async def has_document(message: Message) -> bool:
    return message.document is not None


async def on_text(
    message: Message, state: FSMContext, core: Core, conversation: Conversation,
    sender: TelegramSender,
) -> None:
    assert message.from_user is not None and message.text is not None
    replies = await conversation.message(
        speaker_of(message.from_user), message.text, FsmFormState(state),
        reply_to_task=await _replied_task(message, core),
    )
    await answer(core, sender, str(message.chat.id), replies)


async def on_document(
    message: Message, state: FSMContext, core: Core, conversation: Conversation,
    sender: TelegramSender, bot: Bot,
) -> None:
    """A file: the core decides whether to import it before it is downloaded."""
    assert message.from_user is not None and message.document is not None
    document = message.document

    async def fetch() -> bytes:
        downloaded = await bot.download(document, timeout=DOWNLOAD_TIMEOUT)
        assert downloaded is not None
        return downloaded.read()

    upload = Upload(document.file_name or "", document.file_size, fetch)
    replies = await conversation.document(speaker_of(message.from_user), upload,
                                          FsmFormState(state))
    await answer(core, sender, str(message.chat.id), replies)


async def on_other(
    message: Message, state: FSMContext, core: Core, conversation: Conversation,
    sender: TelegramSender,
) -> None:
    """Stickers, photos, voice: answered like any text the bot does not understand."""
    assert message.from_user is not None
    text = message.caption or ""
    replies = await conversation.message(speaker_of(message.from_user), text, FsmFormState(state),
                                         reply_to_task=await _replied_task(message, core))
    await answer(core, sender, str(message.chat.id), replies)


async def _replied_task(message: Message, core: Core) -> int | None:
    replied = message.reply_to_message
    if replied is None:
        return None
    return await core.threads.task_of(Channel.TELEGRAM, str(message.chat.id),
                                      str(replied.message_id))
