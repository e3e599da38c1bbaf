"""What a channel must offer to carry outbox messages, and how a send attempt can end."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from core.dto import PersonView
from core.enums import Channel
from core.replies import Reply


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
