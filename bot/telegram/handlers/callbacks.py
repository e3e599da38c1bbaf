"""Button presses. The button's data is only a request: the core checks it again."""

from __future__ import annotations

from aiogram import F, Router
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery

from bot.telegram.handlers.common import speaker_of
from bot.telegram.sender import TelegramSender, answer
from bot.telegram.state import FsmFormState
from core.app import Core
from core.chat.conversation import Conversation

router = Router(name="callbacks")


@router.callback_query(F.data)
async def on_press(
    query: CallbackQuery, state: FSMContext, core: Core, conversation: Conversation,
    sender: TelegramSender,
) -> None:
    assert query.data is not None
    replies = await conversation.press(speaker_of(query.from_user), query.data,
                                       FsmFormState(state))
    await query.answer(next((r.toast for r in replies if r.toast), None))
    chat_id = query.message.chat.id if query.message else query.from_user.id
    await answer(core, sender, chat_id, replies)
