"""Flood limits of the fake Telegram Bot API server.

Telegram answers ``429 Too Many Requests: retry after N`` when a bot sends more than about
one message per second to a private chat, 20 per minute to a group or 30 per second in
total (https://core.telegram.org/bots/faq#my-bot-is-hitting-limits-how-do-i-avoid-this).
The real server tolerates short bursts; the fake is strict by default so that a bot which
does not pace its sends fails in tests rather than in production.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal


@dataclass
class RateLimits:
    """Limit settings; change them on ``FakeTelegram.limits`` at any time."""

    private_interval: float = 1.0  # seconds one private chat needs between two messages
    private_burst: int = 0  # extra messages a private chat may get in a burst
    group_per_minute: int = 20
    global_per_second: int = 30


@dataclass(frozen=True)
class Violation:
    """A send that would exceed a limit, and how long the bot must wait."""

    scope: Literal["chat", "global"]
    retry_after: int


@dataclass
class _Bucket:
    """Token bucket of one private chat: refills one token per private_interval."""

    tokens: float
    updated: float


@dataclass
class RateLimiter:
    """Tracks accepted sends; ``check`` then ``record`` for every send that goes out."""

    limits: RateLimits = field(default_factory=RateLimits)
    clock: Callable[[], float] = time.monotonic
    _buckets: dict[int, _Bucket] = field(default_factory=dict)
    _group_sends: dict[int, deque[float]] = field(default_factory=dict)
    _all_sends: deque[float] = field(default_factory=deque)

    def check(self, chat_id: int, private: bool) -> Violation | None:
        """The violation a send to ``chat_id`` now would cause, or None if allowed."""
        now = self.clock()
        wait = self._private_wait(chat_id, now) if private else self._group_wait(chat_id, now)
        if wait > 0:
            return Violation("chat", _whole_seconds(wait))
        global_wait = self._global_wait(now)
        if global_wait > 0:
            return Violation("global", _whole_seconds(global_wait))
        return None

    def record(self, chat_id: int, private: bool) -> None:
        """Count an accepted send (rejected requests do not use up the allowance)."""
        now = self.clock()
        self._all_sends.append(now)
        if private:
            bucket = self._refilled(chat_id, now)
            bucket.tokens -= 1.0
        else:
            self._group_sends.setdefault(chat_id, deque()).append(now)

    def reset(self) -> None:
        self._buckets.clear()
        self._group_sends.clear()
        self._all_sends.clear()

    def _refilled(self, chat_id: int, now: float) -> _Bucket:
        capacity = 1.0 + self.limits.private_burst
        bucket = self._buckets.setdefault(chat_id, _Bucket(capacity, now))
        rate = 1.0 / self.limits.private_interval if self.limits.private_interval > 0 else math.inf
        # A tiny epsilon keeps "exactly private_interval later" from failing on float noise.
        bucket.tokens = min(capacity, bucket.tokens + (now - bucket.updated) * rate + 1e-9)
        bucket.updated = now
        return bucket

    def _private_wait(self, chat_id: int, now: float) -> float:
        bucket = self._refilled(chat_id, now)
        if bucket.tokens >= 1.0:
            return 0.0
        return (1.0 - bucket.tokens) * self.limits.private_interval

    def _group_wait(self, chat_id: int, now: float) -> float:
        sends = self._group_sends.setdefault(chat_id, deque())
        return _window_wait(sends, now, 60.0, self.limits.group_per_minute)

    def _global_wait(self, now: float) -> float:
        return _window_wait(self._all_sends, now, 1.0, self.limits.global_per_second)


def _window_wait(sends: deque[float], now: float, window: float, allowed: int) -> float:
    """Seconds until a sliding ``window`` holds fewer than ``allowed`` sends."""
    while sends and now - sends[0] >= window:
        sends.popleft()
    if len(sends) < allowed:
        return 0.0
    return window - (now - sends[len(sends) - allowed])


def _whole_seconds(wait: float) -> int:
    # Telegram's retry_after is a whole number of seconds and never 0.
    return max(1, math.ceil(wait))
