"""Which bot message is about which task, so that a reply to it is filed as a note on that task."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import select

from storage.models import SentMessage
from storage.queries import ignoring

if TYPE_CHECKING:
    from core.app import Core


class Threads:
    def __init__(self, core: Core) -> None:
        self.core = core
        # Built once: every reply about a task is remembered, and building it cost more than
        # running it.
        self._remember = ignoring(core.db.dialect, SentMessage,
                                  ["channel", "chat_ref", "message_ref"])

    async def remember(self, channel: str, chat_ref: str, message_ref: str, task_id: int) -> None:
        row = {"channel": channel, "chat_ref": chat_ref, "message_ref": message_ref,
               "task_id": task_id, "created_at": self.core.clock.now()}
        async with self.core.db.write_one() as connection:
            await connection.execute(self._remember, row)

    async def task_of(self, channel: str, chat_ref: str, message_ref: str) -> int | None:
        async with self.core.db.read() as session:
            return await session.scalar(
                select(SentMessage.task_id).where(
                    SentMessage.channel == channel, SentMessage.chat_ref == chat_ref,
                    SentMessage.message_ref == message_ref,
                )
            )

    async def latest_task(self, channel: str, chat_ref: str, since: datetime) -> int | None:
        """The task of the newest message about a task sent to this chat since `since`: what a
        free-text answer refers to on channels without reply-to."""
        async with self.core.db.read() as session:
            return await session.scalar(
                select(SentMessage.task_id).where(
                    SentMessage.channel == channel, SentMessage.chat_ref == chat_ref,
                    SentMessage.created_at >= since,
                ).order_by(SentMessage.created_at.desc(), SentMessage.id.desc()).limit(1)
            )
