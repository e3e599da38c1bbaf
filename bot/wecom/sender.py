"""Sending core replies over WeCom's `message/send`, with WeCom's errcodes mapped onto the
outbox's outcomes (retry later, give up, mark the member unreachable), its limits kept, and
buttons written out as numbered choices.

Messages go out as `text` (not `markdown`): text shows in WeCom and in WeChat (微信插件) alike
and needs no escaping of what people typed. Each text is at most 2048 bytes; longer replies are
split at line boundaries."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable

import aiohttp

from bot.wecom.api import TOKEN_ERRORS, WecomApi, WecomError
from core.chat.plain import PlainChat
from core.delivery import ChatLimits, SendOutcome, SendResult
from core.dto import PersonView
from core.enums import Channel
from core.replies import Attachment, Reply
from core.texts import plain
from core.views import split_message

log = logging.getLogger(__name__)

TEXT_LIMIT = 2048  # bytes of UTF-8
# WeCom drops, without an error, what one app sends one member beyond 30 a minute or 1000 an
# hour; the dispatcher keeps 2 s between messages to one member, and every send (answers too)
# is counted against both windows here.
WECOM_LIMITS = ChatLimits(per_chat_interval=2.05, group_per_minute=20)
MEMBER_WINDOWS = ((60.0, 30), (3600.0, 1000))
MAX_INLINE_WAIT = 3.0
RATE_LIMITED = {45009: 60.0, 45033: 1.0}  # app over its limits; too many concurrent calls
# The member left, is outside the app's visible range, or no such userid: stop, tell admins.
UNREACHABLE = frozenset({81013, 60111, 40003})
# Duban's set-up is wrong (IP not in 企业可信IP, secret, corp id, agent id, API not allowed):
# not the member's fault, and it can be fixed; retried with backoff, loudly logged.
MISCONFIGURED = {60020: "服务器出口 IP 不在应用的“企业可信IP”中",
                 40001: "DUBAN_WECOM_SECRET 不对", 40013: "DUBAN_WECOM_CORP_ID 不对",
                 40056: "DUBAN_WECOM_AGENT_ID 不对", 48002: "应用没有调用此接口的权限"}


def utf8_size(text: str) -> int:
    return len(text.encode())


def text_parts(html: str) -> list[str]:
    """A reply's text as WeCom `text` messages: plain text in parts of at most TEXT_LIMIT bytes,
    split where `split_message` splits (tags weigh nothing, an entity its character)."""
    parts = split_message(html, TEXT_LIMIT, measure=lambda part: utf8_size(plain(part)))
    return [plain(part) for part in parts]


class MemberWindows:
    """Sends per member in the last hour, to stay inside WeCom's per-member limits."""

    def __init__(self, monotonic: Callable[[], float] = time.monotonic) -> None:
        self._now = monotonic
        self._sent: dict[str, deque[float]] = {}

    def wait(self, member: str, count: int = 1) -> float:
        """Seconds until `count` more messages to `member` fit every window (a window's
        whole capacity at most: more than that can never wait long enough)."""
        now = self._now()
        sent = self._sent.get(member, deque())
        while sent and sent[0] <= now - MEMBER_WINDOWS[-1][0]:
            sent.popleft()
        wait = 0.0
        for span, cap in MEMBER_WINDOWS:
            recent = [at for at in sent if at > now - span]
            excess = len(recent) + min(count, cap) - cap
            if excess > 0:  # the `excess` oldest must age out of the window first
                wait = max(wait, recent[excess - 1] + span - now)
        return wait

    def record(self, member: str) -> None:
        self._sent.setdefault(member, deque()).append(self._now())


class WecomSender:
    channel = Channel.WECOM
    limits = WECOM_LIMITS

    def __init__(self, api: WecomApi, chat: PlainChat) -> None:
        self.api = api
        self.chat = chat
        self.windows = MemberWindows()

    def address_of(self, person: PersonView) -> str | None:
        return person.wecom_id

    async def send(self, address: str, reply: Reply) -> SendResult:
        """The text (in parts), then the attachment. What can fail before anything reaches
        the member is done first — the member's limits for every part, the upload — so that a
        retry seldom repeats a part already sent."""
        presented = await self.chat.present(address, reply)
        messages: list[dict[str, object]] = [
            {"msgtype": "text", "text": {"content": part}}
            for part in text_parts(presented.reply.text)]
        count = len(messages) + (reply.attachment is not None)
        wait = self.windows.wait(address, count)
        if wait > MAX_INLINE_WAIT:
            return SendResult(SendOutcome.RATE_LIMITED, retry_after=wait, error="member limit")
        await asyncio.sleep(wait)
        if reply.attachment is not None:
            try:
                messages.append(await self._uploaded(reply.attachment))
            except (WecomError, aiohttp.ClientError, TimeoutError) as error:
                return self._failure(error)
        put_back = await self.chat.offer(address, presented)
        result = SendResult(SendOutcome.SENT)
        for content in messages:
            result = await self._send(address, content)
            if result.outcome != SendOutcome.SENT:
                await put_back()
                return result
        return result

    async def _uploaded(self, attachment: Attachment) -> dict[str, object]:
        """The attachment as an image or file message (the chart is an image)."""
        kind = "image" if attachment.kind == "photo" else "file"
        media_id = await self.api.upload(kind, attachment.filename, attachment.data)
        return {"msgtype": kind, kind: {"media_id": media_id}}

    async def _send(self, address: str, content: dict[str, object]) -> SendResult:
        self.windows.record(address)
        try:
            answer = await self.api.send_message(address, content)
        except (WecomError, aiohttp.ClientError, TimeoutError) as error:
            return self._failure(error)
        errcode = int(answer.get("errcode", 0))
        if errcode != 0:
            return self._failure(WecomError(errcode, str(answer.get("errmsg", ""))))
        refused = {str(answer.get(k, "")).lower() for k in ("invaliduser", "unlicenseduser")}
        if address.lower() in "|".join(refused).split("|"):
            return SendResult(SendOutcome.UNREACHABLE, error="invaliduser")
        msgid = answer.get("msgid")
        return SendResult(SendOutcome.SENT, message_ref=str(msgid) if msgid else None)

    @staticmethod
    def _failure(error: Exception) -> SendResult:
        if not isinstance(error, WecomError):
            return SendResult(SendOutcome.TEMPORARY, error=f"{type(error).__name__} {error}"[:300])
        code, text = error.errcode, str(error)[:300]
        if code in RATE_LIMITED:
            return SendResult(SendOutcome.RATE_LIMITED, retry_after=RATE_LIMITED[code], error=text)
        if code in UNREACHABLE:
            return SendResult(SendOutcome.UNREACHABLE, error=text)
        if code in MISCONFIGURED:
            log.error("WeCom refuses Duban's requests (%s): %s", code, MISCONFIGURED[code])
            return SendResult(SendOutcome.TEMPORARY, error=text)
        if code == -1 or code in TOKEN_ERRORS:  # busy, HTTP errors, a token refused twice
            return SendResult(SendOutcome.TEMPORARY, error=text)
        return SendResult(SendOutcome.FAILED, error=text)
