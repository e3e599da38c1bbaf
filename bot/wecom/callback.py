"""The WeCom callback URL (`/wecom/callback`). GET is WeCom's URL check: answer the decrypted
`echostr`. POST carries a message or event: the signature is checked first (403 and nothing
stored if it is wrong), the message decrypted, stored in the inbox (a redelivered MsgId is
recognised there) and answered with an empty 200 at once. WeCom waits 5 seconds at most and
then delivers again; the reply goes out later through `message/send`."""

from __future__ import annotations

import logging

from aiohttp import web

from bot.wecom.crypto import CallbackRejected, WecomCrypto, parse_xml
from core.app import Core
from core.enums import Channel
from core.inbox import receive

log = logging.getLogger(__name__)

CALLBACK_PATH = "/wecom/callback"
MAX_BODY = 64 * 1024  # WeCom's packets are a few hundred bytes


def message_key(message: dict[str, str]) -> str:
    """WeCom's advice: MsgId for messages; sender and creation time for events (they have no
    MsgId)."""
    if message.get("MsgId"):
        return message["MsgId"]
    parts = ("FromUserName", "CreateTime", "Event", "EventKey")
    return ":".join(message.get(part, "") for part in parts)


class WecomCallback:
    def __init__(self, core: Core, crypto: WecomCrypto) -> None:
        self.core = core
        self.crypto = crypto

    def routes(self) -> list[web.RouteDef]:
        return [web.get(CALLBACK_PATH, self.verify), web.post(CALLBACK_PATH, self.receive)]

    async def verify(self, request: web.Request) -> web.Response:
        query = request.query
        try:
            echo = self.crypto.open(query.get("msg_signature", ""), query.get("timestamp", ""),
                                    query.get("nonce", ""), query.get("echostr", ""))
        except CallbackRejected as error:
            log.warning("WeCom URL check refused: %s", error)
            return web.Response(status=403)
        return web.Response(text=echo)

    async def receive(self, request: web.Request) -> web.Response:
        if request.content_length is not None and request.content_length > MAX_BODY:
            return web.Response(status=413)
        query = request.query
        try:
            envelope = parse_xml(await request.text())
            message = parse_xml(self.crypto.open(
                query.get("msg_signature", ""), query.get("timestamp", ""),
                query.get("nonce", ""), envelope.get("Encrypt", "")))
        except CallbackRejected as error:
            log.warning("WeCom callback refused: %s", error)
            return web.Response(status=403)
        user = message.get("FromUserName", "")
        await receive(self.core, Channel.WECOM, message_key(message), user, dict(message))
        return web.Response(text="")
