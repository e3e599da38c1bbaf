"""Self-test of the fake Telegram Bot API: the real aiogram Bot talks to it over HTTP."""

from __future__ import annotations

import asyncio
import io
import struct
import sys
import zlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiogram import Bot, Dispatcher, F, Router
from aiogram.exceptions import (
    TelegramBadRequest,
    TelegramConflictError,
    TelegramForbiddenError,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
    TelegramUnauthorizedError,
)
from aiogram.filters import CommandObject, CommandStart
from aiogram.types import (
    BotCommand,
    BotCommandScopeChat,
    BufferedInputFile,
    CallbackQuery,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
)
from aiogram.webhook.aiohttp_server import SimpleRequestHandler
from aiohttp import web

from tests.fakes.telegram_api import DEFAULT_TOKEN, FakeTelegram, FakeUser
from tests.fakes.telegram_limits import RateLimits
from tests.fakes.telegram_text import EntityParseError, check_markdown_v2, parse_html, utf16_len

BOT_ID = int(DEFAULT_TOKEN.split(":")[0])
REPO = Path(__file__).resolve().parents[2]


def keyboard(*buttons: tuple[str, str]) -> InlineKeyboardMarkup:
    row = [InlineKeyboardButton(text=text, callback_data=data) for text, data in buttons]
    return InlineKeyboardMarkup(inline_keyboard=[row])


def tiny_png(width: int = 3, height: int = 2) -> bytes:
    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = zlib.crc32(kind + body)
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    pixels = zlib.compress(b"".join(b"\x00" + b"\xff\x00\x00" * width for _ in range(height)))
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(
        b"IEND", b""
    )


@pytest.fixture
async def fake() -> AsyncIterator[FakeTelegram]:
    async with FakeTelegram() as server:
        yield server


@pytest.fixture
async def bot(fake: FakeTelegram) -> AsyncIterator[Bot]:
    client = fake.make_bot(timeout=5)
    yield client
    await client.session.close()


@pytest.fixture
async def user(fake: FakeTelegram) -> FakeUser:
    person = fake.user(1001, "李雷", username="lilei")
    await person.send("/start")
    return person


async def raw(fake: FakeTelegram, path: str, **kwargs: Any) -> tuple[int, Any]:
    async with aiohttp.ClientSession() as http, http.post(fake.base_url + path, **kwargs) as resp:
        return resp.status, await resp.json()


# ------------------------------------------------------------------ identity, wire


async def test_get_me_with_real_bot(bot: Bot) -> None:
    me = await bot.get_me()
    assert (me.id, me.is_bot, me.first_name, me.username) == (
        BOT_ID,
        True,
        "Duban",
        "duban_test_bot",
    )


async def test_wire_shapes_tokens_and_method_names(fake: FakeTelegram) -> None:
    assert await raw(fake, "/botnot-a-token/getMe") == (
        401,
        {"ok": False, "error_code": 401, "description": "Unauthorized"},
    )
    status, body = await raw(fake, f"/bot{DEFAULT_TOKEN}/noSuchMethod")
    assert (status, body["description"]) == (404, "Not Found: method not found")
    status, body = await raw(fake, f"/bot{DEFAULT_TOKEN}/GETME")
    assert status == 200 and body["result"]["id"] == BOT_ID


async def test_json_body_and_query_string_parameters(fake: FakeTelegram, user: FakeUser) -> None:
    markup = {"inline_keyboard": [[{"text": "确认", "callback_data": "ok"}]]}
    status, body = await raw(
        fake,
        f"/bot{DEFAULT_TOKEN}/sendMessage?chat_id={user.id}",
        json={"text": "<i>hi</i>", "parse_mode": "HTML", "reply_markup": markup},
    )
    assert status == 200
    assert body["result"]["text"] == "hi"
    assert body["result"]["reply_markup"] == markup
    assert "_outgoing" not in body["result"]  # bookkeeping never leaks to the bot


# ------------------------------------------------------------- sending, editing


async def test_send_html_with_keyboard_then_edit(
    fake: FakeTelegram, bot: Bot, user: FakeUser
) -> None:
    sent = await bot.send_message(
        user.id,
        "<b>项目</b> &lt;申报&gt; 😀 <i>截止</i>",
        parse_mode="HTML",
        reply_markup=keyboard(("已完成", "done:7"), ("稍后", "later:7")),
    )
    assert sent.text == "项目 <申报> 😀 截止"
    assert sent.entities is not None
    assert [(e.type, e.offset, e.length) for e in sent.entities] == [
        ("bold", 0, 2),
        ("italic", 11, 2),  # the emoji counts as two UTF-16 units
    ]
    stored = fake.sent_to(user.id)[-1]
    assert stored["message_id"] == sent.message_id == 2  # /start was message 1
    assert fake.buttons(stored) == [("已完成", "done:7"), ("稍后", "later:7")]

    edited = await bot.edit_message_text(
        text="已处理", chat_id=user.id, message_id=sent.message_id
    )
    assert isinstance(edited, Message) and edited.text == "已处理"
    assert stored["text"] == "已处理" and "reply_markup" not in stored  # keyboard dropped
    assert stored["_edits"][0]["text"] == "项目 <申报> 😀 截止"

    with pytest.raises(TelegramBadRequest, match="message is not modified"):
        await bot.edit_message_text(text="已处理", chat_id=user.id, message_id=sent.message_id)
    with pytest.raises(TelegramBadRequest, match="message to edit not found"):
        await bot.edit_message_text(text="x", chat_id=user.id, message_id=99)

    await bot.edit_message_reply_markup(
        chat_id=user.id, message_id=sent.message_id, reply_markup=keyboard(("撤销", "undo:7"))
    )
    assert fake.buttons(stored) == [("撤销", "undo:7")]
    assert len(stored["_edits"]) == 2


async def test_unknown_chat_delete_and_chat_action(
    fake: FakeTelegram, bot: Bot, user: FakeUser
) -> None:
    with pytest.raises(TelegramBadRequest, match="chat not found"):
        await bot.send_message(424242, "hi")
    assert await bot.send_chat_action(user.id, "typing")
    assert fake.chat_actions == [(user.id, "typing")]
    sent = await bot.send_message(user.id, "tmp")
    assert await bot.delete_message(user.id, sent.message_id)
    assert fake.sent_to(user.id)[-1]["_deleted"] is True
    with pytest.raises(TelegramBadRequest, match="message to delete not found"):
        await bot.delete_message(user.id, sent.message_id)


async def test_bad_requests(fake: FakeTelegram, bot: Bot, user: FakeUser) -> None:
    fake.enforce_limits = False
    with pytest.raises(TelegramBadRequest, match=r'Unsupported start tag "br" at byte offset 1'):
        await bot.send_message(user.id, "a<br>b", parse_mode="HTML")
    with pytest.raises(TelegramBadRequest, match="can't parse entities"):
        await bot.send_message(user.id, "进度 < 50%", parse_mode="HTML")
    with pytest.raises(TelegramBadRequest, match="message text is empty"):
        await bot.send_message(user.id, "<b> </b>", parse_mode="HTML")
    with pytest.raises(TelegramBadRequest, match="message is too long"):
        await bot.send_message(user.id, "😀" * 2049)  # 2049 characters, 4098 UTF-16 units
    await bot.send_message(user.id, "字" * 4096)
    with pytest.raises(TelegramBadRequest, match="BUTTON_DATA_INVALID"):
        await bot.send_message(user.id, "x", reply_markup=keyboard(("a", "d" * 65)))
    await bot.send_message(user.id, "x", reply_markup=keyboard(("a", "d" * 64)))
    with pytest.raises(TelegramBadRequest, match="caption is too long"):
        photo = BufferedInputFile(tiny_png(), "chart.png")
        await bot.send_photo(user.id, photo, caption="c" * 1025)
    assert fake.stats["sends_ok"] == 2


# ------------------------------------------------------------ faults and limits


async def test_injected_429_raises_retry_after(
    fake: FakeTelegram, bot: Bot, user: FakeUser
) -> None:
    fake.fail_next("sendMessage", status=429, retry_after=7)
    with pytest.raises(TelegramRetryAfter) as caught:
        await bot.send_message(user.id, "hi")
    assert caught.value.retry_after == 7
    assert fake.calls[-1].status == 429
    assert fake.stats["errors_injected"] == 1
    assert fake.sent_to(user.id) == []
    await bot.send_message(user.id, "hi")  # only the next one failed


async def test_blocked_user_gives_forbidden(
    fake: FakeTelegram, bot: Bot, user: FakeUser
) -> None:
    fake.block(user.id)
    with pytest.raises(TelegramForbiddenError, match="bot was blocked by the user"):
        await bot.send_message(user.id, "hi")
    await user.send("我回来了")  # writing to the bot again means it was unblocked
    await bot.send_message(user.id, "welcome back")


async def test_server_errors_and_slow_answers(fake: FakeTelegram, user: FakeUser) -> None:
    fake.enforce_limits = False
    fake.fail_next("sendMessage", status=502)
    impatient = fake.make_bot(timeout=0.3)
    try:
        with pytest.raises(TelegramServerError, match="Bad Gateway"):
            await impatient.send_message(user.id, "hi")
        fake.set_faults(p_5xx=1.0, seed=1)
        with pytest.raises(TelegramServerError):
            await impatient.send_message(user.id, "hi")
        fake.set_faults(p_timeout=1.0, timeout_seconds=2.0, seed=1)
        with pytest.raises(TelegramNetworkError, match="timeout"):
            await impatient.send_message(user.id, "delivered anyway")
        # Like a real timeout, the message went out although the client gave up.
        assert fake.sent_to(user.id)[-1]["text"] == "delivered anyway"
        assert fake.stats["errors_injected"] == 3
    finally:
        await impatient.session.close()


async def test_flood_limits(fake: FakeTelegram, bot: Bot, user: FakeUser) -> None:
    await bot.send_message(user.id, "one")
    with pytest.raises(TelegramRetryAfter) as caught:
        await bot.send_message(user.id, "two")
    assert caught.value.retry_after == 1
    assert fake.stats["per_chat_violations"] == 1
    assert fake.stats["rate_limited"] == 1

    group = fake.group(-1001234567890, "督办群")
    fake.limits = RateLimits(group_per_minute=2, global_per_second=30)
    await bot.send_message(group.id, "g1")
    await bot.send_message(group.id, "g2")
    with pytest.raises(TelegramRetryAfter) as caught:
        await bot.send_message(group.id, "g3")
    assert 55 <= caught.value.retry_after <= 60

    fake.limits = RateLimits(global_per_second=1)
    fake.reset_limits()
    other = fake.user(1002, "韩梅梅", started=True)
    await bot.send_message(user.id, "a")
    with pytest.raises(TelegramRetryAfter):
        await bot.send_message(other.id, "b")
    assert fake.stats["global_violations"] == 1
    assert fake.stats["by_method"]["sendMessage"] == 7


async def test_pause_holds_requests(fake: FakeTelegram, bot: Bot, user: FakeUser) -> None:
    fake.pause()
    sending = asyncio.create_task(bot.send_message(user.id, "held"))
    await asyncio.sleep(0.1)
    assert not sending.done() and fake.sent_to(user.id) == []
    fake.resume()
    assert (await sending).text == "held"


# ---------------------------------------------------------- updates and polling


async def test_get_updates_offsets_long_poll_and_conflict(
    fake: FakeTelegram, bot: Bot, user: FakeUser
) -> None:
    first = await bot.get_updates(timeout=0)
    assert [u.message.text for u in first if u.message] == ["/start"]
    assert first[0].message and first[0].message.entities
    assert first[0].message.entities[0].type == "bot_command"
    assert len(await bot.get_updates(timeout=0)) == 1  # not confirmed yet
    offset = first[-1].update_id + 1

    stale = asyncio.create_task(bot.get_updates(offset=offset, timeout=5))
    await asyncio.sleep(0.1)
    fresh = asyncio.create_task(bot.get_updates(offset=offset, timeout=5))
    with pytest.raises(TelegramConflictError, match="terminated by other getUpdates"):
        await stale
    await asyncio.sleep(0.05)
    await user.send("第二条")
    updates = await asyncio.wait_for(fresh, 2)  # answered as soon as the update arrives
    assert [u.message.text for u in updates if u.message] == ["第二条"]
    assert updates[0].message and updates[0].message.message_id == 2


async def test_dispatcher_round_trip_with_buttons(fake: FakeTelegram, bot: Bot) -> None:
    router = Router()

    @router.message(CommandStart())
    async def start(message: Message, command: CommandObject) -> None:
        await message.answer(
            f"欢迎 <b>{message.from_user.first_name if message.from_user else ''}</b>，"
            f"参数 {command.args}",
            parse_mode="HTML",
            reply_markup=keyboard(("已完成", "done:1")),
        )

    @router.callback_query(F.data == "done:1")
    async def done(query: CallbackQuery) -> None:
        if isinstance(query.message, Message):
            await query.message.edit_text("已记录完成")
        await query.answer("好的", show_alert=True)

    dp = Dispatcher()
    dp.include_router(router)
    polling = asyncio.create_task(
        dp.start_polling(bot, handle_signals=False, close_bot_session=False, polling_timeout=1)
    )
    try:
        person = fake.user(2001, "王芳", language_code="zh-hans")
        await person.send("/start abc")
        welcome = await fake.wait_for_message(person.id, lambda m: "欢迎" in m["text"])
        assert welcome["text"] == "欢迎 王芳，参数 abc"

        query_id = await person.press(welcome, "已完成")
        answer = await fake.wait_until_answered(query_id)
        assert answer == {"text": "好的", "show_alert": True, "url": None, "cache_time": 0}
        assert welcome["text"] == "已记录完成"  # the live dict shows the edit
        assert fake.buttons(welcome) == []
    finally:
        await dp.stop_polling()
        await polling

    # A poller that reconnects (its old long poll still open server-side) keeps working.
    fake.enforce_limits = False  # the second welcome comes within a second of the first
    polling = asyncio.create_task(
        dp.start_polling(bot, handle_signals=False, close_bot_session=False, polling_timeout=1)
    )
    try:
        await person.send("/start again")
        again = await fake.wait_for_message(person.id, after=welcome["message_id"])
        assert again["text"].endswith("参数 again")
    finally:
        await dp.stop_polling()
        await polling


async def test_callback_answers_and_forged_data(
    fake: FakeTelegram, bot: Bot, user: FakeUser
) -> None:
    sent = await bot.send_message(user.id, "选择", reply_markup=keyboard(("A", "pick:a")))
    query_id = await user.press(fake.sent_to(user.id)[-1], data="pick:../../admin")
    updates = await bot.get_updates(timeout=0)
    query = updates[-1].callback_query
    assert query is not None and query.id == query_id and query.data == "pick:../../admin"
    assert isinstance(query.message, Message) and query.message.message_id == sent.message_id
    assert await bot.answer_callback_query(query_id, text="no")
    with pytest.raises(TelegramBadRequest, match="query is too old"):
        await bot.answer_callback_query(query_id)
    with pytest.raises(LookupError):
        await user.press(fake.sent_to(user.id)[-1], "B")


async def test_group_commands_and_replies(fake: FakeTelegram, bot: Bot, user: FakeUser) -> None:
    group = fake.group(-1009876543210, "科技局督办")
    await group.send(user, "/report@duban_test_bot 本周")
    answer = await bot.send_message(group.id, "本周汇总")
    await group.send(user, "谢谢", reply_to=fake.sent_to(group.id)[-1])
    updates = await bot.get_updates(timeout=0)
    command, thanks = updates[-2].message, updates[-1].message
    assert command and command.entities
    assert command.entities[0].length == len("/report@duban_test_bot")
    assert command.chat.type == "supergroup"
    assert thanks and thanks.reply_to_message
    assert thanks.reply_to_message.message_id == answer.message_id


async def test_commands_per_scope_and_language(
    fake: FakeTelegram, bot: Bot, user: FakeUser
) -> None:
    await bot.set_my_commands([BotCommand(command="start", description="开始")])
    scope = BotCommandScopeChat(chat_id=user.id)
    await bot.set_my_commands(
        [BotCommand(command="todo", description="我的待办")], scope=scope, language_code="zh"
    )
    assert [c.command for c in await bot.get_my_commands(scope=scope, language_code="zh")] == [
        "todo"
    ]
    assert await bot.get_my_commands(scope=scope) == []
    assert set(fake.commands) == {("default", ""), (f"chat:{user.id}", "zh")}
    assert fake.menu_for(user.id, "zh")[0]["command"] == "todo"
    assert fake.menu_for(user.id, "en")[0]["command"] == "start"
    await bot.delete_my_commands(scope=scope, language_code="zh")
    assert set(fake.commands) == {("default", "")}
    with pytest.raises(TelegramBadRequest, match="BOT_COMMAND_INVALID"):
        await bot.set_my_commands([BotCommand(command="bad command", description="x")])


# ---------------------------------------------------------------- files


async def test_document_upload_and_download(fake: FakeTelegram, bot: Bot, user: FakeUser) -> None:
    fake.enforce_limits = False
    payload = "项目,负责人\nA,李雷\n".encode()
    sent = await bot.send_document(
        user.id, BufferedInputFile(payload, "周报.csv"), caption="<b>周报</b>", parse_mode="HTML"
    )
    assert sent.document and sent.document.file_name == "周报.csv"
    assert sent.document.mime_type == "text/csv"
    assert sent.caption == "周报" and sent.caption_entities
    stored = fake.sent_to(user.id)[-1]["_file"]
    assert (stored.file_name, stored.data) == ("周报.csv", payload)
    downloaded = await bot.download(sent.document.file_id)
    assert isinstance(downloaded, io.BytesIO) and downloaded.getvalue() == payload

    incoming = await user.send_document("申报书.pdf", b"%PDF-1.4 fake", caption="材料")
    file_id = incoming["document"]["file_id"]
    file = await bot.get_file(file_id)
    assert file.file_path and file.file_path.endswith(".pdf")
    downloaded = await bot.download(file_id)
    assert downloaded is not None and downloaded.read() == b"%PDF-1.4 fake"

    photo = await bot.send_photo(user.id, BufferedInputFile(tiny_png(3, 2), "chart.png"))
    assert photo.photo and (photo.photo[-1].width, photo.photo[-1].height) == (3, 2)
    again = await bot.send_photo(user.id, photo.photo[-1].file_id)  # re-send by file_id
    assert again.photo and again.photo[-1].file_id == photo.photo[-1].file_id
    with pytest.raises(TelegramBadRequest, match="IMAGE_PROCESS_FAILED"):
        await bot.send_photo(user.id, BufferedInputFile(b"not an image", "x.png"))


# -------------------------------------------------------------------- webhooks


async def test_webhook_delivery_secret_retry_and_reply(fake: FakeTelegram, bot: Bot) -> None:
    received: list[tuple[str | None, dict[str, Any]]] = []
    statuses = [500, 200]  # fail once, so Telegram-style retry kicks in

    async def endpoint(request: web.Request) -> web.Response:
        secret = request.headers.get("X-Telegram-Bot-Api-Secret-Token")
        received.append((secret, await request.json()))
        return web.Response(status=statuses.pop(0) if statuses else 200)

    app = web.Application()
    app.router.add_post("/hook", endpoint)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    url = f"http://127.0.0.1:{runner.addresses[0][1]}/hook"
    try:
        assert await bot.set_webhook(url, secret_token="s3cret-token_1")
        with pytest.raises(TelegramConflictError, match="webhook is active"):
            await bot.get_updates()
        person = fake.user(3001, "赵敏")
        await person.send("hello")
        await fake.wait_until(lambda: len(received) == 2 and not fake.pending_updates)
        assert received[0] == received[1]
        assert received[0][0] == "s3cret-token_1"
        assert received[0][1]["message"]["text"] == "hello"
        info = await bot.get_webhook_info()
        assert info.url == url and info.pending_update_count == 0
        assert info.last_error_message == (
            "Wrong response from the webhook: 500 Internal Server Error"
        )
        assert await bot.delete_webhook()
        assert await bot.get_updates(timeout=0) == []
    finally:
        await runner.cleanup()


async def test_aiogram_webhook_answer_in_response_body(fake: FakeTelegram, bot: Bot) -> None:
    router = Router()

    @router.message()
    async def echo(message: Message) -> Any:
        return message.answer(f"echo: {message.text}")  # sent back in the webhook reply

    dp = Dispatcher()
    dp.include_router(router)
    app = web.Application()
    SimpleRequestHandler(dp, bot, handle_in_background=False, secret_token="tok").register(
        app, path="/wh"
    )
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    try:
        await bot.set_webhook(f"http://127.0.0.1:{runner.addresses[0][1]}/wh", secret_token="tok")
        person = fake.user(3002, "周芷若")
        await person.send("你好")
        reply = await fake.wait_for_message(person.id)
        assert reply["text"] == "echo: 你好"
    finally:
        await runner.cleanup()


# ---------------------------------------------------------------- stand-alone


async def test_stand_alone_server_and_control_api() -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tests.fakes.telegram_api", "--port", "0",
        cwd=REPO, stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        assert process.stdout is not None
        base_url = (await asyncio.wait_for(process.stdout.readline(), 10)).decode().strip()
        assert base_url.startswith("http://127.0.0.1:")
        async with aiohttp.ClientSession() as http:
            body = {"user_id": 7, "first_name": "Tester", "text": "/start"}
            async with http.post(base_url + "/_control/user_message", json=body) as resp:
                assert (await resp.json())["result"]["message_id"] == 1
            async with http.post(
                f"{base_url}/bot{DEFAULT_TOKEN}/sendMessage", data={"chat_id": "7", "text": "hi"}
            ) as resp:
                assert resp.status == 200
            async with http.get(base_url + "/_control/sent", params={"chat_id": "7"}) as resp:
                sent = (await resp.json())["result"]
        assert [m["text"] for m in sent] == ["hi"]
    finally:
        process.terminate()
        assert await asyncio.wait_for(process.wait(), 5) == 0  # SIGTERM stops it cleanly


async def test_log_out_then_unauthorized(fake: FakeTelegram, bot: Bot) -> None:
    assert await bot.log_out()
    with pytest.raises(TelegramUnauthorizedError):
        await bot.get_me()


# ------------------------------------------------------------------ text rules


def test_html_parser_matches_telegram() -> None:
    parsed = parse_html('<pre><code class="language-python">x = 1</code></pre> a &amp; b & c')
    assert parsed.text == "x = 1 a & b & c"
    assert parsed.entities == [{"offset": 0, "length": 5, "type": "pre", "language": "python"}]
    link = parse_html('<a href="https://example.org/?a=1&amp;b=2">链接</a>')
    assert link.entities[0]["url"] == "https://example.org/?a=1&b=2"
    spoiler = parse_html('<span class="tg-spoiler">秘</span><blockquote expandable>q</blockquote>')
    assert [e["type"] for e in spoiler.entities] == ["spoiler", "expandable_blockquote"]
    assert utf16_len("😀a") == 3
    errors = {
        "<b>x</i>": 'Unmatched end tag at byte offset 4, expected "</b>", found "</i>"',
        "<b>x": 'Can\'t find end tag corresponding to start tag "b"',
        "中<span>x</span>": 'Tag "span" must have class "tg-spoiler" at byte offset 3',
        "x</b>": "Unexpected end tag at byte offset 1",
        "a <": "Unclosed start tag at byte offset 2",
    }
    for source, message in errors.items():
        with pytest.raises(EntityParseError) as caught:
            parse_html(source)
        assert str(caught.value) == message, source
    assert check_markdown_v2(r"*截止* 12\.01 [详情](https://x.org/a.b)").text == "截止 12.01 详情"
    with pytest.raises(EntityParseError, match=r"Character '\.' is reserved"):
        check_markdown_v2("进度 50.5%")

