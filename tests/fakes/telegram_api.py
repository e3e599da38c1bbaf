"""A fake Telegram Bot API server for Duban's tests, driven over real HTTP.

Point a real aiogram ``Bot`` at it (``fake.make_bot()`` or
``Bot(token, session=AiohttpSession(api=TelegramAPIServer.from_base(fake.base_url)))``)
and the bot talks to an aiohttp server on 127.0.0.1 that answers like Telegram does:
the same JSON envelope, status codes and error descriptions, flood limits (429 with
``retry_after``), HTML entity parsing, long polling with offset confirmation and 409
conflicts, webhooks with secret tokens and retries, file uploads and downloads.

Tests simulate people with ``fake.user(...)`` / ``fake.group(...)`` (their messages and
button presses become updates), inspect what the bot sent with ``fake.sent_to(chat_id)``
and wait for it with ``await fake.wait_for_message(...)``. Faults can be injected with
``fail_next``, ``block``, ``set_faults`` and ``pause``.

Run it stand-alone for manual tries (prints the base URL on the first line)::

    python -m tests.fakes.telegram_api --port 8081

and drive it over ``POST /_control/user_message`` and ``GET /_control/sent?chat_id=N``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import mimetypes
import random
import re
import secrets
import signal
import struct
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, TypedDict

import aiohttp
from aiohttp import web

from tests.fakes.telegram_limits import RateLimiter, RateLimits
from tests.fakes.telegram_text import (
    EntityParseError,
    FormattedText,
    command_entities,
    parse_formatted,
    trim,
    utf16_len,
)

if TYPE_CHECKING:
    # aiogram takes seconds to import; only the helpers that build a Bot need it.
    from aiogram import Bot
    from aiogram.client.telegram import TelegramAPIServer

JsonDict = dict[str, Any]
Slowness = Literal["slow", "stall"] | None
MessagePredicate = Callable[[JsonDict], bool]

DEFAULT_TOKEN = "1234567890:AAFakeTokenForDuban-tests_0123456789"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"

_TOKEN_RE = re.compile(r"^(\d+):[\w-]+$", re.ASCII)
_SECRET_RE = re.compile(r"^[A-Za-z0-9_-]{1,256}$")
_COMMAND_NAME_RE = re.compile(r"^[A-Za-z0-9_]{1,32}$")

MAX_TEXT = 4096
MAX_CAPTION = 1024
MAX_CALLBACK_DATA = 64
MAX_DOWNLOAD = 20 * 1024 * 1024  # getFile refuses bigger files
MAX_PHOTO_UPLOAD = 10 * 1024 * 1024
MAX_DOCUMENT_UPLOAD = 50 * 1024 * 1024

NOT_MODIFIED = (
    "message is not modified: specified new message content and reply markup are exactly "
    "the same as a current content and reply markup of the message"
)
TERMINATED = (
    "Conflict: terminated by other getUpdates request; "
    "make sure that only one bot instance is running"
)
WEBHOOK_ACTIVE = (
    "Conflict: can't use getUpdates method while webhook is active; "
    "use deleteWebhook to delete the webhook first"
)
QUERY_INVALID = "query is too old and response timeout expired or query ID is invalid"

_FAULT_DESCRIPTIONS = {
    400: "Bad Request: injected failure",
    401: "Unauthorized",
    403: "Forbidden: bot was blocked by the user",
    404: "Not Found",
    409: "Conflict: injected failure",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}

# Update types Telegram leaves out unless a bot asks for them in allowed_updates.
_OPT_IN_UPDATES = frozenset({"chat_member", "message_reaction", "message_reaction_count"})

_CHAT_ACTIONS = frozenset(
    {
        "typing", "upload_photo", "record_video", "upload_video", "record_voice",
        "upload_voice", "upload_document", "choose_sticker", "find_location",
        "record_video_note", "upload_video_note",
    }
)  # fmt: skip

_BUTTON_ACTIONS = (
    "callback_data", "url", "web_app", "login_url", "switch_inline_query",
    "switch_inline_query_current_chat", "switch_inline_query_chosen_chat", "copy_text",
    "callback_game", "pay",
)  # fmt: skip

# String parameters that must never be JSON-decoded even if they look like JSON.
_TEXT_FIELDS = frozenset(
    {
        "text", "caption", "title", "description", "short_description", "name", "query",
        "question", "explanation", "secret_token", "url", "data", "callback_data",
        "first_name", "last_name", "address", "payload", "start_parameter", "custom_title",
        "emoji", "message_text", "file_id", "callback_query_id", "parse_mode", "chat_id",
        "action", "language_code",
    }
)  # fmt: skip

# Methods that really deliver a message and therefore count against flood limits.
_SEND_METHODS = frozenset({"sendMessage", "sendPhoto", "sendDocument"})


# --------------------------------------------------------------------------- records


class Stats(TypedDict):
    """Counters kept by the fake; ``by_method`` counts every request per API method."""

    sends_ok: int
    rate_limited: int
    per_chat_violations: int
    global_violations: int
    errors_injected: int
    by_method: dict[str, int]


@dataclass
class UploadedFile:
    """A file part of a multipart request."""

    filename: str
    data: bytes
    content_type: str | None = None


@dataclass
class StoredFile:
    """A file Telegram knows: its bytes can be fetched via getFile + /file/bot.../path."""

    file_id: str
    file_unique_id: str
    file_path: str
    data: bytes
    file_name: str | None = None
    mime_type: str | None = None
    width: int = 0
    height: int = 0
    url: str | None = None  # sent by URL: the fake does not download it

    def as_file(self) -> JsonDict:
        return {
            "file_id": self.file_id,
            "file_unique_id": self.file_unique_id,
            "file_size": len(self.data),
            "file_path": self.file_path,
        }

    def as_document(self) -> JsonDict:
        document: JsonDict = {
            "file_id": self.file_id,
            "file_unique_id": self.file_unique_id,
            "file_size": len(self.data),
        }
        if self.file_name:
            document["file_name"] = self.file_name
        if self.mime_type:
            document["mime_type"] = self.mime_type
        return document

    def as_photo(self) -> list[JsonDict]:
        size = {
            "file_id": self.file_id,
            "file_unique_id": self.file_unique_id,
            "width": self.width,
            "height": self.height,
            "file_size": len(self.data),
        }
        return [size]


@dataclass(frozen=True)
class ApiCall:
    """One request the bot made (``time`` is time.monotonic() when it arrived)."""

    method: str
    params: JsonDict
    status: int
    time: float
    chat_id: int | None
    description: str | None = None
    files: dict[str, UploadedFile] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.status == 200


@dataclass
class FaultSettings:
    """Random faults (see ``FakeTelegram.set_faults``)."""

    p_5xx: float = 0.0
    p_timeout: float = 0.0
    p_stall: float = 0.0
    timeout_seconds: float = 5.0
    methods: frozenset[str] | None = None  # lower-case names; None = all but polling


@dataclass
class _Fault:
    method: str | None  # lower-case; None matches every method
    status: int
    description: str
    retry_after: int | None
    remaining: int
    chat_id: int | None

    def matches(self, method: str, chat_id: int | None) -> bool:
        if self.method is not None and self.method != method.lower():
            return False
        return self.chat_id is None or self.chat_id == chat_id


@dataclass
class _Webhook:
    url: str
    token: str
    secret_token: str | None
    max_connections: int
    allowed_updates: list[str] | None
    last_error_date: int | None = None
    last_error_message: str | None = None
    failures: int = 0


@dataclass
class _Described:
    """A successful result that Telegram accompanies with a description."""

    value: Any
    description: str


@dataclass
class _Ctx:
    """What a method handler gets: the canonical method name and decoded parameters."""

    method: str
    token: str
    bot_id: int
    params: JsonDict
    files: dict[str, UploadedFile]


class ApiError(Exception):
    """An error answer in Telegram's shape; raised by method handlers."""

    def __init__(self, status: int, description: str, retry_after: int | None = None) -> None:
        super().__init__(description)
        self.status = status
        self.description = description
        self.retry_after = retry_after

    def payload(self) -> JsonDict:
        body: JsonDict = {"ok": False, "error_code": self.status, "description": self.description}
        if self.retry_after is not None:
            body["parameters"] = {"retry_after": self.retry_after}
        return body


def _bad(description: str) -> ApiError:
    return ApiError(400, f"Bad Request: {description}")


Handler = Callable[[_Ctx], Awaitable[Any]]


# ------------------------------------------------------------------ request parsing


async def read_params(request: web.Request) -> tuple[JsonDict, dict[str, UploadedFile]]:
    """Parameters from the query string and a JSON, urlencoded or multipart body."""
    params: JsonDict = dict(request.query)
    files: dict[str, UploadedFile] = {}
    if request.can_read_body:
        ctype = request.content_type
        if ctype == "application/json":
            body = await request.json()
            if not isinstance(body, dict):
                raise _bad("can't parse JSON object")  # Telegram wants an object body
            params.update(body)
        elif ctype == "multipart/form-data":
            await read_multipart(await request.multipart(), params, files)
        else:
            form = await request.post()
            params.update({key: value for key, value in form.items() if isinstance(value, str)})
    return decode_json_fields(params), files


async def read_multipart(
    reader: aiohttp.MultipartReader, params: JsonDict, files: dict[str, UploadedFile]
) -> None:
    """Fill ``params`` (text parts) and ``files`` (parts with a filename) from a form."""
    while (part := await reader.next()) is not None:
        if not isinstance(part, aiohttp.BodyPartReader) or part.name is None:
            continue  # nested multiparts are not used by Bot API clients
        data = bytes(await part.read(decode=True))
        if part.filename is not None:
            ctype = part.headers.get(aiohttp.hdrs.CONTENT_TYPE)
            files[part.name] = UploadedFile(part.filename, data, ctype)
        else:
            params[part.name] = data.decode(part.get_charset(default="utf-8"))


def decode_json_fields(params: JsonDict) -> JsonDict:
    """JSON-decode object/array values (reply_markup, entities, ...) as Telegram does."""
    return {key: _maybe_json(key, value) for key, value in params.items()}


def _maybe_json(key: str, value: Any) -> Any:
    if not isinstance(value, str) or key in _TEXT_FIELDS:
        return value
    if not value.lstrip().startswith(("{", "[")):
        return value
    try:
        return json.loads(value)
    except ValueError:
        return value  # left as a string; the method then reports it can't parse it


def _as_int(value: Any) -> int | None:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        with contextlib.suppress(ValueError):
            return int(value.strip())
    return None


def _as_float(value: Any) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str):
        with contextlib.suppress(ValueError):
            return float(value.strip())
    return None


def _as_bool(value: Any) -> bool:
    return value is True or (isinstance(value, str) and value.lower() in ("true", "1"))


def _as_str(value: Any) -> str:
    return "" if value is None else str(value)


def _chat_id_param(params: JsonDict) -> int | None:
    return _as_int(params.get("chat_id"))


def _public(value: Any) -> Any:
    """A copy without the fake's bookkeeping keys (those starting with "_")."""
    if isinstance(value, dict):
        return {k: _public(v) for k, v in value.items() if not k.startswith("_")}
    if isinstance(value, list):
        return [_public(item) for item in value]
    return value


def _public_message(message: JsonDict) -> JsonDict:
    public: JsonDict = _public(message)
    return public


def jsonable(value: Any) -> Any:
    """A JSON-safe copy of stored data, bookkeeping included (bytes become sizes)."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(item) for item in value]
    if isinstance(value, bytes | bytearray):
        return {"bytes": len(value)}
    if isinstance(value, StoredFile):
        return {**value.as_document(), "file_path": value.file_path}
    return value


def _update_type(update: JsonDict) -> str:
    return next(key for key in update if key != "update_id")


def image_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) of a PNG, GIF, JPEG or WebP image; None if not an image."""
    if data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) >= 24:
        width, height = struct.unpack(">II", data[16:24])
        return int(width), int(height)
    if data[:6] in (b"GIF87a", b"GIF89a") and len(data) >= 10:
        width, height = struct.unpack("<HH", data[6:10])
        return int(width), int(height)
    if data.startswith(b"\xff\xd8"):
        return _jpeg_size(data)
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return 512, 512  # dimensions are not needed precisely for a WebP
    return None


def _jpeg_size(data: bytes) -> tuple[int, int] | None:
    pos = 2
    while pos + 9 <= len(data) and data[pos] == 0xFF:
        marker = data[pos + 1]
        (length,) = struct.unpack(">H", data[pos + 2 : pos + 4])
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            height, width = struct.unpack(">HH", data[pos + 5 : pos + 9])
            return int(width), int(height)
        pos += 2 + int(length)
    return None


# ---------------------------------------------------------------------- the server


class FakeTelegram:
    """A Telegram Bot API look-alike on 127.0.0.1 plus helpers to play users and inspect.

    Stored messages are dicts shaped like Telegram's Message; extra bookkeeping keys
    start with "_" and are never sent to the bot: ``_outgoing`` (sent by the bot),
    ``_method``, ``_source`` (text/caption as sent, before entity parsing),
    ``_parse_mode``, ``_reply_markup`` (any markup as sent, also reply keyboards),
    ``_edits`` (earlier states, oldest first), ``_deleted`` and ``_file`` (StoredFile with
    the bytes and file name).  ``sent_to`` returns these live dicts: they show the
    current state after edits; do not mutate them.
    """

    def __init__(
        self,
        token_check: bool = True,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        bot_username: str = "duban_test_bot",
        bot_first_name: str = "Duban",
    ) -> None:
        self.token_check = token_check
        self.host = host
        self.port = port
        self.bot_username = bot_username
        self.bot_first_name = bot_first_name
        self.enforce_limits = True
        self._limiter = RateLimiter(RateLimits())
        self.faults = FaultSettings()
        self._rng = random.Random()
        self.webhook_require_https = False  # real Telegram does; tests use plain HTTP
        self.webhook_timeout = 10.0
        self.webhook_retry_delay = 0.1  # first retry; doubles up to the max below
        self.webhook_retry_max_delay = 2.0
        self.logged_out = False
        self.closed = False
        self.bot_id: int | None = None  # taken from the token of the latest request

        self.stats: Stats = {
            "sends_ok": 0,
            "rate_limited": 0,
            "per_chat_violations": 0,
            "global_violations": 0,
            "errors_injected": 0,
            "by_method": {},
        }
        self.calls: list[ApiCall] = []
        self.callback_answers: dict[str, JsonDict] = {}
        self.commands: dict[tuple[str, str], list[JsonDict]] = {}
        self.chat_actions: list[tuple[int, str]] = []
        self.dropped_updates: list[JsonDict] = []  # filtered out by allowed_updates
        self.files: dict[str, StoredFile] = {}

        self._chats: dict[int, JsonDict] = {}
        self._seen_users: set[int] = set()
        self._blocked: set[int] = set()
        self._history: dict[int, list[JsonDict]] = {}
        self._messages: dict[tuple[int, int], JsonDict] = {}
        self._last_message_id: dict[int, int] = {}
        self._files_by_path: dict[str, StoredFile] = {}
        self._callback_queries: dict[str, JsonDict] = {}
        self._updates: list[JsonDict] = []
        self._last_update_id = 100_000_000
        self._allowed_updates: list[str] | None = None
        self._poll_generation = 0
        self._webhook: _Webhook | None = None
        self._faults_queue: list[_Fault] = []
        self._counter = 0

        self._cond = asyncio.Condition()
        self._stopping = asyncio.Event()
        self._resumed = asyncio.Event()
        self._resumed.set()
        self._closing = False
        self._runner: web.AppRunner | None = None
        self._client: aiohttp.ClientSession | None = None
        self._webhook_task: asyncio.Task[None] | None = None
        self._handlers = self._method_table()

    # ----------------------------------------------------------------- lifecycle

    async def start(self) -> None:
        """Listen on ``host:port`` (port 0 picks a free one) and start webhook delivery."""
        # Fresh primitives bind to the running loop (tests may use a loop per test).
        self._cond = asyncio.Condition()
        self._stopping = asyncio.Event()
        self._resumed = asyncio.Event()
        self._resumed.set()
        self._closing = False
        self._runner = web.AppRunner(self._make_app(), access_log=None, shutdown_timeout=2.0)
        await self._runner.setup()
        await web.TCPSite(self._runner, self.host, self.port).start()
        self.port = int(self._runner.addresses[0][1])
        self._client = aiohttp.ClientSession()
        self._webhook_task = asyncio.create_task(self._webhook_worker())

    async def stop(self) -> None:
        """Answer pending long polls, stop webhook delivery and close the server."""
        if self._runner is None:
            return
        self._closing = True
        self._stopping.set()
        self._resumed.set()
        await self._notify()
        if self._webhook_task is not None:
            self._webhook_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._webhook_task
        if self._client is not None:
            await self._client.close()
        await self._runner.cleanup()
        self._runner = None

    async def __aenter__(self) -> FakeTelegram:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def api_server(self) -> TelegramAPIServer:
        """aiogram's server description for this fake."""
        from aiogram.client.telegram import TelegramAPIServer

        return TelegramAPIServer.from_base(self.base_url)

    def make_bot(self, token: str = DEFAULT_TOKEN, *, timeout: float = 10.0, **kwargs: Any) -> Bot:
        """A real aiogram Bot talking to this fake (close it: ``await bot.session.close()``)."""
        from aiogram import Bot
        from aiogram.client.session.aiohttp import AiohttpSession

        session = AiohttpSession(api=self.api_server, timeout=timeout)
        return Bot(token, session=session, **kwargs)

    def _make_app(self) -> web.Application:
        app = web.Application(client_max_size=MAX_DOCUMENT_UPLOAD + 1024 * 1024)
        app.router.add_route("*", "/bot{token}/{method}", self._handle_api)
        app.router.add_get("/file/bot{token}/{path:.+}", self._handle_file)
        app.router.add_post("/_control/user_message", self._control_user_message)
        app.router.add_post("/_control/press", self._control_press)
        app.router.add_get("/_control/sent", self._control_sent)
        app.router.add_get("/_control/calls", self._control_calls)
        return app

    # ------------------------------------------------------------ settings / faults

    @property
    def limits(self) -> RateLimits:
        """Flood limit settings (only applied while ``enforce_limits`` is true)."""
        return self._limiter.limits

    @limits.setter
    def limits(self, limits: RateLimits) -> None:
        self._limiter.limits = limits

    def reset_limits(self) -> None:
        """Forget earlier sends, e.g. after a test phase that flooded on purpose."""
        self._limiter.reset()

    def fail_next(
        self,
        method: str | None = "sendMessage",
        status: int = 500,
        retry_after: int = 1,
        count: int = 1,
        chat_id: int | None = None,
        description: str | None = None,
    ) -> None:
        """Answer the next ``count`` matching requests with an error (nothing is delivered).

        ``method=None`` matches any method.  429 answers carry ``retry_after``.
        """
        text = description or _FAULT_DESCRIPTIONS.get(status, "Injected error")
        if status == 429 and description is None:
            text = f"Too Many Requests: retry after {retry_after}"
        self._faults_queue.append(
            _Fault(
                method=method.lower() if method else None,
                status=status,
                description=text,
                retry_after=retry_after if status == 429 else None,
                remaining=count,
                chat_id=chat_id,
            )
        )

    def set_faults(
        self,
        p_5xx: float = 0.0,
        p_timeout: float = 0.0,
        timeout_seconds: float = 5.0,
        seed: int | None = None,
        methods: Iterable[str] | None = None,
        p_stall: float = 0.0,
    ) -> None:
        """Random faults: 5xx answers (not delivered), slow answers and stalled requests.

        A slow answer (``p_timeout``) is processed normally (a message IS delivered, as when
        a real request times out on the client side) and then held for
        ``timeout_seconds``, which should exceed the client's timeout.  A stalled request
        (``p_stall``) is held for ``timeout_seconds`` before it is processed and then
        answered 504 without being processed at all (it never reached Telegram; the client
        has given up by then).  ``methods`` defaults to every method except getUpdates and
        getMe, so polling itself keeps working.
        """
        self.faults = FaultSettings(
            p_5xx=p_5xx,
            p_timeout=p_timeout,
            p_stall=p_stall,
            timeout_seconds=timeout_seconds,
            methods=frozenset(m.lower() for m in methods) if methods is not None else None,
        )
        self._rng = random.Random(seed)

    def clear_faults(self) -> None:
        self._faults_queue.clear()
        self.faults = FaultSettings()

    def block(self, chat_id: int) -> None:
        """The user blocks the bot (or the group kicks it): sends to it get 403."""
        self._blocked.add(chat_id)

    def unblock(self, chat_id: int) -> None:
        self._blocked.discard(chat_id)

    def pause(self) -> None:
        """Hold every API request until ``resume()`` (like a network stall)."""
        self._resumed.clear()

    def resume(self) -> None:
        self._resumed.set()

    # ---------------------------------------------------------------- HTTP layer

    def _bot_id_for(self, token: str) -> int | None:
        match = _TOKEN_RE.match(token)
        if match:
            return int(match.group(1))
        if self.token_check:
            return None
        head = token.split(":", 1)[0]
        return int(head) if head.isdigit() else 0

    async def _handle_api(self, request: web.Request) -> web.StreamResponse:
        token = request.match_info["token"]
        if self._bot_id_for(token) is None:
            return web.json_response(ApiError(401, "Unauthorized").payload(), status=401)
        try:
            params, files = await read_params(request)
        except ApiError as exc:
            return web.json_response(exc.payload(), status=exc.status)
        except ValueError:
            error = _bad("can't parse request body")
            return web.json_response(error.payload(), status=400)
        status, body = await self.execute(token, request.match_info["method"], params, files)
        return web.json_response(body, status=status)

    async def _handle_file(self, request: web.Request) -> web.StreamResponse:
        if self._bot_id_for(request.match_info["token"]) is None:
            return web.json_response(ApiError(401, "Unauthorized").payload(), status=401)
        stored = self._files_by_path.get(request.match_info["path"])
        if stored is None:
            return web.json_response(ApiError(404, "Not Found").payload(), status=404)
        ctype = stored.mime_type or "application/octet-stream"
        return web.Response(body=stored.data, content_type=ctype)

    async def execute(
        self, token: str, method: str, params: JsonDict, files: dict[str, UploadedFile]
    ) -> tuple[int, JsonDict]:
        """Run one API call as Telegram would; returns (HTTP status, JSON body)."""
        entry = self._handlers.get(method.lower())
        name = entry[0] if entry else method
        by_method = self.stats["by_method"]
        by_method[name] = by_method.get(name, 0) + 1
        chat_id = _chat_id_param(params)
        arrived = time.monotonic()
        await self._resumed.wait()
        slow: Slowness = None
        try:
            if entry is None:
                raise ApiError(404, "Not Found: method not found")
            if self.logged_out:
                raise ApiError(401, "Unauthorized")
            slow = self._draw_faults(name, chat_id)
            if slow == "stall":
                await self._sleep(self.faults.timeout_seconds)
                raise ApiError(504, _FAULT_DESCRIPTIONS[504])
            self.bot_id = self._bot_id_for(token) or 0
            ctx = _Ctx(name, token, self.bot_id, params, files)
            result = await entry[1](ctx)
            status, body = 200, _ok_body(result)
        except ApiError as exc:
            status, body = exc.status, exc.payload()
        self.calls.append(
            ApiCall(name, params, status, arrived, chat_id, body.get("description"), files)
        )
        await self._notify()
        if slow == "slow":
            await self._sleep(self.faults.timeout_seconds)
        return status, body

    def _draw_faults(self, method: str, chat_id: int | None) -> Slowness:
        """Raise an injected error if one applies; return whether to answer slowly or to stall
        the request."""
        for fault in self._faults_queue:
            if fault.matches(method, chat_id):
                fault.remaining -= 1
                if fault.remaining <= 0:
                    self._faults_queue.remove(fault)
                self.stats["errors_injected"] += 1
                raise ApiError(fault.status, fault.description, fault.retry_after)
        if not self._random_faults_apply(method):
            return None
        if self._rng.random() < self.faults.p_5xx:
            self.stats["errors_injected"] += 1
            status = self._rng.choice((500, 502))
            raise ApiError(status, _FAULT_DESCRIPTIONS[status])
        if self._rng.random() < self.faults.p_timeout:
            self.stats["errors_injected"] += 1
            return "slow"
        if self._rng.random() < self.faults.p_stall:
            self.stats["errors_injected"] += 1
            return "stall"
        return None

    def _random_faults_apply(self, method: str) -> bool:
        if self.faults.methods is None:
            return method not in ("getUpdates", "getMe")
        return method.lower() in self.faults.methods

    async def _sleep(self, seconds: float) -> None:
        """Sleep, but wake up at once when the server stops."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), seconds)

    async def _notify(self) -> None:
        async with self._cond:
            self._cond.notify_all()

    async def _wait(self, predicate: Callable[[], bool], seconds: float | None) -> bool:
        """Wait on the state condition until ``predicate()``; False after ``seconds``."""
        async with self._cond:
            if predicate():
                return True
            if seconds is not None and seconds <= 0:
                return False
            try:
                async with asyncio.timeout(seconds):
                    await self._cond.wait_for(predicate)
            except TimeoutError:
                return predicate()
            return True

    def _method_table(self) -> dict[str, tuple[str, Handler]]:
        table: dict[str, Handler] = {
            "getMe": self._get_me,
            "getUpdates": self._get_updates,
            "setWebhook": self._set_webhook,
            "deleteWebhook": self._delete_webhook,
            "getWebhookInfo": self._get_webhook_info,
            "setMyCommands": self._set_my_commands,
            "getMyCommands": self._get_my_commands,
            "deleteMyCommands": self._delete_my_commands,
            "sendMessage": self._send_message,
            "sendPhoto": self._send_photo,
            "sendDocument": self._send_document,
            "sendChatAction": self._send_chat_action,
            "editMessageText": self._edit_message_text,
            "editMessageCaption": self._edit_message_caption,
            "editMessageReplyMarkup": self._edit_message_reply_markup,
            "deleteMessage": self._delete_message,
            "answerCallbackQuery": self._answer_callback_query,
            "getFile": self._get_file,
            "close": self._close,
            "logOut": self._log_out,
        }
        # Telegram matches method names case-insensitively.
        return {name.lower(): (name, handler) for name, handler in table.items()}

    # ------------------------------------------------------------- bot identity

    def bot_user(self, bot_id: int) -> JsonDict:
        return {
            "id": bot_id,
            "is_bot": True,
            "first_name": self.bot_first_name,
            "username": self.bot_username,
        }

    async def _get_me(self, ctx: _Ctx) -> JsonDict:
        return {
            **self.bot_user(ctx.bot_id),
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }

    async def _close(self, ctx: _Ctx) -> bool:
        self.closed = True
        return True

    async def _log_out(self, ctx: _Ctx) -> bool:
        # After logOut the cloud server refuses the token (for 10 minutes in reality).
        self.logged_out = True
        return True

    # ------------------------------------------------------------------ updates

    async def _get_updates(self, ctx: _Ctx) -> list[JsonDict]:
        if self._webhook is not None:
            raise ApiError(409, WEBHOOK_ACTIVE)
        params = ctx.params
        limit = min(max(_as_int(params.get("limit")) or 100, 1), 100)
        timeout = max(_as_float(params.get("timeout")) or 0.0, 0.0)
        allowed = params.get("allowed_updates")
        if isinstance(allowed, list):
            self._allowed_updates = [str(kind) for kind in allowed] or None
        self._confirm(_as_int(params.get("offset")) or 0)
        # A newer getUpdates terminates the one still waiting, like Telegram does; a
        # poller that reconnects therefore only ever kicks out its own stale request.
        self._poll_generation += 1
        generation = self._poll_generation
        await self._notify()

        def ready() -> bool:
            superseded = generation != self._poll_generation
            return superseded or self._closing or self._webhook is not None or bool(self._updates)

        await self._wait(ready, timeout)
        if self._closing:
            return []
        if self._webhook is not None:
            raise ApiError(409, WEBHOOK_ACTIVE)
        if generation != self._poll_generation:
            raise ApiError(409, TERMINATED)
        return self._updates[:limit]

    def _confirm(self, offset: int) -> None:
        """Forget updates below ``offset``; a negative offset keeps only the last -offset."""
        if offset > 0:
            self._updates = [u for u in self._updates if u["update_id"] >= offset]
        elif offset < 0:
            self._updates = self._updates[offset:]

    def _accepts(self, kind: str) -> bool:
        allowed = self._webhook.allowed_updates if self._webhook else self._allowed_updates
        if allowed:
            return kind in allowed
        return kind not in _OPT_IN_UPDATES

    async def push_update(self, kind: str, payload: JsonDict) -> JsonDict | None:
        """Queue an update of type ``kind`` (dropped if allowed_updates excludes it)."""
        self._last_update_id += 1
        update = {"update_id": self._last_update_id, kind: payload}
        # Telegram filters when it creates updates, so a later change does not revive them.
        if not self._accepts(kind):
            self.dropped_updates.append(update)
            return None
        self._updates.append(update)
        await self._notify()
        return update

    @property
    def pending_updates(self) -> list[JsonDict]:
        """Updates not yet confirmed by getUpdates or delivered to the webhook."""
        return list(self._updates)

    # ----------------------------------------------------------------- webhooks

    async def _set_webhook(self, ctx: _Ctx) -> _Described:
        params = ctx.params
        url = _as_str(params.get("url")).strip()
        if not url:
            return await self._delete_webhook(ctx)
        if self.webhook_require_https and not url.startswith("https://"):
            raise _bad("bad webhook: An HTTPS URL must be provided for webhook")
        if not re.match(r"https?://[^/\s]+", url):
            raise _bad("bad webhook: An HTTPS URL must be provided for webhook")
        secret = params.get("secret_token")
        secret = None if secret in (None, "") else str(secret)
        if secret is not None and not _SECRET_RE.match(secret):
            raise _bad("secret token contains unallowed characters")
        if _as_bool(params.get("drop_pending_updates")):
            self._updates.clear()
        allowed = params.get("allowed_updates")
        previous = self._webhook
        self._webhook = _Webhook(
            url=url,
            token=ctx.token,
            secret_token=secret,
            max_connections=_as_int(params.get("max_connections")) or 40,
            allowed_updates=[str(kind) for kind in allowed] if isinstance(allowed, list) else None,
        )
        if previous is not None and previous.url == url and previous.secret_token == secret:
            return _Described(True, "Webhook is already set")
        return _Described(True, "Webhook was set")

    async def _delete_webhook(self, ctx: _Ctx) -> _Described:
        if _as_bool(ctx.params.get("drop_pending_updates")):
            self._updates.clear()
        if self._webhook is None:
            return _Described(True, "Webhook is already deleted")
        self._webhook = None
        return _Described(True, "Webhook was deleted")

    async def _get_webhook_info(self, ctx: _Ctx) -> JsonDict:
        info: JsonDict = {
            "url": "",
            "has_custom_certificate": False,
            "pending_update_count": len(self._updates),
        }
        hook = self._webhook
        if hook is None:
            return info
        info.update(url=hook.url, max_connections=hook.max_connections, ip_address="127.0.0.1")
        if hook.allowed_updates is not None:
            info["allowed_updates"] = hook.allowed_updates
        if hook.last_error_date is not None:
            info["last_error_date"] = hook.last_error_date
            info["last_error_message"] = hook.last_error_message
        return info

    async def _webhook_worker(self) -> None:
        """Deliver queued updates to the webhook one by one, retrying with backoff."""
        while not self._closing:
            await self._wait(
                lambda: self._closing or (self._webhook is not None and bool(self._updates)),
                None,
            )
            hook = self._webhook
            if self._closing or hook is None or not self._updates:
                continue
            update = self._updates[0]
            error = await self._post_update(hook, update)
            if error is None:
                hook.failures = 0
                self._updates = [u for u in self._updates if u is not update]
                await self._notify()
                continue
            hook.failures += 1
            hook.last_error_date = int(time.time())
            hook.last_error_message = error
            delay = self.webhook_retry_delay * 2 ** (hook.failures - 1)
            await self._sleep(min(delay, self.webhook_retry_max_delay))

    async def _post_update(self, hook: _Webhook, update: JsonDict) -> str | None:
        """POST one update; None on success, else Telegram's last_error_message."""
        assert self._client is not None
        headers = {"Content-Type": "application/json"}
        if hook.secret_token:
            headers[SECRET_HEADER] = hook.secret_token
        timeout = aiohttp.ClientTimeout(total=self.webhook_timeout)
        try:
            async with self._client.post(
                hook.url, data=json.dumps(update), headers=headers, timeout=timeout
            ) as resp:
                if not 200 <= resp.status < 300:
                    return f"Wrong response from the webhook: {resp.status} {resp.reason}"
                await self._run_webhook_reply(hook, resp)
                return None
        except TimeoutError:
            return "Read timeout expired"
        except aiohttp.ClientConnectorError:
            return "Connection refused"
        except aiohttp.ClientError as exc:
            return f"Connection error: {exc}"

    async def _run_webhook_reply(self, hook: _Webhook, resp: aiohttp.ClientResponse) -> None:
        """Execute a method the bot returned in the webhook response body, if any.

        aiogram answers with multipart form data carrying a "method" field; other
        frameworks use a JSON object.  Like Telegram, the result is not reported back.
        """
        params: JsonDict = {}
        files: dict[str, UploadedFile] = {}
        if resp.content_type == "application/json":
            body = await resp.json(content_type=None)
            if isinstance(body, dict):
                params.update(body)
        elif resp.content_type == "multipart/form-data":
            await read_multipart(aiohttp.MultipartReader(resp.headers, resp.content), params, files)
        method = params.pop("method", None)
        if method:
            await self.execute(hook.token, str(method), decode_json_fields(params), files)

    # ----------------------------------------------------------------- commands

    def _scope_key(self, params: JsonDict) -> str:
        scope = params.get("scope") or {"type": "default"}
        if not isinstance(scope, dict):
            raise _bad("can't parse BotCommandScope JSON object")
        kind = _as_str(scope.get("type"))
        if kind in ("default", "all_private_chats", "all_group_chats", "all_chat_administrators"):
            return kind
        if kind not in ("chat", "chat_administrators", "chat_member"):
            raise _bad("unsupported bot command scope type")
        chat_id = _as_int(scope.get("chat_id"))
        if chat_id is None or chat_id not in self._chats:
            raise _bad("chat not found")
        if kind == "chat_member":
            return f"chat_member:{chat_id}:{_as_int(scope.get('user_id'))}"
        return f"{kind}:{chat_id}"

    async def _set_my_commands(self, ctx: _Ctx) -> bool:
        commands = ctx.params.get("commands")
        if not isinstance(commands, list):
            raise _bad("can't parse commands JSON object")
        if len(commands) > 100:
            raise _bad("BOT_COMMANDS_TOO_MUCH")
        cleaned = [_checked_command(item) for item in commands]
        key = (self._scope_key(ctx.params), _as_str(ctx.params.get("language_code")))
        if cleaned:
            self.commands[key] = cleaned
        else:
            self.commands.pop(key, None)
        return True

    async def _get_my_commands(self, ctx: _Ctx) -> list[JsonDict]:
        key = (self._scope_key(ctx.params), _as_str(ctx.params.get("language_code")))
        return [dict(command) for command in self.commands.get(key, [])]

    async def _delete_my_commands(self, ctx: _Ctx) -> bool:
        key = (self._scope_key(ctx.params), _as_str(ctx.params.get("language_code")))
        self.commands.pop(key, None)
        return True

    def menu_for(
        self, chat_id: int, language_code: str = "", user_id: int | None = None
    ) -> list[JsonDict]:
        """The command menu a user would see, resolved in Telegram's documented order."""
        if chat_id > 0:
            scopes = [f"chat:{chat_id}", "all_private_chats", "default"]
        else:
            member = f"chat_member:{chat_id}:{user_id}"
            scopes = [member, f"chat:{chat_id}", "all_group_chats", "default"]
        for scope in scopes:
            for lang in dict.fromkeys((language_code, "")):
                if (scope, lang) in self.commands:
                    return self.commands[(scope, lang)]
        return []

    # --------------------------------------------------------- chats and checks

    def _target_chat(self, params: JsonDict) -> JsonDict:
        """The chat a request addresses, with Telegram's errors for unknown/blocked ones."""
        raw = params.get("chat_id")
        if raw is None or raw == "":
            raise _bad("chat_id is empty")
        chat_id = _as_int(raw)
        if chat_id is not None and chat_id in self._blocked:
            raise ApiError(403, self._blocked_description(chat_id))
        chat = self._chats.get(chat_id) if chat_id is not None else None
        if chat is None:
            if chat_id in self._seen_users:
                raise ApiError(403, "Forbidden: bot can't initiate conversation with a user")
            raise _bad("chat not found")
        return chat

    def _blocked_description(self, chat_id: int) -> str:
        chat_type = self._chats.get(chat_id, {}).get("type", "private")
        if chat_type == "private":
            return "Forbidden: bot was blocked by the user"
        if chat_type == "supergroup":
            return "Forbidden: bot was kicked from the supergroup chat"
        return "Forbidden: bot was kicked from the group chat"

    def _check_flood(self, chat: JsonDict) -> None:
        if not self.enforce_limits:
            return
        private = chat["type"] == "private"
        violation = self._limiter.check(chat["id"], private)
        if violation is not None:
            self.stats["rate_limited"] += 1
            if violation.scope == "chat":
                self.stats["per_chat_violations"] += 1
            else:
                self.stats["global_violations"] += 1
            seconds = violation.retry_after
            raise ApiError(429, f"Too Many Requests: retry after {seconds}", seconds)
        self._limiter.record(chat["id"], private)

    def _formatted(
        self, params: JsonDict, name: str, entities_name: str, limit: int, too_long: str
    ) -> FormattedText:
        """Text or caption as Telegram stores it, checked against parse_mode and limit."""
        source = _as_str(params.get(name))
        parse_mode = _as_str(params.get("parse_mode"))
        try:
            formatted = parse_formatted(source, parse_mode)
        except EntityParseError as exc:
            raise ApiError(400, exc.description) from exc
        except ValueError as exc:
            raise _bad("unsupported parse_mode") from exc
        explicit = params.get(entities_name)
        if not parse_mode and isinstance(explicit, list):
            formatted = trim(FormattedText(source, explicit))
        if utf16_len(formatted.text) > limit:
            raise _bad(too_long)
        return formatted

    def _reply_markup(self, params: JsonDict) -> JsonDict | None:
        markup = params.get("reply_markup")
        if markup is None or markup == "":
            return None
        if not isinstance(markup, dict):
            raise _bad("can't parse reply keyboard markup JSON object")
        if "inline_keyboard" in markup:
            _check_inline_keyboard(markup["inline_keyboard"])
        elif not any(key in markup for key in ("keyboard", "remove_keyboard", "force_reply")):
            raise _bad("can't parse reply keyboard markup JSON object")
        return markup

    def _reply_target(self, chat_id: int, params: JsonDict) -> JsonDict | None:
        reply = params.get("reply_parameters")
        if isinstance(reply, dict):
            message_id = _as_int(reply.get("message_id"))
            target_chat = _as_int(reply.get("chat_id")) or chat_id
            allow_missing = _as_bool(reply.get("allow_sending_without_reply"))
        else:
            message_id = _as_int(params.get("reply_to_message_id"))
            target_chat = chat_id
            allow_missing = _as_bool(params.get("allow_sending_without_reply"))
        if not message_id:
            return None
        target = self._messages.get((target_chat, message_id))
        if target is None or target.get("_deleted"):
            if allow_missing:
                return None
            raise _bad("message to be replied not found")
        return target

    # ------------------------------------------------------------------- sending

    async def _send_message(self, ctx: _Ctx) -> JsonDict:
        chat = self._target_chat(ctx.params)
        text = self._formatted(ctx.params, "text", "entities", MAX_TEXT, "message is too long")
        if not text.text:
            raise _bad("message text is empty")
        content = _text_content("text", "entities", text)
        return self._deliver(ctx, chat, content, source=_as_str(ctx.params.get("text")))

    async def _send_photo(self, ctx: _Ctx) -> JsonDict:
        chat = self._target_chat(ctx.params)
        caption = self._caption(ctx.params)
        stored = self._input_file(ctx, "photo", self._new_photo)
        content = {"photo": stored.as_photo()}
        content.update(_text_content("caption", "caption_entities", caption))
        source = _as_str(ctx.params.get("caption"))
        return self._deliver(ctx, chat, content, source=source, stored=stored)

    async def _send_document(self, ctx: _Ctx) -> JsonDict:
        chat = self._target_chat(ctx.params)
        caption = self._caption(ctx.params)
        stored = self._input_file(ctx, "document", self._new_document)
        content = {"document": stored.as_document()}
        content.update(_text_content("caption", "caption_entities", caption))
        source = _as_str(ctx.params.get("caption"))
        return self._deliver(ctx, chat, content, source=source, stored=stored)

    def _caption(self, params: JsonDict) -> FormattedText:
        return self._formatted(
            params, "caption", "caption_entities", MAX_CAPTION, "message caption is too long"
        )

    def _deliver(
        self,
        ctx: _Ctx,
        chat: JsonDict,
        content: JsonDict,
        *,
        source: str,
        stored: StoredFile | None = None,
    ) -> JsonDict:
        """Final checks shared by all sends, then store the bot's message."""
        markup = self._reply_markup(ctx.params)
        reply_to = self._reply_target(chat["id"], ctx.params)
        self._check_flood(chat)
        if markup is not None and "inline_keyboard" in markup:
            content["reply_markup"] = markup  # Message only ever shows inline keyboards
        content.update(
            _outgoing=True,
            _method=ctx.method,
            _source=source,
            _parse_mode=ctx.params.get("parse_mode"),
            _reply_markup=markup,
            _edits=[],
        )
        if stored is not None:
            content["_file"] = stored
        message = self._store_message(chat, self.bot_user(ctx.bot_id), content, reply_to)
        self.stats["sends_ok"] += 1
        return _public_message(message)

    def _input_file(
        self, ctx: _Ctx, name: str, create: Callable[[UploadedFile], StoredFile]
    ) -> StoredFile:
        """The file a send refers to: an upload (attach:// or direct), file_id or URL."""
        value = ctx.params.get(name)
        upload = ctx.files.get(name)
        if upload is None and isinstance(value, str) and value.startswith("attach://"):
            upload = ctx.files.get(value[len("attach://") :])
            if upload is None:
                raise _bad("wrong file identifier/HTTP URL specified")
        if upload is not None:
            return create(upload)
        if not value:
            raise _bad(f"there is no {name} in the request")
        text = str(value)
        if text in self.files:
            return self.files[text]
        if re.match(r"https?://", text):
            # Telegram would download it; the fake records the URL without fetching.
            stored = self._store_file(b"", text.rsplit("/", 1)[-1], None, f"{name}s")
            stored.url, stored.width, stored.height = text, 800, 600
            return stored
        raise _bad("wrong file identifier/HTTP URL specified")

    def _new_photo(self, upload: UploadedFile) -> StoredFile:
        if not upload.data:
            raise _bad("file must be non-empty")
        if len(upload.data) > MAX_PHOTO_UPLOAD:
            raise ApiError(413, "Request Entity Too Large")
        size = image_size(upload.data)
        if size is None:
            raise _bad("IMAGE_PROCESS_FAILED")
        width, height = size
        if width + height > 10000 or max(width, height) > 20 * max(min(width, height), 1):
            raise _bad("PHOTO_INVALID_DIMENSIONS")
        # Photos are re-encoded by Telegram and carry neither a file name nor a MIME type.
        stored = self._store_file(upload.data, None, None, "photos")
        stored.width, stored.height = width, height
        return stored

    def _new_document(self, upload: UploadedFile) -> StoredFile:
        if not upload.data:
            raise _bad("file must be non-empty")
        if len(upload.data) > MAX_DOCUMENT_UPLOAD:
            raise ApiError(413, "Request Entity Too Large")
        # Telegram guesses the type from the name; aiogram sends no part content type.
        mime = mimetypes.guess_type(upload.filename)[0] or "application/octet-stream"
        return self._store_file(upload.data, upload.filename, mime, "documents")

    def _store_file(
        self, data: bytes, filename: str | None, mime_type: str | None, folder: str
    ) -> StoredFile:
        self._counter += 1
        number = self._counter
        prefix = "AgACAgIAAxkBAAI" if folder == "photos" else "BQACAgIAAxkBAAI"
        suffix = ""
        if filename and "." in filename:
            suffix = "." + filename.rsplit(".", 1)[-1].lower()
        elif folder == "photos":
            suffix = ".jpg"
        stored = StoredFile(
            file_id=f"{prefix}{number:06d}{secrets.token_urlsafe(24)}",
            file_unique_id=f"AQAD{number:06d}{secrets.token_urlsafe(4)}",
            file_path=f"{folder}/file_{number}{suffix}",
            data=data,
            file_name=filename,
            mime_type=mime_type,
        )
        self.files[stored.file_id] = stored
        self._files_by_path[stored.file_path] = stored
        return stored

    async def _send_chat_action(self, ctx: _Ctx) -> bool:
        chat = self._target_chat(ctx.params)
        action = _as_str(ctx.params.get("action"))
        if action not in _CHAT_ACTIONS:
            raise _bad("wrong parameter action in request")
        self.chat_actions.append((chat["id"], action))
        return True

    async def _get_file(self, ctx: _Ctx) -> JsonDict:
        stored = self.files.get(_as_str(ctx.params.get("file_id")))
        if stored is None:
            raise _bad("invalid file_id")
        if len(stored.data) > MAX_DOWNLOAD:
            raise _bad("file is too big")
        return stored.as_file()

    # ------------------------------------------------------------------- editing

    def _editable(self, ctx: _Ctx) -> JsonDict:
        if ctx.params.get("inline_message_id"):
            raise _bad("MESSAGE_ID_INVALID")  # inline mode is not simulated
        chat = self._target_chat(ctx.params)
        message_id = _as_int(ctx.params.get("message_id"))
        if message_id is None:
            raise _bad("message identifier is not specified")
        message = self._messages.get((chat["id"], message_id))
        if message is None or message.get("_deleted"):
            raise _bad("message to edit not found")
        if not message.get("_outgoing"):
            raise _bad("message can't be edited")
        return message

    def _inline_markup(self, params: JsonDict) -> JsonDict | None:
        markup = self._reply_markup(params)
        if markup is not None and "inline_keyboard" not in markup:
            raise _bad("inline keyboard expected")
        return markup

    async def _edit_message_text(self, ctx: _Ctx) -> JsonDict:
        message = self._editable(ctx)
        if "text" not in message:
            raise _bad("there is no text in the message to edit")
        text = self._formatted(ctx.params, "text", "entities", MAX_TEXT, "message is too long")
        if not text.text:
            raise _bad("message text is empty")
        # Like Telegram, an edit without reply_markup removes the inline keyboard.
        changes = {
            **_text_content("text", "entities", text),
            "reply_markup": self._inline_markup(ctx.params),
        }
        source = _as_str(ctx.params.get("text"))
        return self._apply_edit(ctx, message, changes, source)

    async def _edit_message_caption(self, ctx: _Ctx) -> JsonDict:
        message = self._editable(ctx)
        if "text" in message:
            raise _bad("there is no caption in the message to edit")
        caption = self._caption(ctx.params)
        changes = {
            "caption": caption.text or None,
            "caption_entities": caption.entities or None,
            "reply_markup": self._inline_markup(ctx.params),
        }
        source = _as_str(ctx.params.get("caption"))
        return self._apply_edit(ctx, message, changes, source)

    async def _edit_message_reply_markup(self, ctx: _Ctx) -> JsonDict:
        message = self._editable(ctx)
        changes = {"reply_markup": self._inline_markup(ctx.params)}
        return self._apply_edit(ctx, message, changes, message.get("_source", ""))

    def _apply_edit(
        self, ctx: _Ctx, message: JsonDict, changes: JsonDict, source: str
    ) -> JsonDict:
        """Apply an edit, keeping the previous state in ``_edits``."""
        if all(_same(message.get(key), value) for key, value in changes.items()):
            raise _bad(NOT_MODIFIED)
        snapshot_keys = ("text", "entities", "caption", "caption_entities", "reply_markup")
        snapshot = {key: message[key] for key in snapshot_keys if key in message}
        snapshot.update(_source=message.get("_source"), edit_date=message.get("edit_date"))
        message["_edits"].append(snapshot)
        for key, value in changes.items():
            if value is None:
                message.pop(key, None)
            else:
                message[key] = value
        message.update(_source=source, _method=ctx.method, edit_date=int(time.time()))
        if "reply_markup" in changes:
            message["_reply_markup"] = changes["reply_markup"]
        return _public_message(message)

    async def _delete_message(self, ctx: _Ctx) -> bool:
        chat = self._target_chat(ctx.params)
        message = self._messages.get((chat["id"], _as_int(ctx.params.get("message_id")) or 0))
        if message is None or message.get("_deleted"):
            raise _bad("message to delete not found")
        message["_deleted"] = True
        return True

    async def _answer_callback_query(self, ctx: _Ctx) -> bool:
        query_id = _as_str(ctx.params.get("callback_query_id"))
        if query_id not in self._callback_queries or query_id in self.callback_answers:
            raise _bad(QUERY_INVALID)
        text = _as_str(ctx.params.get("text"))
        if utf16_len(text) > 200:
            raise _bad("MESSAGE_TOO_LONG")
        self.callback_answers[query_id] = {
            "text": text or None,
            "show_alert": _as_bool(ctx.params.get("show_alert")),
            "url": ctx.params.get("url"),
            "cache_time": _as_int(ctx.params.get("cache_time")) or 0,
        }
        return True

    # ---------------------------------------------------------- message storage

    def _store_message(
        self,
        chat: JsonDict,
        sender: JsonDict,
        content: JsonDict,
        reply_to: JsonDict | None = None,
    ) -> JsonDict:
        """Store a message; ids grow per chat, shared by the bot and the users."""
        chat_id = chat["id"]
        message_id = self._last_message_id.get(chat_id, 0) + 1
        self._last_message_id[chat_id] = message_id
        message: JsonDict = {
            "message_id": message_id,
            "from": dict(sender),
            "chat": dict(chat),
            "date": int(time.time()),
        }
        if reply_to is not None:
            quoted = _public(reply_to)
            quoted.pop("reply_to_message", None)  # Telegram does not nest replies
            message["reply_to_message"] = quoted
        message.update(content)
        message.setdefault("_outgoing", False)
        self._history.setdefault(chat_id, []).append(message)
        self._messages[(chat_id, message_id)] = message
        return message

    def _private_chat(self, user: JsonDict) -> JsonDict:
        chat = {"id": user["id"], "type": "private", "first_name": user["first_name"]}
        for key in ("last_name", "username"):
            if user.get(key):
                chat[key] = user[key]
        return chat

    async def incoming(
        self,
        chat: JsonDict,
        user: JsonDict,
        content: JsonDict,
        reply_to: JsonDict | None = None,
    ) -> JsonDict:
        """Store a message a user sent and queue it as a "message" update."""
        self._seen_users.add(user["id"])
        if chat["type"] == "private":
            self._chats[chat["id"]] = chat
            self._blocked.discard(chat["id"])  # writing to the bot means it is unblocked
        target = None
        if reply_to is not None:
            target = self._messages.get((chat["id"], reply_to["message_id"]))
            if target is None:
                raise LookupError(f"no message {reply_to['message_id']} in chat {chat['id']}")
        message = self._store_message(chat, user, content, target)
        await self.push_update("message", _public(message))
        return message

    async def press(
        self, user: JsonDict, message: JsonDict, text: str | None = None, data: str | None = None
    ) -> str:
        """Queue a callback_query for a button of ``message``; returns the query id."""
        current = self._current(message)
        if current is None or current.get("_deleted"):
            raise LookupError(f"message {message.get('message_id')} is gone")
        if data is None:
            data = self._button_data(current, text)
        self._counter += 1
        query_id = str(4_000_000_000_000_000_000 + self._counter * 7_919)
        query = {
            "id": query_id,
            "from": dict(user),
            "message": _public(current),
            "chat_instance": str(-(abs(current["chat"]["id"]) * 31 + 1_000_000_007)),
            "data": data,
        }
        self._seen_users.add(user["id"])
        self._callback_queries[query_id] = query
        await self.push_update("callback_query", query)
        return query_id

    def _button_data(self, message: JsonDict, text: str | None) -> str:
        if text is None:
            raise ValueError("give the button text or data=")
        buttons = self.buttons(message)
        for label, data in buttons:
            if label == text:
                if data is None:
                    raise ValueError(f"button {text!r} has no callback_data")
                return data
        raise LookupError(f"no button {text!r} in message; buttons: {buttons}")

    def _current(self, message: JsonDict) -> JsonDict | None:
        chat_id = message.get("chat", {}).get("id")
        return self._messages.get((chat_id, message.get("message_id", 0)))

    # ------------------------------------------------------ simulation and checks

    def user(
        self,
        user_id: int,
        first_name: str,
        username: str | None = None,
        language_code: str | None = "zh-hans",
        last_name: str | None = None,
        *,
        started: bool = False,
    ) -> FakeUser:
        """A simulated person; ``started=True`` pretends they already wrote to the bot."""
        info: JsonDict = {"id": user_id, "is_bot": False, "first_name": first_name}
        optional = {"last_name": last_name, "username": username, "language_code": language_code}
        info.update({key: value for key, value in optional.items() if value})
        if started:
            self._seen_users.add(user_id)
            self._chats[user_id] = self._private_chat(info)
        return FakeUser(self, info)

    def group(self, chat_id: int, title: str) -> FakeGroup:
        """A group the bot is a member of (ids starting with -100 are supergroups)."""
        kind = "supergroup" if str(chat_id).startswith("-100") else "group"
        chat = {"id": chat_id, "type": kind, "title": title}
        self._chats[chat_id] = chat
        return FakeGroup(self, chat)

    def sent_to(self, chat_id: int) -> list[JsonDict]:
        """Everything the bot sent to the chat, in order (deleted ones have ``_deleted``)."""
        return [m for m in self._history.get(chat_id, []) if m.get("_outgoing")]

    def history(self, chat_id: int) -> list[JsonDict]:
        """All messages of the chat, the users' and the bot's."""
        return list(self._history.get(chat_id, []))

    def last_sent(self, chat_id: int) -> JsonDict | None:
        sent = self.sent_to(chat_id)
        return sent[-1] if sent else None

    def buttons(self, message: JsonDict) -> list[tuple[str, str | None]]:
        """(text, callback_data) of every button of the message's current keyboard."""
        current = self._current(message) or message
        markup = current.get("_reply_markup") or current.get("reply_markup") or {}
        rows = markup.get("inline_keyboard") or markup.get("keyboard") or []
        result: list[tuple[str, str | None]] = []
        for row in rows:
            for button in row:
                if isinstance(button, str):
                    result.append((button, None))
                else:
                    result.append((str(button.get("text", "")), button.get("callback_data")))
        return result

    def calls_to(self, method: str) -> list[ApiCall]:
        return [call for call in self.calls if call.method.lower() == method.lower()]

    def file_bytes(self, file_id: str) -> bytes:
        return self.files[file_id].data

    async def wait_for_message(
        self,
        chat_id: int,
        predicate: MessagePredicate | None = None,
        timeout: float = 10.0,  # noqa: ASYNC109 - part of the helper's API
        after: int | None = None,
    ) -> JsonDict:
        """The first bot message in the chat (newer than ``after``) matching ``predicate``."""
        found: list[JsonDict] = []

        def match() -> bool:
            for message in self.sent_to(chat_id):
                newer = after is None or message["message_id"] > after
                if newer and (predicate is None or predicate(message)):
                    found.append(message)
                    return True
            return False

        if not await self._wait(match, timeout):
            texts = [m.get("text", m.get("caption")) for m in self.sent_to(chat_id)]
            raise TimeoutError(
                f"no matching bot message in chat {chat_id} after {after} within {timeout}s; "
                f"the bot sent: {texts}"
            )
        return found[-1]

    async def wait_until_answered(
        self, callback_query_id: str, timeout: float = 10.0  # noqa: ASYNC109
    ) -> JsonDict:
        """Wait for answerCallbackQuery on the query and return the answer."""
        if not await self._wait(lambda: callback_query_id in self.callback_answers, timeout):
            raise TimeoutError(f"callback query {callback_query_id} not answered in {timeout}s")
        return self.callback_answers[callback_query_id]

    async def wait_until(
        self, predicate: Callable[[], bool], timeout: float = 10.0  # noqa: ASYNC109
    ) -> None:
        """Wait until ``predicate()`` holds; re-checked after every API call/update."""
        if not await self._wait(predicate, timeout):
            raise TimeoutError(f"condition not met within {timeout}s")

    # -------------------------------------------------------------- control API

    async def _control_user_message(self, request: web.Request) -> web.StreamResponse:
        try:
            body = await request.json()
            person = self.user(
                int(body["user_id"]),
                str(body.get("first_name") or "User"),
                username=body.get("username"),
                language_code=body.get("language_code", "zh-hans"),
            )
            chat_id = body.get("chat_id")
            if chat_id is not None and int(chat_id) != person.id:
                group = FakeGroup(self, self._chats[int(chat_id)])
                message = await group.send(person, str(body["text"]))
            else:
                message = await person.send(str(body["text"]))
        except (KeyError, ValueError, TypeError, LookupError) as exc:
            return web.json_response({"ok": False, "description": repr(exc)}, status=400)
        return web.json_response({"ok": True, "result": jsonable(message)})

    async def _control_press(self, request: web.Request) -> web.StreamResponse:
        try:
            body = await request.json()
            person = self.user(int(body["user_id"]), str(body.get("first_name") or "User"))
            message = {"chat": {"id": int(body["chat_id"])}, "message_id": int(body["message_id"])}
            query_id = await person.press(message, body.get("text"), data=body.get("data"))
        except (KeyError, ValueError, TypeError, LookupError) as exc:
            return web.json_response({"ok": False, "description": repr(exc)}, status=400)
        return web.json_response({"ok": True, "result": query_id})

    async def _control_sent(self, request: web.Request) -> web.StreamResponse:
        chat_id = _as_int(request.query.get("chat_id"))
        if chat_id is None:
            return web.json_response({"ok": False, "description": "chat_id needed"}, status=400)
        return web.json_response({"ok": True, "result": jsonable(self.sent_to(chat_id))})

    async def _control_calls(self, request: web.Request) -> web.StreamResponse:
        calls = [
            {
                "method": call.method,
                "status": call.status,
                "chat_id": call.chat_id,
                "time": call.time,
                "description": call.description,
                "params": jsonable(call.params),
            }
            for call in self.calls
        ]
        return web.json_response({"ok": True, "result": calls})


def _ok_body(result: Any) -> JsonDict:
    if isinstance(result, _Described):
        return {"ok": True, "result": result.value, "description": result.description}
    return {"ok": True, "result": result}


def _text_content(name: str, entities_name: str, formatted: FormattedText) -> JsonDict:
    content: JsonDict = {}
    if formatted.text:
        content[name] = formatted.text
    if formatted.entities:
        content[entities_name] = formatted.entities
    return content


def _same(current: Any, new: Any) -> bool:
    # Telegram treats an absent field and an empty one alike when comparing edits.
    return (current or None) == (new or None)


def _checked_command(item: Any) -> JsonDict:
    if not isinstance(item, dict):
        raise _bad("can't parse BotCommand JSON object")
    command = _as_str(item.get("command")).removeprefix("/")
    description = _as_str(item.get("description")).strip()
    if not _COMMAND_NAME_RE.match(command):
        raise _bad("BOT_COMMAND_INVALID")
    if not 1 <= len(description) <= 256:
        raise _bad("BOT_COMMAND_DESCRIPTION_INVALID")
    return {"command": command, "description": description}


def _check_inline_keyboard(rows: Any) -> None:
    if not isinstance(rows, list) or not all(isinstance(row, list) for row in rows):
        raise _bad('field "inline_keyboard" of the InlineKeyboardMarkup must be an Array of Arrays')
    for row in rows:
        for button in row:
            _check_inline_button(button)


def _check_inline_button(button: Any) -> None:
    if not isinstance(button, dict) or not isinstance(button.get("text"), str):
        raise _bad("can't parse inline keyboard button: InlineKeyboardButton must be an Object")
    actions = [key for key in _BUTTON_ACTIONS if key in button]
    if not actions:
        raise _bad(
            "can't parse inline keyboard button: Text buttons are unallowed in the inline keyboard"
        )
    if "callback_data" in button:
        size = len(_as_str(button["callback_data"]).encode("utf-8"))
        if not 1 <= size <= MAX_CALLBACK_DATA:
            raise _bad("BUTTON_DATA_INVALID")
    if "url" in button and not re.match(r"(?i)^(https?|tg)://\S+$", _as_str(button["url"])):
        raise _bad("BUTTON_URL_INVALID")


# ------------------------------------------------------------ simulated people


class FakeUser:
    """A person talking to the bot in a private chat (and, via FakeGroup, in groups)."""

    def __init__(self, fake: FakeTelegram, info: JsonDict) -> None:
        self.fake = fake
        self.info = info

    @property
    def id(self) -> int:
        return int(self.info["id"])

    @property
    def chat(self) -> JsonDict:
        return self.fake._private_chat(self.info)

    async def send(self, text: str, reply_to: JsonDict | None = None) -> JsonDict:
        """Write to the bot; "/cmd" words get bot_command entities like in Telegram."""
        return await self.fake.incoming(self.chat, self.info, _user_text(text), reply_to)

    async def send_document(
        self,
        filename: str,
        data: bytes,
        caption: str | None = None,
        mime_type: str | None = None,
    ) -> JsonDict:
        """Send a file; the bot can fetch it with getFile + download."""
        mime = mime_type or mimetypes.guess_type(filename)[0] or "application/octet-stream"
        stored = self.fake._store_file(data, filename, mime, "documents")
        content: JsonDict = {"document": stored.as_document(), "_file": stored}
        if caption:
            content["caption"] = caption
        return await self.fake.incoming(self.chat, self.info, content)

    async def send_photo(self, data: bytes, caption: str | None = None) -> JsonDict:
        size = image_size(data)
        if size is None:
            raise ValueError("not a PNG/JPEG/GIF/WebP image")
        stored = self.fake._store_file(data, None, None, "photos")
        stored.width, stored.height = size
        content: JsonDict = {"photo": stored.as_photo(), "_file": stored}
        if caption:
            content["caption"] = caption
        return await self.fake.incoming(self.chat, self.info, content)

    async def press(
        self, bot_message: JsonDict, text: str | None = None, *, data: str | None = None
    ) -> str:
        """Press the inline button labelled ``text`` (or send raw ``data``); returns the
        callback query id."""
        return await self.fake.press(self.info, bot_message, text, data)

    def received(self) -> list[JsonDict]:
        return self.fake.sent_to(self.id)

    async def wait_for_message(
        self,
        predicate: MessagePredicate | None = None,
        timeout: float = 10.0,  # noqa: ASYNC109 - part of the helper's API
        after: int | None = None,
    ) -> JsonDict:
        return await self.fake.wait_for_message(self.id, predicate, timeout, after)

    async def block_bot(self) -> None:
        """Block the bot; Telegram tells the bot with a my_chat_member update."""
        self.fake.block(self.id)
        bot = self.fake.bot_user(self.fake.bot_id or 0)
        update = {
            "chat": self.chat,
            "from": dict(self.info),
            "date": int(time.time()),
            "old_chat_member": {"status": "member", "user": bot},
            "new_chat_member": {"status": "kicked", "user": bot, "until_date": 0},
        }
        await self.fake.push_update("my_chat_member", update)


class FakeGroup:
    """A group chat the bot is in; its members' messages reach the bot as updates."""

    def __init__(self, fake: FakeTelegram, chat: JsonDict) -> None:
        self.fake = fake
        self.chat = chat

    @property
    def id(self) -> int:
        return int(self.chat["id"])

    async def send(
        self, user: FakeUser, text: str, reply_to: JsonDict | None = None
    ) -> JsonDict:
        return await self.fake.incoming(self.chat, user.info, _user_text(text), reply_to)

    def received(self) -> list[JsonDict]:
        return self.fake.sent_to(self.id)

    async def wait_for_message(
        self,
        predicate: MessagePredicate | None = None,
        timeout: float = 10.0,  # noqa: ASYNC109 - part of the helper's API
        after: int | None = None,
    ) -> JsonDict:
        return await self.fake.wait_for_message(self.id, predicate, timeout, after)


def _user_text(text: str) -> JsonDict:
    content: JsonDict = {"text": text}
    entities = command_entities(text)
    if entities:
        content["entities"] = entities
    return content


# ----------------------------------------------------------------- stand-alone


async def _serve(args: argparse.Namespace) -> None:
    fake = FakeTelegram(
        token_check=not args.no_token_check,
        host=args.host,
        port=args.port,
        bot_username=args.bot_username,
    )
    fake.enforce_limits = not args.no_limits
    await fake.start()
    print(fake.base_url, flush=True)
    print(
        f"Fake Telegram Bot API. Bot token e.g. {DEFAULT_TOKEN}\n"
        f"  POST {fake.base_url}/_control/user_message "
        '{"user_id": 1001, "first_name": "Li", "text": "/start"}\n'
        f"  POST {fake.base_url}/_control/press "
        '{"user_id": 1001, "chat_id": 1001, "message_id": 2, "text": "button"}\n'
        f"  GET  {fake.base_url}/_control/sent?chat_id=1001\n"
        f"  GET  {fake.base_url}/_control/calls",
        flush=True,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await fake.stop()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Fake Telegram Bot API server for manual tries")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8081, help="0 picks a free port")
    parser.add_argument("--bot-username", default="duban_test_bot")
    parser.add_argument("--no-token-check", action="store_true")
    parser.add_argument("--no-limits", action="store_true", help="do not enforce flood limits")
    asyncio.run(_serve(parser.parse_args(argv)))


if __name__ == "__main__":
    main()
