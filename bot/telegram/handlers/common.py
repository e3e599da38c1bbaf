"""What every Telegram handler needs: who wrote, in core terms.

Filters are async functions, not magic filters (`F.text`): aiogram runs a plain function filter
in a worker thread, a round trip to the thread pool for each filter of each update."""

from __future__ import annotations

from aiogram.types import User

from core.chat.context import Speaker
from core.enums import Channel


def speaker_of(user: User) -> Speaker:
    return Speaker(Channel.TELEGRAM, str(user.id), user.username, user.language_code)
