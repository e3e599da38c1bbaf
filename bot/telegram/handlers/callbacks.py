"""Button presses. The button's data is only a request: the core checks it again."""

from __future__ import annotations

from aiogram import Router
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery

from bot.state import FsmFormState
from bot.telegram.handlers.common import speaker_of
from bot.telegram.sender import TelegramSender
from core.app import Core
from core.chat.conversation import Conversation
from core.delivery import answer


def router() -> Router:
    callbacks = Router(name="callbacks")
    callbacks.callback_query.register(on_press, has_data)
    return callbacks


async def has_data(query: CallbackQuery) -> bool:
    return bool(query.data)


async def on_press(
    query: CallbackQuery, state: FSMContext, core: Core, conversation: Conversation,
    sender: TelegramSender,
) -> None:
    assert query.data is not None
    replies = await conversation.press(speaker_of(query.from_user), query.data,
                                       FsmFormState(state))
    await query.answer(next((r.toast for r in replies if r.toast), None))
    # Always to the presser's own chat: a button is never a way to write into someone else's.
    await answer(core, sender, str(query.from_user.id), replies)
