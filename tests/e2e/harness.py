"""Duban running in the test's event loop against the fake Bot API server (and/or the fake
WeCom), as `duban run` runs it (the same `Service`), with helpers to act as the bureau's
people."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

from config.settings import Settings
from core.app import Core
from core.clock import Clock
from duban.runtime import Service
from storage.db import Database
from tests.fakes.telegram_api import FakeTelegram, FakeUser

JsonDict = dict[str, Any]


class Running:
    def __init__(
        self, fake: FakeTelegram | None, settings: Settings, clock: Clock | None
    ) -> None:
        self.fake = fake
        self.settings = settings
        self.clock = clock
        self.service: Service | None = None

    @property
    def core(self) -> Core:
        assert self.service is not None
        return self.service.core

    @property
    def http_url(self) -> str:
        """The base URL of the service's HTTP server (it listens on a port the OS chose)."""
        assert self.service is not None and self.service.http is not None
        return f"http://127.0.0.1:{self.service.http.port}"

    async def start(self) -> Running:
        self.service = Service(self.settings, self.clock)
        await self.service.start()
        return self

    async def stop(self) -> None:
        if self.service is not None:
            await self.service.stop()
            self.service = None

    @asynccontextmanager
    async def offline_core(self) -> AsyncIterator[Core]:
        """The core on the same database, e.g. while the service is stopped."""
        core = Core(self.settings, Database(self.settings.database_url), self.clock)
        try:
            yield core
        finally:
            await core.db.dispose()

    async def restart(self) -> None:
        await self.stop()
        await self.start()


async def ask(user: FakeUser, text: str, reply_to: JsonDict | None = None,
              match: Callable[[JsonDict], bool] | None = None, wait: float = 10.0) -> JsonDict:
    """Send a message and wait for the bot's next answer in that chat (optionally a matching
    one)."""
    sent = await user.send(text, reply_to=reply_to)
    return await user.wait_for_message(match, timeout=wait, after=sent["message_id"])


async def tap(user: FakeUser, message: JsonDict, button: str | None = None, *,
              data: str | None = None, wait: float = 10.0) -> JsonDict:
    """Press a button and wait for the bot's next message in that chat."""
    last = user.received()[-1]["message_id"] if user.received() else 0
    await user.press(message, button, data=data)
    return await user.wait_for_message(timeout=wait, after=last)


def text_of(message: JsonDict) -> str:
    return str(message.get("text") or message.get("caption") or "")


def labels(fake: FakeTelegram, message: JsonDict) -> list[str]:
    return [text for text, _ in fake.buttons(message)]


async def eventually(check: Callable[[], Awaitable[bool]], timeout: float = 10.0) -> None:  # noqa: ASYNC109
    """Wait until `check()` holds, e.g. a row the service deletes once it is done with it."""
    async with asyncio.timeout(timeout):
        while not await check():  # noqa: ASYNC110 - the database has no event to wait on
            await asyncio.sleep(0.02)
