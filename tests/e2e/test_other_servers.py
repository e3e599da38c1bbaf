"""Bot API servers that are not Telegram's and not quite right: found by trying Duban against
telegram-test-api (npm). A server that answers ok in an unexpected shape has still accepted the
message, so it must not be sent twice; a broken getMe stops start-up with one clear line."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from bot.telegram.factory import create_bot
from bot.telegram.sender import TelegramSender
from core.delivery import SendOutcome
from core.replies import Reply
from duban.runtime import Service, StartupError
from tests.conftest import make_settings


async def _echoing_server(request: web.Request) -> web.Response:
    """Like telegram-test-api: answers sendMessage with the request echoed back, strings and all,
    and getMe without the required `is_bot`."""
    params = dict(await request.post())
    method = request.match_info["method"]
    result = {"id": 666, "first_name": "Bot"} if method == "getMe" else {
        **params, "message_id": 7, "link_preview_options": json.dumps({"is_disabled": True})}
    return web.json_response({"ok": True, "result": result})


@pytest.fixture
async def odd_server() -> AsyncIterator[str]:
    app = web.Application()
    app.router.add_post("/bot{token}/{method}", _echoing_server)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    yield str(server.make_url("")).rstrip("/")
    await server.close()


async def test_an_ok_answer_in_an_odd_shape_counts_as_sent(odd_server: str, db_path: Path) -> None:
    bot = create_bot(make_settings(db_path, telegram_api_url=odd_server))
    try:
        result = await TelegramSender(bot).send("1005", Reply("<b>你好</b>"))
    finally:
        await bot.session.close()
    assert result.outcome == SendOutcome.SENT and result.message_ref == "7"


async def test_a_broken_get_me_stops_start_up_with_one_line(odd_server: str, db_path: Path) -> None:
    service = Service(make_settings(db_path, telegram_api_url=odd_server))
    with pytest.raises(StartupError) as caught:
        await service.start()
    message = str(caught.value)
    assert "DUBAN_TELEGRAM_API_URL" in message and "getMe" in message and "\n" not in message
