"""The WeCom channel: the callback on the service's HTTP server, messages handled from the
inbox through the same conversation as every channel (buttons as numbered choices, see
`core.chat.plain`; files as imports, downloaded with `media/get`), replies and outbox messages
sent with `message/send`. Forms and choices are kept where Telegram's forms are (the database,
or Redis with `DUBAN_REDIS_URL`), and one member's messages are handled one at a time, also
across several running copies when Redis is there to lock them."""

from __future__ import annotations

import logging
from collections.abc import Coroutine
from typing import Any

import aiohttp
from aiohttp import web

from bot.channel import StartupError
from bot.state import chat_key, chat_parts, form_storage
from bot.wecom.api import WecomApi, WecomError
from bot.wecom.callback import WecomCallback
from bot.wecom.crypto import WecomCrypto
from bot.wecom.sender import MISCONFIGURED, WecomSender
from config.settings import Settings
from core.app import Core
from core.chat.context import Speaker
from core.chat.conversation import Conversation
from core.chat.imports import Upload
from core.chat.plain import PlainChat
from core.delivery import answer
from core.enums import Channel
from core.replies import Reply
from core.texts import t

log = logging.getLogger(__name__)


def text_of(message: dict[str, str]) -> str | None:
    """What the member said: a text's content, a custom menu item's key (an admin may give
    menu items keys such as `/tasks`); None for events that say nothing (opening the app).
    Pictures and voice say nothing Duban understands: an empty text (files are imports, see
    `WecomChannel.handle`)."""
    kind = message.get("MsgType")
    if kind == "text":
        return message.get("Content", "")
    if kind == "event":
        return message.get("EventKey") if message.get("Event") == "click" else None
    return ""


class WecomChannel:
    channel = Channel.WECOM

    def __init__(self, core: Core, settings: Settings) -> None:
        assert settings.wecom_token is not None and settings.wecom_aes_key is not None
        assert settings.wecom_corp_id is not None
        self.core = core
        self.api = WecomApi(settings)
        self.storage, self.isolation = form_storage(settings, core.db)
        self.chat = PlainChat(core, Conversation(core), Channel.WECOM,
                              chat_parts(self.storage, Channel.WECOM))
        self.sender = WecomSender(self.api, self.chat)
        crypto = WecomCrypto(settings.wecom_token.get_secret_value(),
                             settings.wecom_aes_key.get_secret_value(), settings.wecom_corp_id)
        self.callback = WecomCallback(core, crypto)

    def routes(self) -> list[web.RouteDef]:
        return self.callback.routes()

    async def start(self) -> list[Coroutine[Any, Any, None]]:
        """Fetch a token now, so that wrong credentials stop start-up with a clear line."""
        try:
            await self.api.token()
        except WecomError as error:
            hint = MISCONFIGURED.get(error.errcode, "请核对 DUBAN_WECOM_* 设置")
            raise StartupError(f"企业微信拒绝了 Duban 的请求（错误码 {error.errcode}）：{hint}"
                               ) from None
        except (aiohttp.ClientError, TimeoutError) as error:
            log.warning("WeCom API not reachable at start-up (%s); sending will retry", error)
        return []

    async def handle(self, payload: dict[str, Any]) -> None:
        user, text = payload.get("FromUserName", ""), text_of(payload)
        if not user or text is None:
            return
        speaker = Speaker(Channel.WECOM, user)
        async with self.isolation.lock(chat_key(Channel.WECOM, user, "form")):
            try:
                if payload.get("MsgType") == "file":
                    replies = await self._file(speaker, payload)
                else:
                    replies = await self.chat.message(speaker, text)
            except Exception:  # a bug or a failed download must not leave the member waiting
                log.exception("WeCom message %s failed", payload.get("MsgId"))
                replies = [Reply(t(self.core.settings.language, "internal_error"))]
            await answer(self.core, self.sender, user, replies)

    async def _file(self, speaker: Speaker, message: dict[str, str]) -> list[Reply]:
        """A file: an import for those who may import. When the message names the file,
        nothing is fetched unless the core wants it; otherwise the name comes from the
        download's headers, and the body is still read only if the core wants it."""
        media_id, name = message.get("MediaId", ""), message.get("FileName", "")
        if name:
            size = message.get("FileSize", "")
            upload = Upload(name, int(size) if size.isdigit() else None,
                            lambda: self.api.download(media_id))
            return await self.chat.document(speaker, upload)
        async with self.api.media(media_id) as media:
            return await self.chat.document(speaker, Upload(media.filename, media.size,
                                                            media.read))

    async def stop(self) -> None:
        await self.api.close()
        await self.storage.close()
