"""Pushing the bureau's summary into leadership groups through robot webhooks (WeCom, DingTalk,
Feishu): markdown cut at line boundaries within each robot's size limit, paced under its rate
limit, DingTalk and Feishu requests signed with the secret given in the URL.

Each robot gets a run once, also with several copies running: the robot's turn is claimed in
`job_runs` before sending and marked sent after. A claim whose owner died mid-way (no `sent`
mark after CLAIM_LEASE) is taken over by the next try; one that failed for good is released,
so a restart within the catch-up grace tries again. URLs are secrets: logs name robots by kind
and position only."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import html
import json
import logging
import os
import re
import secrets
import socket
import time
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum
from typing import Any
from urllib.parse import quote_plus

import aiohttp
from sqlalchemy import delete, update

from config.robots import Robot, RobotKind
from core.app import Core
from core.delivery import ChatLimits
from core.summary.messages import bureau_html
from core.texts import plain
from core.views import split_message
from scheduler.pacing import Monotonic, Pacer, Sleep
from storage.models import JobRun
from storage.queries import insert_ignore

log = logging.getLogger(__name__)

CLAIM_LEASE = timedelta(minutes=10)
TRIES = 4
RATE_LIMIT_WAIT = 60.0
BACKOFF = 5.0
REQUEST_TIMEOUT = 20
PROCESS = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


@dataclass(frozen=True)
class RobotLimits:
    """Documented limits: WeCom markdown.content ≤ 4096 bytes and 20 messages a minute;
    DingTalk a request body ≤ 20000 bytes (markdown stops rendering well past ~3500
    characters) and 20 a minute; Feishu a request body ≤ 20 KB, 100 a minute, 5 a second."""

    text_bytes: int
    pacing: ChatLimits
    rate_limited: frozenset[int]  # the robot's own error codes for "too fast"


LIMITS = {
    RobotKind.WECOM: RobotLimits(4000, ChatLimits(3.0, 20), frozenset({45009})),
    RobotKind.DINGTALK: RobotLimits(6000, ChatLimits(3.0, 20), frozenset({130101, 410100})),
    RobotKind.FEISHU: RobotLimits(12000, ChatLimits(0.2, 100), frozenset({11232, 99991400})),
}


class Outcome(StrEnum):
    SENT = "sent"
    RATE_LIMITED = "rate_limited"
    TEMPORARY = "temporary"
    FAILED = "failed"


# ---- markdown ----------------------------------------------------------------------------------

_BOLD = re.compile(r"</?b>")
_OTHER_TAG = re.compile(r"<[^>]+>")


def markdown(text: str, kind: RobotKind) -> str:
    """Our HTML subset as the robots' markdown: bold as **, indented lines indented with
    ideographic spaces (four ASCII spaces would start a code block); DingTalk breaks a line only
    after two spaces."""
    text = html.unescape(_OTHER_TAG.sub("", _BOLD.sub("**", text)))
    text = text.replace("\n    ", "\n\u3000\u3000")
    if kind == RobotKind.DINGTALK:
        text = text.replace("\n", "  \n")
    return text


def parts_for(text: str, kind: RobotKind) -> list[str]:
    limit = LIMITS[kind].text_bytes
    pieces = split_message(text, limit, measure=lambda s: len(markdown(s, kind).encode()))
    return [markdown(piece, kind) for piece in pieces]


def payload(robot: Robot, title: str, content: str, now: float) -> dict[str, Any]:
    if robot.kind == RobotKind.WECOM:
        return {"msgtype": "markdown", "markdown": {"content": content}}
    if robot.kind == RobotKind.DINGTALK:
        return {"msgtype": "markdown", "markdown": {"title": title, "text": content}}
    body: dict[str, Any] = {"msg_type": "interactive", "card": {
        "header": {"title": {"tag": "plain_text", "content": title}},
        "elements": [{"tag": "div", "text": {"tag": "lark_md", "content": content}}],
    }}
    if robot.secret:
        timestamp = str(int(now))
        body.update(timestamp=timestamp, sign=feishu_sign(robot.secret, timestamp))
    return body


def request_url(robot: Robot, now: float) -> str:
    if robot.kind != RobotKind.DINGTALK or not robot.secret:
        return robot.url
    timestamp = str(int(now * 1000))
    sign = quote_plus(dingtalk_sign(robot.secret, timestamp))
    return f"{robot.url}&timestamp={timestamp}&sign={sign}"


def dingtalk_sign(secret: str, timestamp_ms: str) -> str:
    """HmacSHA256 keyed with the secret over "timestamp\\nsecret", Base64."""
    digest = hmac.new(secret.encode(), f"{timestamp_ms}\n{secret}".encode(), hashlib.sha256)
    return base64.b64encode(digest.digest()).decode()


def feishu_sign(secret: str, timestamp_s: str) -> str:
    """HmacSHA256 keyed with "timestamp\\nsecret" over nothing, Base64."""
    digest = hmac.new(f"{timestamp_s}\n{secret}".encode(), b"", hashlib.sha256)
    return base64.b64encode(digest.digest()).decode()


# ---- sending -----------------------------------------------------------------------------------

class RobotPusher:
    def __init__(self, core: Core, session: aiohttp.ClientSession, *, worker: str = PROCESS,
                 monotonic: Monotonic = time.monotonic, sleep: Sleep = asyncio.sleep) -> None:
        self.core = core
        self.session = session
        self.worker = worker
        self.sleep = sleep
        self.pacer = Pacer(1000, monotonic, sleep)

    async def push(self, run_key: str) -> dict[str, bool]:
        """The bureau's summary to every robot not yet done for this run: {robot id: sent}."""
        robots = self.core.settings.robots
        if not robots:
            return {}
        text = await bureau_html(self.core)
        title = plain(text.split("\n", 1)[0])
        results = {}
        for number, robot in enumerate(robots, start=1):
            key = f"robot:{run_key}:{robot.id}"
            if not await self._claim(key):
                continue
            sent = await self._send_all(robot, number, title, parts_for(text, robot.kind))
            await (self._mark_sent(key) if sent else self._release(key))
            results[robot.id] = sent
        return results

    async def _send_all(self, robot: Robot, number: int, title: str, parts: list[str]) -> bool:
        for index, content in enumerate(parts, start=1):
            heading = f"{title} ({index}/{len(parts)})" if len(parts) > 1 else title
            outcome = await self._send(robot, heading, content)
            if outcome != Outcome.SENT:
                log.error("group robot #%d (%s): summary part %d/%d not sent (%s)",
                          number, robot.kind, index, len(parts), outcome)
                return False
        log.info("group robot #%d (%s): summary sent in %d part(s)", number, robot.kind,
                 len(parts))
        return True

    async def _send(self, robot: Robot, title: str, content: str) -> Outcome:
        limits = LIMITS[robot.kind]
        outcome = Outcome.TEMPORARY
        for attempt in range(TRIES):
            await self.pacer.acquire(f"robot:{robot.id}", limits.pacing, group=True)
            outcome = await self._post(robot, title, content)
            if outcome in (Outcome.SENT, Outcome.FAILED):
                return outcome
            wait = RATE_LIMIT_WAIT if outcome == Outcome.RATE_LIMITED else BACKOFF * 2 ** attempt
            await self.sleep(wait)
        return outcome

    async def _post(self, robot: Robot, title: str, content: str) -> Outcome:
        now = self.core.clock.now().timestamp()
        body = json.dumps(payload(robot, title, content, now), ensure_ascii=False).encode()
        try:
            async with self.session.post(
                request_url(robot, now), data=body,
                headers={"Content-Type": "application/json; charset=utf-8"},
                timeout=aiohttp.ClientTimeout(total=REQUEST_TIMEOUT),
            ) as response:
                if response.status == 429:
                    return Outcome.RATE_LIMITED
                if response.status >= 500:
                    return Outcome.TEMPORARY
                answer = await response.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError, ValueError):
            return Outcome.TEMPORARY
        code = int(answer.get("errcode", answer.get("code", -1)))
        if code == 0:
            return Outcome.SENT
        if code in LIMITS[robot.kind].rate_limited:
            return Outcome.RATE_LIMITED
        log.warning("group robot (%s) refused the summary: %s %s", robot.kind, code,
                    str(answer.get("errmsg", answer.get("msg", "")))[:200])
        return Outcome.FAILED

    # ---- once per run --------------------------------------------------------------------------

    async def _claim(self, key: str) -> bool:
        now = self.core.clock.now()
        async with self.core.db.write() as session:
            if await session.get(JobRun, f"{key}:sent") is not None:
                return False
            row = {"run_key": key, "owner": self.worker, "created_at": now}
            if await insert_ignore(session, JobRun, [row], ["run_key"]):
                return True
            # Taken, but its owner has not finished within the lease: it died; take over.
            taken = await session.execute(
                update(JobRun).where(JobRun.run_key == key,
                                     JobRun.created_at < now - CLAIM_LEASE)
                .values(owner=self.worker, created_at=now))
            return bool(taken.rowcount)  # type: ignore[attr-defined]

    async def _mark_sent(self, key: str) -> None:
        row = {"run_key": f"{key}:sent", "owner": self.worker,
               "created_at": self.core.clock.now()}
        async with self.core.db.write() as session:
            await insert_ignore(session, JobRun, [row], ["run_key"])

    async def _release(self, key: str) -> None:
        async with self.core.db.write() as session:
            await session.execute(delete(JobRun).where(JobRun.run_key == key,
                                                       JobRun.owner == self.worker))


async def push_summary(core: Core, run_key: str) -> dict[str, bool]:
    if not core.settings.robots:
        return {}
    async with aiohttp.ClientSession() as session:
        return await RobotPusher(core, session).push(run_key)

