"""Keeping under a channel's sending limits by ourselves, so that its 429s stay exceptional:
an overall rate, a minimum interval per private chat, a per-minute cap per group, and a pause
for everything when the channel does answer "retry after N". `Pacer` keeps them in this
process; `RedisPacer` shares them between the running copies."""

from __future__ import annotations

import asyncio
import itertools
import secrets
import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from config.settings import Settings
from core.delivery import ChatLimits

if TYPE_CHECKING:
    from redis.asyncio import Redis

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

    async def close(self) -> None:
        """Nothing to let go of (`RedisPacer` has its connections)."""


# Both scripts read Redis's own clock, so copies on machines whose clocks differ still agree.
# Times are milliseconds; a missing key reads as 0 (long past).
_TAKE_SLOT = """
local clock = redis.call('TIME')
local now = clock[1] * 1000 + clock[2] / 1000
local global_next = tonumber(redis.call('GET', KEYS[1]) or '0')
local ready = math.max(global_next, tonumber(redis.call('GET', KEYS[2]) or '0'),
                       tonumber(redis.call('GET', KEYS[3]) or '0'))
local per_minute = tonumber(ARGV[3])
if per_minute > 0 then
  redis.call('ZREMRANGEBYSCORE', KEYS[4], '-inf', now - 60000)
  if redis.call('ZCARD', KEYS[4]) >= per_minute then
    local oldest = redis.call('ZRANGE', KEYS[4], -per_minute, -per_minute, 'WITHSCORES')
    ready = math.max(ready, tonumber(oldest[2]) + 60000)
  end
end
if ready > now then
  return math.ceil(ready - now)
end
global_next = math.max(global_next, now) + tonumber(ARGV[1])
redis.call('SET', KEYS[1], global_next, 'PX', math.ceil(global_next - now) + 1000)
redis.call('SET', KEYS[3], now + tonumber(ARGV[2]), 'PX', math.ceil(tonumber(ARGV[2])) + 1000)
if per_minute > 0 then
  redis.call('ZADD', KEYS[4], now, ARGV[4])
  redis.call('PEXPIRE', KEYS[4], 60000)
end
return 0
"""

_PAUSE_ALL = """
local clock = redis.call('TIME')
local until_ms = clock[1] * 1000 + clock[2] / 1000 + tonumber(ARGV[1])
if until_ms > tonumber(redis.call('GET', KEYS[1]) or '0') then
  redis.call('SET', KEYS[1], until_ms, 'PX', math.ceil(tonumber(ARGV[1])) + 1000)
end
return 0
"""


class RedisPacer:
    """`Pacer`'s limits kept in Redis, so that every running copy of one bot stays under them
    together: one script checks and takes the overall slot, the chat's slot and the group's
    minute window at once, and a 429's pause holds every copy."""

    def __init__(
        self, redis: Redis, rate: float, *, prefix: str = "duban:pace", sleep: Sleep = asyncio.sleep
    ) -> None:
        self.redis = redis
        self.interval_ms = 1000.0 / rate
        self.prefix = prefix
        self._sleep = sleep
        self._take_slot = redis.register_script(_TAKE_SLOT)
        self._pause_all = redis.register_script(_PAUSE_ALL)
        self._pausing: set[asyncio.Task[None]] = set()
        # Members of a group's window must differ between copies and sends.
        self._sender = secrets.token_hex(4)
        self._sends = itertools.count()

    def pause(self, seconds: float) -> None:
        # Not awaited by the caller (the interface of `Pacer`): written in the background, and
        # this copy's next `acquire` waits for it.
        task = asyncio.get_running_loop().create_task(
            self._pause_all(keys=[f"{self.prefix}:pause"], args=[seconds * 1000]))
        self._pausing.add(task)
        task.add_done_callback(self._pausing.discard)

    async def acquire(self, chat: str, limits: ChatLimits, group: bool) -> None:
        if self._pausing:
            await asyncio.gather(*self._pausing)
        keys = [f"{self.prefix}:global", f"{self.prefix}:pause", f"{self.prefix}:chat:{chat}",
                f"{self.prefix}:group:{chat}"]
        args: list[float | str] = [self.interval_ms, limits.per_chat_interval * 1000,
                limits.group_per_minute if group else 0, f"{self._sender}:{next(self._sends)}"]
        while (wait_ms := int(await self._take_slot(keys=keys, args=args))) > 0:
            await self._sleep(wait_ms / 1000)

    async def close(self) -> None:
        await asyncio.gather(*self._pausing, return_exceptions=True)
        await self.redis.aclose()


def pacer_for(settings: Settings) -> Pacer | RedisPacer:
    """Shared through Redis when `DUBAN_REDIS_URL` is set (several copies sending as one bot),
    else kept in this process."""
    if settings.redis_url:
        # Imported only when used, like the forms' Redis storage: 45 ms of every start-up.
        from redis.asyncio import Redis

        return RedisPacer(Redis.from_url(settings.redis_url), settings.send_rate)
    return Pacer(settings.send_rate)
