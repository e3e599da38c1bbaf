"""What a channel must offer to carry outbox messages, how a send attempt can end, and
answering the person who is talking."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Protocol

from core.dto import PersonView
from core.enums import Channel
from core.replies import Reply

if TYPE_CHECKING:
    from core.app import Core

log = logging.getLogger(__name__)
MAX_ANSWER_WAIT = 30.0


class SendOutcome(StrEnum):
    SENT = "sent"
    RATE_LIMITED = "rate_limited"  # wait `retry_after`, then try again
    TEMPORARY = "temporary"  # 5xx, timeouts, network: back off and retry, up to a cap
    UNREACHABLE = "unreachable"  # blocked the bot, left the company: stop, tell the admins
    FAILED = "failed"  # the message itself was refused: do not retry


@dataclass(frozen=True)
class SendResult:
    outcome: SendOutcome
    message_ref: str | None = None
    retry_after: float | None = None
    error: str | None = None


@dataclass(frozen=True)
class ChatLimits:
    """A channel's sending limits: overall per second, per private chat and per group."""

    per_chat_interval: float = 1.0
    group_per_minute: int = 20


class ChannelSender(Protocol):
    channel: Channel
    limits: ChatLimits

    def address_of(self, person: PersonView) -> str | None:
        """The chat to reach this person in on this channel, or None if they are not on it."""
        ...

    async def send(self, address: str, reply: Reply) -> SendResult: ...


async def answer(core: Core, sender: ChannelSender, address: str, replies: list[Reply]) -> None:
    """Send a conversation's replies straight away (the person is waiting, so no outbox),
    waiting once on a rate limit, and remember which of them are about a task, so that an
    answer to them is filed on that task."""
    for reply in replies:
        result = await sender.send(address, reply)
        if result.outcome == SendOutcome.RATE_LIMITED:
            await asyncio.sleep(min(result.retry_after or 1.0, MAX_ANSWER_WAIT))
            result = await sender.send(address, reply)
        if result.outcome != SendOutcome.SENT:
            log.warning("reply to %s %s not sent: %s %s", sender.channel, address,
                        result.outcome, result.error)
            continue
        if reply.task_id and result.message_ref:
            await core.threads.remember(sender.channel, address, result.message_ref,
                                        reply.task_id)
