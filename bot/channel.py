"""What the running service needs from a channel adapter (Telegram, WeCom), so it can run any
combination of them the settings switch on."""

from __future__ import annotations

from collections.abc import Coroutine
from typing import Any, Protocol

from aiohttp import web

from core.delivery import ChannelSender
from core.enums import Channel


class StartupError(Exception):
    """Start-up cannot go on; the message is one line saying what to do."""


class ChannelAdapter(Protocol):
    @property
    def channel(self) -> Channel: ...

    @property
    def sender(self) -> ChannelSender:
        """Carries the outbox's messages (and the conversation's answers) on this channel."""
        ...

    def routes(self) -> list[web.RouteDef]:
        """Endpoints on the service's HTTP server (callbacks, webhooks)."""
        ...

    async def start(self) -> list[Coroutine[Any, Any, None]]:
        """Connect (check credentials, register webhooks); returns what must keep running."""
        ...

    async def handle(self, payload: dict[str, Any]) -> None:
        """Process one update its endpoint stored in the inbox."""
        ...

    async def stop(self) -> None: ...
