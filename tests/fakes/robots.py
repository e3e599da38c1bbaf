"""A fake group-robot webhook server (WeCom, DingTalk, Feishu) on 127.0.0.1, answering as the
real ones document: their paths, JSON shapes and error codes, size limits, per-robot rate
limits, and DingTalk's and Feishu's request signatures.

    async with FakeRobots(clock=..., monotonic=...) as robots:
        url = robots.url("dingtalk", secret="SEC123")      # what goes in DUBAN_SUMMARY_WEBHOOKS
        ...
        robots.received["dingtalk"]                         # the accepted payloads
        robots.fail_next("wecom", status=502)               # or errcode=45009
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from collections import defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from aiohttp import web

JsonDict = dict[str, Any]

WECOM_CONTENT_BYTES = 4096
DINGTALK_BODY_BYTES = 20000
FEISHU_BODY_BYTES = 20 * 1024
SIGNATURE_WINDOW = 3600  # seconds between the request's timestamp and the server's clock


@dataclass
class _Robot:
    kind: str
    token: str
    secret: str | None
    sends: deque[float] = field(default_factory=deque)


@dataclass
class _Fault:
    status: int = 200
    errcode: int | None = None


class FakeRobots:
    def __init__(self, clock: Callable[[], datetime],
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.monotonic = monotonic
        self.robots: dict[str, _Robot] = {}
        self.received: dict[str, list[JsonDict]] = defaultdict(list)
        self.refused: list[tuple[str, int, str]] = []  # (kind, code, message)
        self._faults: dict[str, list[_Fault]] = defaultdict(list)
        self._runner: web.AppRunner | None = None
        self.base_url = ""

    async def __aenter__(self) -> FakeRobots:
        app = web.Application()
        app.router.add_post("/cgi-bin/webhook/send", self._wecom)
        app.router.add_post("/robot/send", self._dingtalk)
        app.router.add_post("/open-apis/bot/v2/hook/{token}", self._feishu)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.base_url = f"http://127.0.0.1:{port}"
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    def url(self, kind: str, secret: str | None = None) -> str:
        """A new robot of `kind`, and its webhook URL in the form Duban accepts."""
        token = secrets.token_hex(8)
        self.robots[token] = _Robot(kind, token, secret)
        suffix = f"secret={secret}" if secret else ""
        if kind == "wecom":
            return f"{self.base_url}/cgi-bin/webhook/send?key={token}"
        if kind == "dingtalk":
            url = f"{self.base_url}/robot/send?access_token={token}"
            return url + (f"&{suffix}" if suffix else "")
        url = f"{self.base_url}/open-apis/bot/v2/hook/{token}"
        return url + (f"?{suffix}" if suffix else "")

    def fail_next(self, kind: str, status: int = 200, errcode: int | None = None) -> None:
        self._faults[kind].append(_Fault(status, errcode))

    # ---- the three robots ----------------------------------------------------------------------

    async def _wecom(self, request: web.Request) -> web.StreamResponse:
        robot = self.robots.get(request.query.get("key", ""))
        if robot is None or robot.kind != "wecom":
            return self._error("wecom", 93000, "invalid webhook url")
        if (fault := self._fault("wecom")) is not None:
            return fault
        body = await request.json()
        content = body.get("markdown", {}).get("content")
        if body.get("msgtype") != "markdown" or not isinstance(content, str) or not content:
            return self._error("wecom", 40008, "invalid message type")
        if len(content.encode()) > WECOM_CONTENT_BYTES:
            return self._error("wecom", 40058, "markdown.content exceed max length 4096")
        if not self._pace(robot, per_minute=20):
            return self._error("wecom", 45009, "api freq out of limit")
        return self._accept("wecom", body, {"errcode": 0, "errmsg": "ok"})

    async def _dingtalk(self, request: web.Request) -> web.StreamResponse:
        query = request.query
        robot = self.robots.get(query.get("access_token", ""))
        if robot is None or robot.kind != "dingtalk":
            return self._error("dingtalk", 300001, "token is not exist")
        if "secret" in query:
            return self._error("dingtalk", 310000, "the secret must never be sent")
        if robot.secret and not self._dingtalk_signed(robot.secret, query):
            return self._error("dingtalk", 310000, "sign not match")
        if (fault := self._fault("dingtalk")) is not None:
            return fault
        raw = await request.read()
        if len(raw) > DINGTALK_BODY_BYTES:
            return self._error("dingtalk", 460101, "message too long, exceed 20000 bytes")
        body = json.loads(raw)
        markdown = body.get("markdown", {})
        if (body.get("msgtype") != "markdown" or not markdown.get("title")
                or not markdown.get("text")):
            return self._error("dingtalk", 40035, "缺少参数 markdown")
        if not self._pace(robot, per_minute=20):
            return self._error("dingtalk", 130101, "send too fast, exceed 20 times per minute")
        return self._accept("dingtalk", body, {"errcode": 0, "errmsg": "ok"})

    async def _feishu(self, request: web.Request) -> web.StreamResponse:
        robot = self.robots.get(request.match_info["token"])
        if robot is None or robot.kind != "feishu":
            return self._error("feishu", 19001, "param invalid: incoming webhook access token",
                               key="code")
        if request.query:
            return self._error("feishu", 9499, "Bad Request", key="code")
        raw = await request.read()
        if len(raw) > FEISHU_BODY_BYTES:
            return self._error("feishu", 9499, "Bad Request", key="code")
        body = json.loads(raw)
        if robot.secret and not self._feishu_signed(robot.secret, body):
            return self._error("feishu", 19021, "sign match fail or timestamp is not within one "
                               "hour from current time", key="code")
        if (fault := self._fault("feishu")) is not None:
            return fault
        card = body.get("card", {})
        elements = card.get("elements") or []
        if (body.get("msg_type") != "interactive" or not card.get("header", {}).get("title")
                or not elements or elements[0].get("text", {}).get("tag") != "lark_md"):
            return self._error("feishu", 9499, "Bad Request", key="code")
        if not self._pace(robot, per_minute=100, per_second=5):
            return self._error("feishu", 11232, "frequency limited", key="code")
        return self._accept("feishu", body, {"code": 0, "msg": "success", "data": {}})

    # ---- checks --------------------------------------------------------------------------------

    def _dingtalk_signed(self, secret: str, query: Any) -> bool:
        timestamp, sign = query.get("timestamp", ""), query.get("sign", "")
        if not timestamp.isdigit() or abs(int(timestamp) / 1000 - self._now()) > SIGNATURE_WINDOW:
            return False
        digest = hmac.new(secret.encode(), f"{timestamp}\n{secret}".encode(), hashlib.sha256)
        # aiohttp has already url-decoded the query value.
        return hmac.compare_digest(sign, base64.b64encode(digest.digest()).decode())

    def _feishu_signed(self, secret: str, body: JsonDict) -> bool:
        timestamp, sign = str(body.get("timestamp", "")), str(body.get("sign", ""))
        if not timestamp.isdigit() or abs(int(timestamp) - self._now()) > SIGNATURE_WINDOW:
            return False
        digest = hmac.new(f"{timestamp}\n{secret}".encode(), b"", hashlib.sha256)
        return hmac.compare_digest(sign, base64.b64encode(digest.digest()).decode())

    def _pace(self, robot: _Robot, per_minute: int, per_second: int | None = None) -> bool:
        now = self.monotonic()
        while robot.sends and robot.sends[0] <= now - 60:
            robot.sends.popleft()
        last_second = sum(1 for at in robot.sends if at > now - 1)
        if len(robot.sends) >= per_minute or (per_second and last_second >= per_second):
            return False
        robot.sends.append(now)
        return True

    def _now(self) -> float:
        return self.clock().timestamp()

    def _fault(self, kind: str) -> web.StreamResponse | None:
        if not self._faults[kind]:
            return None
        fault = self._faults[kind].pop(0)
        if fault.status != 200:
            return web.Response(status=fault.status, text="injected failure")
        key = "code" if kind == "feishu" else "errcode"
        return self._error(kind, fault.errcode or 0, "injected failure", key=key)

    def _error(
        self, kind: str, code: int, message: str, key: str = "errcode"
    ) -> web.StreamResponse:
        self.refused.append((kind, code, message))
        text_key = "msg" if key == "code" else "errmsg"
        return web.json_response({key: code, text_key: message})

    def _accept(self, kind: str, body: JsonDict, answer: JsonDict) -> web.StreamResponse:
        self.received[kind].append(body)
        return web.json_response(answer)
