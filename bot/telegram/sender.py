"""Sending core replies over Telegram, with Bot API errors mapped onto the outbox's outcomes."""

from __future__ import annotations

from aiogram import Bot
from aiogram.exceptions import (
    ClientDecodeError,
    TelegramBadRequest,
    TelegramForbiddenError,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
)
from aiogram.methods import (
    AnswerCallbackQuery,
    GetFile,
    GetMe,
    GetUpdates,
    SendDocument,
    SendMessage,
    SendPhoto,
    SetMyCommands,
    SetWebhook,
)
from aiogram.methods.base import Response
from aiogram.types import BufferedInputFile, Message

from bot.telegram.keyboards import inline_keyboard
from core.delivery import ChatLimits, SendOutcome, SendResult
from core.dto import PersonView
from core.enums import Channel
from core.replies import Reply

# Telegram: about 30 messages/s overall, 1/s per chat, 20/min per group. The small margin on the
# per-chat interval absorbs jitter between our clock and the moment requests arrive.
TELEGRAM_LIMITS = ChatLimits(per_chat_interval=1.05, group_per_minute=20)
REQUEST_TIMEOUT = 20  # seconds; DUBAN_SEND_TIMEOUT_SECONDS
# "chat not found" / "user is deactivated": the person cannot be reached, like a block.
_UNREACHABLE_HINTS = ("chat not found", "user is deactivated", "bot can't initiate")
# aiogram reads every answer as `Response[<the method's result type>]`, a generic model pydantic
# keeps only weakly: once a garbage collection drops it, the next request builds it again (about
# 4 ms of schema building each time; it made a busy bot spend most of an update there). Holding
# them here keeps the ones we use built.
_RESPONSE_TYPES = {method.__returning__: Response[method.__returning__]  # type: ignore[name-defined]
                   for method in (SendMessage, SendPhoto, SendDocument, AnswerCallbackQuery,
                                  GetMe, GetUpdates, GetFile, SetMyCommands, SetWebhook)}


class TelegramSender:
    channel = Channel.TELEGRAM
    limits = TELEGRAM_LIMITS

    def __init__(self, bot: Bot, timeout: int = REQUEST_TIMEOUT) -> None:
        self.bot = bot
        self.timeout = timeout

    def address_of(self, person: PersonView) -> str | None:
        return str(person.telegram_id) if person.telegram_id else None

    async def send(self, address: str, reply: Reply) -> SendResult:
        try:
            message = await self._send(int(address), reply)
        except TelegramRetryAfter as error:
            return SendResult(SendOutcome.RATE_LIMITED, retry_after=float(error.retry_after),
                              error="429")
        except TelegramForbiddenError as error:
            return SendResult(SendOutcome.UNREACHABLE, error=_short(error))
        except TelegramBadRequest as error:
            unreachable = any(h in error.message.lower() for h in _UNREACHABLE_HINTS)
            outcome = SendOutcome.UNREACHABLE if unreachable else SendOutcome.FAILED
            return SendResult(outcome, error=_short(error))
        except (TelegramServerError, TelegramNetworkError, TimeoutError) as error:
            return SendResult(SendOutcome.TEMPORARY, error=_short(error))
        except ClientDecodeError as error:
            return _undecodable(error)
        return SendResult(SendOutcome.SENT, message_ref=str(message.message_id))

    async def _send(self, chat_id: int, reply: Reply) -> Message:
        markup = inline_keyboard(reply.buttons)
        attachment = reply.attachment
        if attachment is None:
            return await self.bot.send_message(chat_id, reply.text, reply_markup=markup,
                                               request_timeout=self.timeout)
        upload = BufferedInputFile(attachment.data, filename=attachment.filename)
        if attachment.kind == "photo":
            return await self.bot.send_photo(chat_id, upload, caption=reply.text or None,
                                             reply_markup=markup, request_timeout=self.timeout)
        return await self.bot.send_document(chat_id, upload, caption=reply.text or None,
                                            reply_markup=markup, request_timeout=self.timeout)


def _undecodable(error: ClientDecodeError) -> SendResult:
    """A Bot API server answered in a shape aiogram cannot read. If it said ok, the message went
    out: sending it again would only duplicate it."""
    data = error.data if isinstance(error.data, dict) else {}
    if data.get("ok") is True:
        result = data.get("result")
        message_id = result.get("message_id") if isinstance(result, dict) else None
        return SendResult(SendOutcome.SENT, message_ref=str(message_id) if message_id else None,
                          error="undecodable answer")
    return SendResult(SendOutcome.TEMPORARY, error=_short(error).splitlines()[0])


def _short(error: Exception) -> str:
    return str(error)[:300]
