"""A Bot API session without a network: each request is serialized as aiogram's HTTP session
would serialize it and answered with Telegram-shaped JSON that aiogram parses, so handler and
(de)serialization costs are measured and HTTP's are not."""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import AsyncGenerator
from typing import Any, cast

from aiogram import Bot
from aiogram.client.session.base import BaseSession
from aiogram.methods import GetMe, SendMessage, TelegramMethod
from aiogram.methods.base import TelegramType
from aiogram.types import InputFile

from tests.fakes.telegram_api import DEFAULT_TOKEN


class MemorySession(BaseSession):
    def __init__(self) -> None:
        super().__init__()
        self._message_ids = itertools.count(1)
        self.sent = 0

    async def make_request(
        self,
        bot: Bot,
        method: TelegramMethod[TelegramType],
        timeout: int | None = None,  # noqa: ASYNC109 - aiogram's signature
    ) -> TelegramType:
        files: dict[str, InputFile] = {}
        fields = {key: self.prepare_value(value, bot=bot, files=files)
                  for key, value in method.model_dump(warnings=False).items()}
        answer = json.dumps({"ok": True, "result": self._result(method, fields)})
        response = self.check_response(bot=bot, method=method, status_code=200, content=answer)
        return cast(TelegramType, response.result)

    def _result(self, method: TelegramMethod[Any], fields: dict[str, Any]) -> Any:
        if isinstance(method, GetMe):
            return {"id": 1, "is_bot": True, "first_name": "Duban", "username": "duban_bench_bot"}
        if isinstance(method, SendMessage):
            self.sent += 1
            return {"message_id": next(self._message_ids), "date": int(time.time()),
                    "chat": {"id": int(fields["chat_id"]), "type": "private"},
                    "text": fields.get("text", "")}
        return True

    async def stream_content(
        self,
        url: str,
        headers: dict[str, Any] | None = None,
        timeout: int = 30,  # noqa: ASYNC109 - aiogram's signature
        chunk_size: int = 65536,
        raise_for_status: bool = True,
    ) -> AsyncGenerator[bytes, None]:
        raise NotImplementedError("no files in benchmarks")
        yield b""  # pragma: no cover - makes this an async generator

    async def close(self) -> None:
        """Nothing to close."""


def memory_bot() -> Bot:
    """A Bot on a `MemorySession`, with the fake Bot API's token."""
    return Bot(DEFAULT_TOKEN, session=MemorySession())
