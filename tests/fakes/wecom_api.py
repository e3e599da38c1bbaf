"""A fake WeCom (企业微信) for Duban's tests, over real HTTP on 127.0.0.1.

It plays both parts WeCom plays for a self-built app:

- the server API Duban calls: ``/cgi-bin/gettoken`` (40001 for a wrong secret, 40013 for a
  wrong corp id), ``/cgi-bin/message/send``, ``/cgi-bin/media/upload`` and ``/cgi-bin/media/get``
  (a file with its name in Content-Disposition, percent-encoded unless ``disposition`` says
  otherwise; an unknown media_id is 40007 as JSON). Access tokens expire
  (``expire_tokens()`` → 42001) or are revoked (``revoke_tokens()`` → 40014); ``fail_next``
  answers the next sends with any errcode (45009 app over its limit, 60020 IP not trusted,
  81013 member unreachable, -1 busy...); a member who ``left()`` gets 81013. Like WeCom, what
  one app sends one member beyond 30 a minute is dropped without an error (kept in
  ``dropped`` so tests can tell).
- the members who write to the app: ``member.send("任务")`` (or ``member.send_file(name,
  data)``, a file message whose media ``media/get`` serves) builds the message XML, encrypts
  it as WeCom does (AES-256-CBC, random prefix, length, CorpID, PKCS#7 to 32 bytes), signs it
  (``msg_signature``) and POSTs it to ``callback_url``; with no answer within 5 seconds it
  delivers again, up to three times, as WeCom does.

Start it with ``async with fake_wecom() as fake``; point Duban at it with
``make_settings(..., **fake.settings())``.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import itertools
import os
import secrets
import struct
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlencode

import aiohttp
from aiohttp import web
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

JsonDict = dict[str, Any]

CORP_ID = "ww0a1b2c3d4e5f6789"
SECRET = "fake-wecom-app-secret-0123456789"
AGENT_ID = 1000002
TOKEN = "DubanCallbackToken"
AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"  # 43 characters, as WeCom generates
TEXT_LIMIT = 2048
MEMBER_PER_MINUTE = 30
CALLBACK_TIMEOUT = 5.0
CALLBACK_TRIES = 3


def sign(token: str, timestamp: str, nonce: str, encrypted: str) -> str:
    return hashlib.sha1("".join(sorted([token, timestamp, nonce, encrypted])).encode()).hexdigest()


def encrypt(aes_key: str, receive_id: str, message: str) -> str:
    key = base64.b64decode(aes_key + "=")
    body = message.encode()
    plain = os.urandom(16) + struct.pack(">I", len(body)) + body + receive_id.encode()
    pad = 32 - len(plain) % 32
    plain += bytes([pad]) * pad
    encryptor = Cipher(algorithms.AES(key), modes.CBC(key[:16])).encryptor()
    return base64.b64encode(encryptor.update(plain) + encryptor.finalize()).decode()


def cdata(value: str) -> str:
    return "<![CDATA[" + value.replace("]]>", "]]]]><![CDATA[>") + "]]>"


def message_xml(fields: dict[str, str | int]) -> str:
    parts = (f"<{k}>{v if isinstance(v, int) else cdata(v)}</{k}>" for k, v in fields.items())
    return "<xml>" + "".join(parts) + "</xml>"


def percent_encoded(name: str) -> str:
    """A Content-Disposition naming the file percent-encoded, as Chinese APIs often do."""
    return f'attachment; filename="{quote(name)}"'


@dataclass
class Sent:
    """A message the app sent a member (``text`` is the content, or the file's name)."""

    user: str
    msgtype: str
    text: str
    msgid: str
    body: JsonDict = field(repr=False)


@dataclass
class CallbackAnswer:
    status: int | None  # None: no answer within the timeout
    text: str


class FakeWecom:
    def __init__(
        self, *, corp_id: str = CORP_ID, secret: str = SECRET, agent_id: int = AGENT_ID,
        token: str = TOKEN, aes_key: str = AES_KEY,
    ) -> None:
        self.corp_id = corp_id
        self.secret = secret
        self.agent_id = agent_id
        self.token = token
        self.aes_key = aes_key
        self.callback_url: str | None = None
        self.sent: list[Sent] = []
        self.dropped: list[Sent] = []
        self.uploads: dict[str, tuple[str, bytes]] = {}  # media_id → (name, data), both ways
        self.disposition: Callable[[str], str] = percent_encoded
        self.calls: list[tuple[str, int]] = []  # (path, errcode answered)
        self.gettoken_calls = 0
        self.callback_answers: list[CallbackAnswer] = []
        self._tokens: dict[str, float] = {}  # token → expiry (monotonic)
        self._faults: dict[str, list[tuple[int, str]]] = {}  # path → errcodes to answer
        self._left: set[str] = set()
        self._per_member: dict[str, list[float]] = {}
        self._msg_ids = itertools.count(7_000_000_000_000_000_001)
        self._changed = asyncio.Condition()
        self._resumed = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self._client: aiohttp.ClientSession | None = None
        self.port = 0

    # ---- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        self._changed = asyncio.Condition()
        self._resumed = asyncio.Event()
        self._resumed.set()
        app = web.Application()
        app.add_routes([
            web.get("/cgi-bin/gettoken", self._gettoken),
            web.post("/cgi-bin/message/send", self._send),
            web.post("/cgi-bin/media/upload", self._upload),
            web.get("/cgi-bin/media/get", self._media),
        ])
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = int(self._runner.addresses[0][1])
        self._client = aiohttp.ClientSession()

    async def stop(self) -> None:
        if self._client is not None:
            await self._client.close()
        if self._runner is not None:
            await self._runner.cleanup()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def settings(self) -> JsonDict:
        """The `DUBAN_WECOM_*` settings pointing Duban at this fake."""
        return {"wecom_corp_id": self.corp_id, "wecom_agent_id": self.agent_id,
                "wecom_secret": self.secret, "wecom_token": self.token,
                "wecom_aes_key": self.aes_key, "wecom_api_url": self.base_url}

    # ---- faults ------------------------------------------------------------------------------

    def fail_next(self, errcode: int, count: int = 1, errmsg: str = "injected",
                  path: str = "/cgi-bin/message/send") -> None:
        """Answer the next ``count`` calls of ``path`` (message/send or media/upload) with
        ``errcode`` (nothing delivered or stored)."""
        self._faults.setdefault(path, []).extend([(errcode, errmsg)] * count)

    def _fault(self, path: str) -> web.Response | None:
        faults = self._faults.get(path)
        return self._error(path, *faults.pop(0)) if faults else None

    def expire_tokens(self) -> None:
        self._tokens = dict.fromkeys(self._tokens, 0.0)

    def revoke_tokens(self) -> None:
        self._tokens.clear()

    def pause(self) -> None:
        """Hold every message/send until ``resume()`` (WeCom's API stalls)."""
        self._resumed.clear()

    def resume(self) -> None:
        self._resumed.set()

    def left(self, user: str) -> None:
        """The member left the company (or the app's visible range): sends to them get 81013."""
        self._left.add(user.lower())

    # ---- the API -----------------------------------------------------------------------------

    async def _gettoken(self, request: web.Request) -> web.Response:
        self.gettoken_calls += 1
        if request.query.get("corpid") != self.corp_id:
            return self._error("/cgi-bin/gettoken", 40013, "invalid corpid")
        if request.query.get("corpsecret") != self.secret:
            return self._error("/cgi-bin/gettoken", 40001, "invalid credential")
        token = secrets.token_urlsafe(24)
        self._tokens[token] = time.monotonic() + 7200
        self.calls.append(("/cgi-bin/gettoken", 0))
        return web.json_response({"errcode": 0, "errmsg": "ok", "access_token": token,
                                  "expires_in": 7200})

    def _token_error(self, request: web.Request) -> tuple[int, str] | None:
        token = request.query.get("access_token")
        if not token:
            return 41001, "access_token missing"
        if token not in self._tokens:
            return 40014, "invalid access_token"
        if self._tokens[token] <= time.monotonic():
            return 42001, "access_token expired"
        return None

    def _error(self, path: str, errcode: int, errmsg: str) -> web.Response:
        self.calls.append((path, errcode))
        return web.json_response({"errcode": errcode, "errmsg": errmsg})

    async def _send(self, request: web.Request) -> web.Response:
        await self._resumed.wait()
        path = "/cgi-bin/message/send"
        refused = self._token_error(request)
        if refused:
            return self._error(path, *refused)
        body: JsonDict = await request.json()
        if fault := self._fault(path):
            return fault
        if body.get("agentid") != self.agent_id:
            return self._error(path, 40056, "invalid agentid")
        user = str(body.get("touser", ""))
        if not user or user.lower() in self._left:
            return self._error(path, 81013, "user & party & tag all invalid")
        kind = str(body.get("msgtype"))
        content = body.get(kind) or {}
        if kind == "text":
            text = str(content.get("content", ""))
            if not text:
                return self._error(path, 44004, "empty content")
            if len(text.encode()) > TEXT_LIMIT:
                return self._error(path, 45002, "content size out of limit")
        elif kind in ("file", "image"):
            media = self.uploads.get(str(content.get("media_id")))
            if media is None:
                return self._error(path, 40007, "invalid media_id")
            text = media[0]
        else:
            return self._error(path, 40008, "invalid message type")
        msgid = f"msg{next(self._msg_ids)}"
        sent = Sent(user, kind, text, msgid, body)
        await self._deliver(sent)
        self.calls.append((path, 0))
        return web.json_response({"errcode": 0, "errmsg": "ok", "invaliduser": "",
                                  "msgid": msgid})

    async def _deliver(self, sent: Sent) -> None:
        now = time.monotonic()
        recent = [at for at in self._per_member.get(sent.user, []) if at > now - 60]
        self._per_member[sent.user] = [*recent, now]
        if len(recent) >= MEMBER_PER_MINUTE:
            self.dropped.append(sent)  # WeCom's answer is "ok" all the same
            return
        self.sent.append(sent)
        async with self._changed:
            self._changed.notify_all()

    async def _upload(self, request: web.Request) -> web.Response:
        path = "/cgi-bin/media/upload"
        refused = self._token_error(request)
        if refused:
            return self._error(path, *refused)
        if fault := self._fault(path):
            return fault
        reader = await request.multipart()
        part = await reader.next()
        if not isinstance(part, aiohttp.BodyPartReader) or part.name != "media":
            return self._error(path, 40004, "invalid media data")
        data = await part.read()
        media_id = f"media-{secrets.token_hex(8)}"
        self.uploads[media_id] = (part.filename or "file", bytes(data))
        self.calls.append((path, 0))
        return web.json_response({"errcode": 0, "errmsg": "ok", "type": request.query.get("type"),
                                  "media_id": media_id, "created_at": str(int(time.time()))})

    async def _media(self, request: web.Request) -> web.Response:
        path = "/cgi-bin/media/get"
        refused = self._token_error(request)
        if refused:
            return self._error(path, *refused)
        media = self.uploads.get(request.query.get("media_id", ""))
        if media is None:
            return self._error(path, 40007, "invalid media_id")
        self.calls.append((path, 0))
        name, data = media
        return web.Response(body=data, content_type="application/octet-stream",
                            headers={"Content-Disposition": self.disposition(name)})

    def media_from_member(self, filename: str, data: bytes) -> str:
        """A file a member sent, kept for ``media/get``: its media_id."""
        media_id = f"member-media-{secrets.token_hex(8)}"
        self.uploads[media_id] = (filename, data)
        return media_id

    # ---- members and the callback ------------------------------------------------------------

    def member(self, user: str) -> FakeMember:
        return FakeMember(self, user)

    def received(self, user: str) -> list[Sent]:
        return [s for s in self.sent if s.user.lower() == user.lower()]

    async def wait_for(
        self, user: str, predicate: Callable[[Sent], bool], after: int = 0,
        timeout: float = 10.0,  # noqa: ASYNC109 - part of the helper's API
    ) -> Sent:
        """The first message to ``user`` past their ``after`` first ones that matches."""

        def match() -> Sent | None:
            return next((s for s in self.received(user)[after:] if predicate(s)), None)

        async with asyncio.timeout(timeout), self._changed:
            await self._changed.wait_for(lambda: match() is not None)
        found = match()
        assert found is not None
        return found

    def envelope(self, message: str, *, corp_id: str | None = None) -> tuple[JsonDict, str]:
        """Query parameters and body of a callback carrying ``message``, as WeCom builds them."""
        encrypted = encrypt(self.aes_key, corp_id or self.corp_id, message)
        timestamp, nonce = str(int(time.time())), str(secrets.randbelow(10**10))
        params = {"msg_signature": sign(self.token, timestamp, nonce, encrypted),
                  "timestamp": timestamp, "nonce": nonce}
        body = message_xml({"ToUserName": self.corp_id, "Encrypt": encrypted,
                            "AgentID": str(self.agent_id)})
        return params, body

    async def post(self, params: JsonDict, body: str) -> CallbackAnswer:
        """One POST to the callback URL, with WeCom's 5-second patience."""
        assert self._client is not None and self.callback_url is not None
        url = f"{self.callback_url}?{urlencode(params)}"
        timeout = aiohttp.ClientTimeout(total=CALLBACK_TIMEOUT)
        try:
            async with self._client.post(url, data=body.encode(), timeout=timeout,
                                         headers={"Content-Type": "text/xml"}) as response:
                answer = CallbackAnswer(response.status, await response.text())
        except (TimeoutError, aiohttp.ClientError):
            answer = CallbackAnswer(None, "")
        self.callback_answers.append(answer)
        return answer

    async def deliver(self, message: str) -> CallbackAnswer:
        """Deliver a message as WeCom does: again when no answer comes, three tries at most."""
        params, body = self.envelope(message)
        for _ in range(CALLBACK_TRIES):
            answer = await self.post(params, body)
            if answer.status is not None:
                break
        return answer

    async def verify_url(self, echo: str, *, signature: str | None = None) -> CallbackAnswer:
        """The GET WeCom sends when an admin saves the callback URL."""
        assert self._client is not None and self.callback_url is not None
        encrypted = encrypt(self.aes_key, self.corp_id, echo)
        timestamp, nonce = str(int(time.time())), "1372623149"
        params = {"msg_signature": signature or sign(self.token, timestamp, nonce, encrypted),
                  "timestamp": timestamp, "nonce": nonce, "echostr": encrypted}
        async with self._client.get(self.callback_url, params=params) as response:
            return CallbackAnswer(response.status, await response.text())


@asynccontextmanager
async def fake_wecom(**options: Any) -> AsyncIterator[FakeWecom]:
    """A started fake, stopped on leaving."""
    fake = FakeWecom(**options)
    await fake.start()
    try:
        yield fake
    finally:
        await fake.stop()


class FakeMember:
    """A member of the company writing to the app."""

    def __init__(self, fake: FakeWecom, user: str) -> None:
        self.fake = fake
        self.user = user

    def text_message(self, text: str, msg_id: int | None = None) -> str:
        return message_xml({
            "ToUserName": self.fake.corp_id, "FromUserName": self.user,
            "CreateTime": int(time.time()), "MsgType": "text", "Content": text,
            "MsgId": msg_id or secrets.randbelow(2**63), "AgentID": self.fake.agent_id,
        })

    async def send(self, text: str) -> CallbackAnswer:
        return await self.fake.deliver(self.text_message(text))

    async def send_file(self, filename: str, data: bytes, *, named: bool = True) -> CallbackAnswer:
        """A file message; ``named=False`` leaves out FileName and FileSize, so that only
        ``media/get`` tells the name."""
        fields: dict[str, str | int] = {
            "ToUserName": self.fake.corp_id, "FromUserName": self.user,
            "CreateTime": int(time.time()), "MsgType": "file",
            "MediaId": self.fake.media_from_member(filename, data)}
        if named:
            fields.update(FileName=filename, FileSize=len(data))
        fields.update(MsgId=secrets.randbelow(2**63), AgentID=self.fake.agent_id)
        return await self.fake.deliver(message_xml(fields))

    async def click(self, key: str) -> CallbackAnswer:
        """A custom menu item with this key, pressed."""
        return await self.fake.deliver(message_xml({
            "ToUserName": self.fake.corp_id, "FromUserName": self.user,
            "CreateTime": int(time.time()), "MsgType": "event", "Event": "click",
            "EventKey": key, "AgentID": self.fake.agent_id,
        }))

    def received(self) -> list[str]:
        return [s.text for s in self.fake.received(self.user)]

    async def ask(self, text: str, expect: str | None = None) -> str:
        """Send a message and wait for the app's next message to this member (optionally the
        next one containing ``expect``)."""
        before = len(self.fake.received(self.user))
        answer = await self.send(text)
        assert answer.status == 200, answer
        return await self.wait_for(expect, after=before)

    async def wait_for(self, expect: str | None = None, after: int = 0) -> str:
        sent = await self.fake.wait_for(self.user, lambda s: expect is None or expect in s.text,
                                        after=after)
        return sent.text
