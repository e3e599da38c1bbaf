"""The inbox: updates that arrive over HTTP (WeCom callbacks, Telegram's webhook) are stored
here before their channel gets its answer, and processed from here by the inbox worker. So the
answer never waits for processing, a redelivery is recognised (`inbound_seen`), and a crash or a
failed handling loses nothing."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete

from storage.models import InboundSeen, InboxItem
from storage.queries import insert_ignore

if TYPE_CHECKING:
    from core.app import Core

# Channels redeliver within minutes (WeCom) or until answered (Telegram); a week is ample.
SEEN_FOR = timedelta(days=7)


async def receive(core: Core, channel: str, key: str, chat: str, payload: dict[str, Any]) -> bool:
    """Store an inbound update unless its key was seen before; True if it is new. `chat` orders
    processing: one chat's updates are handled one after another."""
    now = core.clock.now()
    async with core.db.write() as session:
        seen = {"channel": channel, "message_key": key[:128], "created_at": now}
        new = await insert_ignore(session, InboundSeen, [seen], ["channel", "message_key"]) == 1
        if new:
            session.add(InboxItem(channel=channel, chat_key=chat[:64], payload=payload,
                                  status="pending", attempts=0, process_at=now, received_at=now))
    if new:
        core.inbox_signal.wake()
    return new


async def forget_seen(core: Core) -> None:
    """Drop the record of updates received longer ago than any channel redelivers."""
    cutoff = core.clock.now() - SEEN_FOR
    async with core.db.write() as session:
        await session.execute(delete(InboundSeen).where(InboundSeen.created_at < cutoff))
