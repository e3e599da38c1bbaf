"""Keeping under a channel's sending limits by ourselves, so that its 429s stay exceptional:
an overall rate, a minimum interval per private chat, a per-minute cap per group, and a pause
for everything when the channel does answer "retry after N"."""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Awaitable, Callable

from core.delivery import ChatLimits

Monotonic = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]


class Pacer:
    def __init__(
        self, rate: float, monotonic: Monotonic = time.monotonic, sleep: Sleep = asyncio.sleep
    ) -> None:
        self.interval = 1.0 / rate
        self._now = monotonic
        self._sleep = sleep
        self._next_global = 0.0
        self._next_chat: dict[str, float] = {}
        self._group_sends: dict[str, deque[float]] = {}
        self._paused_until = 0.0

    def pause(self, seconds: float) -> None:
        self._paused_until = max(self._paused_until, self._now() + seconds)

    def delay(self, chat: str, limits: ChatLimits, group: bool) -> float:
        """Seconds until a message to `chat` may go."""
        now = self._now()
        ready = max(self._next_global, self._paused_until, self._next_chat.get(chat, 0.0))
        if group:
            window = self._group_sends.get(chat, deque())
            if len(window) >= limits.group_per_minute:
                ready = max(ready, window[-limits.group_per_minute] + 60.0)
        return max(0.0, ready - now)

    async def acquire(self, chat: str, limits: ChatLimits, group: bool) -> None:
        # A pause for a 429 may be set while we sleep, hence the loop.
        while (wait := self.delay(chat, limits, group)) > 0:
            await self._sleep(wait)
        self._record(chat, limits, group)

    def _record(self, chat: str, limits: ChatLimits, group: bool) -> None:
        now = self._now()
        self._next_global = max(self._next_global, now) + self.interval
        self._next_chat[chat] = now + limits.per_chat_interval
        if group:
            window = self._group_sends.setdefault(chat, deque())
            window.append(now)
            while window and window[0] < now - 60.0:
                window.popleft()
        if len(self._next_chat) > 10_000:
            self._next_chat = {k: v for k, v in self._next_chat.items() if v > now}
