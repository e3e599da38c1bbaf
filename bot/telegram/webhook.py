"""Telegram's webhook endpoint: the secret header checked (in constant time) on every request,
the update stored in the inbox, then 200 at once. Handling happens from the inbox, so a slow
or failing handler never holds up Telegram, and an update once answered is never lost.
If storing fails, the answer is 500 and Telegram delivers the update again."""

from __future__ import annotations

import hmac
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web

from core.app import Core
from core.enums import Channel
from core.inbox import receive

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
# Update kinds whose chat orders their handling; others share one queue.
_CHAT_SOURCES = ("message", "edited_message", "callback_query", "my_chat_member")


def webhook_path(url: str) -> str:
    """The local path Telegram's POSTs arrive on: the path of `DUBAN_WEBHOOK_URL` (a reverse
    proxy usually maps the public address onto the service's HTTP server)."""
    return urlsplit(url).path or "/"


def chat_of(update: dict[str, Any]) -> str:
    for kind in _CHAT_SOURCES:
        event = update.get(kind)
        if isinstance(event, dict):
            chat = event.get("chat") or event.get("from") or {}
            return str(chat.get("id", 0))
    return "0"


class TelegramWebhook:
    def __init__(self, core: Core, secret: str) -> None:
        self.core = core
        self.secret = secret.encode()

    async def receive(self, request: web.Request) -> web.Response:
        given = request.headers.get(SECRET_HEADER, "").encode()
        if not hmac.compare_digest(given, self.secret):
            return web.Response(status=403)
        try:
            update = await request.json()
            key = str(int(update["update_id"]))
        except (ValueError, KeyError, TypeError):
            return web.Response(status=400)
        await receive(self.core, Channel.TELEGRAM, key, chat_of(update), update)
        return web.Response()
