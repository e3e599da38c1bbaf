"""The WeCom server API as Duban uses it: an access token (cached until shortly before it
expires, fetched again when WeCom calls it invalid or expired), `message/send`, `media/upload`
and `media/get`. `DUBAN_WECOM_API_URL` points it at any compatible server."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

import aiohttp

from config.logging import secret_filter
from config.settings import Settings

log = logging.getLogger(__name__)

# invalid access_token, missing access_token, access_token expired: fetch a new one, retry once.
TOKEN_ERRORS = frozenset({40014, 41001, 42001})
TOKEN_MARGIN = 300.0  # renew this long before WeCom's expiry, so no request carries a stale one
TIMEOUT = aiohttp.ClientTimeout(total=20)
DOWNLOAD_TIMEOUT = aiohttp.ClientTimeout(total=60)  # a member's file may be a few MB


class WecomError(Exception):
    """WeCom answered with a non-zero errcode (or an HTTP error: errcode -1)."""

    def __init__(self, errcode: int, errmsg: str) -> None:
        super().__init__(f"{errcode} {errmsg}")
        self.errcode = errcode
        self.errmsg = errmsg


@dataclass(frozen=True)
class Media:
    """A file a member sent, as `media/get` announces it; `read` downloads it."""

    filename: str
    size: int | None
    read: Callable[[], Awaitable[bytes]]


class WecomApi:
    def __init__(self, settings: Settings) -> None:
        assert settings.wecom_secret is not None and settings.wecom_agent_id is not None
        self.base = settings.wecom_api_url
        self.corp_id = settings.wecom_corp_id
        self.secret = settings.wecom_secret.get_secret_value()
        self.agent_id = settings.wecom_agent_id
        self._session: aiohttp.ClientSession | None = None
        self._token: str | None = None
        self._token_until = 0.0
        self._lock = asyncio.Lock()

    async def send_message(self, user_id: str, content: dict[str, Any]) -> dict[str, Any]:
        """`content` is the type-specific part, e.g. {"msgtype": "text", "text": {...}}. The
        answer is returned as it is, errcode included: what an errcode means is the caller's."""
        body = {"touser": user_id, "agentid": self.agent_id, **content}
        return await self._call("POST", "/cgi-bin/message/send", {}, lambda: {"json": body})

    async def upload(self, kind: str, filename: str, data: bytes) -> str:
        """A temporary media file (3 days), for a file or image message: its media_id."""
        def form() -> dict[str, Any]:  # a form is used up by one request: one per attempt
            fields = aiohttp.FormData(quote_fields=False)  # WeCom shows the name as sent
            fields.add_field("media", data, filename=filename)
            return {"data": fields}

        answer = await self._call("POST", "/cgi-bin/media/upload", {"type": kind}, form)
        if answer.get("errcode", 0) != 0:
            raise WecomError(int(answer["errcode"]), str(answer.get("errmsg", "")))
        return str(answer["media_id"])

    @asynccontextmanager
    async def media(self, media_id: str) -> AsyncIterator[Media]:
        """`media/get` (a member's file, kept 3 days) with only the headers read: the name
        (Content-Disposition) and size are known before the body is downloaded, or not at all.
        WeCom answers an error as JSON, without Content-Disposition."""
        for attempt in (1, 2):
            token = await self.token()
            params = {"access_token": token, "media_id": media_id}
            async with self._http().get(self.base + "/cgi-bin/media/get", params=params,
                                        timeout=DOWNLOAD_TIMEOUT) as response:
                if response.status >= 400:
                    raise WecomError(-1, f"HTTP {response.status}")
                if response.content_disposition is not None:
                    # Names come quoted as sent, percent-encoded or RFC 5987 (filename*=).
                    name = unquote(response.content_disposition.filename or "")
                    yield Media(name, response.content_length, response.read)
                    return
                answer = await response.json(content_type=None)
            errcode = int(answer.get("errcode", -1))
            if errcode in TOKEN_ERRORS and attempt == 1:
                self._forget(token)
                continue
            raise WecomError(errcode, str(answer.get("errmsg", "")))

    async def download(self, media_id: str) -> bytes:
        async with self.media(media_id) as media:
            return await media.read()

    async def token(self) -> str:
        async with self._lock:
            if self._token is None or time.monotonic() >= self._token_until:
                await self._fetch_token()
            assert self._token is not None
            return self._token

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    async def _fetch_token(self) -> None:
        params = {"corpid": self.corp_id, "corpsecret": self.secret}
        answer = await self._request("GET", "/cgi-bin/gettoken", params=params)
        if answer.get("errcode", 0) != 0:
            raise WecomError(int(answer["errcode"]), str(answer.get("errmsg", "")))
        self._token = str(answer["access_token"])
        secret_filter.add(self._token)
        self._token_until = time.monotonic() + float(answer.get("expires_in", 7200)) - TOKEN_MARGIN

    def _forget(self, token: str) -> None:
        if self._token == token:
            self._token = None

    async def _call(
        self, method: str, path: str, params: dict[str, str],
        body: Callable[[], dict[str, Any]],
    ) -> dict[str, Any]:
        for attempt in (1, 2):
            token = await self.token()
            answer = await self._request(method, path, params={**params, "access_token": token},
                                         **body())
            if answer.get("errcode") in TOKEN_ERRORS and attempt == 1:
                log.info("WeCom refused the access token (%s); fetching a new one",
                         answer.get("errcode"))
                self._forget(token)
                continue
            return answer
        return answer

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=TIMEOUT)
        return self._session

    async def _request(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        async with self._http().request(method, self.base + path, **kwargs) as response:
            if response.status >= 400:
                raise WecomError(-1, f"HTTP {response.status}")
            answer: dict[str, Any] = await response.json(content_type=None)
            return answer
