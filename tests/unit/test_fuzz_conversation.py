"""Hypothesis-generated messages and button data from every role and a stranger: no unhandled
exception, every message answered in valid Telegram HTML under 4096 characters, and the database
unchanged whenever the answer is a refusal or an error. The same for channels without buttons
(WeCom, the console): a message, then a number choosing among what the answer offered (or any
other text), through `PlainChat` and its stored state.

The number of cases: `DUBAN_FUZZ_EXAMPLES`, shared with the import fuzz (tests/fuzzing.py).
"""

from __future__ import annotations

import asyncio

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.state import SqlStorage, chat_parts
from core.app import Core
from core.chat.context import MemoryFormState, Speaker
from core.chat.conversation import Conversation
from core.chat.plain import PlainChat
from core.enums import Channel
from core.replies import Reply
from tests.fakes.telegram_text import EntityParseError, parse_html, utf16_len
from tests.fuzzing import dump, fuzz

SPEAKERS = [1001, 1002, 1003, 1004, 1005, 1006, 999_999]  # every role, then a stranger
WECOM_SPEAKERS = [f"wecom{n}" for n in SPEAKERS]  # their WeCom userids (the last: nobody's)
# Forms and offered choices live there: a refusal may leave them as they were or not.
CONVERSATION_STATE = frozenset({"chat_states"})

fragments = st.sampled_from([
    "李明", "孙丽", "张副局长", "@liming", "1005", "无名氏", "|", "｜", "2026-12-20", "12月20日",
    "2026-02-30", "明天", "下周", "60", "60%", "150", "-5", "百分之六十", "已提交", "立项", "撤销",
    "#1", "1", "2", "99999", "<b>", "</i>", "&", "\"", "'", "\n", "  ", "😀", "截止", "提醒",
    "7d,1d", "2w", "30万", "abc", "责任人", "admin", "leader", "x" * 300, "已解决", "跳过",
    "国家重点研发计划", "重点", "订阅", "退订", "语言", "English", "中文", "渠道", "企业微信",
    "telegram", "争取资金", "立项数", "5000", "删除", "2027",
])
commands = st.sampled_from([
    "/start", "/help", "/tasks", "/task", "/report", "/summary", "/assign", "/edit", "/invite",
    "/cancel", "/unknown", "任务", "汇报", "汇总", "帮助", "取消", "/report@duban_test_bot",
    "/guidelines", "指南", "/import", "/target", "目标", "/settings", "设置",
])
command_lines = st.builds(lambda c, parts: " ".join([c, *parts]), commands,
                          st.lists(fragments, max_size=8))
messages = st.one_of(
    st.lists(fragments, min_size=1, max_size=6).map("".join),
    st.text(max_size=200),
    st.text(min_size=4090, max_size=4200, alphabet="长ab"),
)
buttons = st.one_of(
    st.builds(lambda verb, task, arg: f"{verb}:{task}:{arg}",
              st.sampled_from(["ack", "status", "pct", "step", "prog", "block", "view", "pick",
                               "skip", "ok", "cancel", "drop", "lang", "chan", ""]),
              st.sampled_from(["0", "1", "2", "999", "-1", "x"]),
              st.sampled_from(["", "submitted", "bogus", "60", "999", "10", "-10", "1005", ":",
                               "en", "zh", "wecom", "telegram", "console"])),
    st.text(max_size=80),
)
# On a buttonless channel: something likely to offer choices, then a choice (or anything).
offering = st.one_of(st.sampled_from(["/settings", "设置", "/assign", "/tasks", "/task 1",
                                      "/task 2", "任务"]), command_lines, messages)
choosing = st.one_of(st.integers(0, 12).map(str), st.sampled_from(["１", "01", " 2 "]),
                     command_lines, messages)


def check_replies(replies: list[Reply]) -> None:
    assert replies, "a message went unanswered"
    for reply in replies:
        assert reply.text.strip()
        assert utf16_len(reply.text) <= 4096
        check_html(reply.text)
        for row in reply.buttons:
            for button in row:
                assert len(button.action.encode().encode()) <= 64


def check_html(text: str) -> None:
    try:
        parse_html(text)
    except EntityParseError as error:  # pragma: no cover - the assertion says what broke
        pytest.fail(f"invalid Telegram HTML ({error.description}): {text[:200]!r}")


async def exchange(core: Core, speaker_id: int, incoming: str, pressed: bool) -> None:
    conversation = Conversation(core)
    speaker = Speaker(Channel.TELEGRAM, str(speaker_id))
    state = MemoryFormState()
    before = await dump(core, CONVERSATION_STATE)
    replies = await (conversation.press(speaker, incoming, state) if pressed
                     else conversation.message(speaker, incoming, state))
    check_replies(replies)
    if any(reply.error for reply in replies):
        assert await dump(core, CONVERSATION_STATE) == before, (incoming, replies[0].text)


async def plain_exchange(core: Core, userid: str, messages: tuple[str, str]) -> None:
    """Two messages on WeCom; every answer is presented (buttons as numbered choices) and its
    choices offered, as the WeCom sender does once it is delivered."""
    chat = PlainChat(core, Conversation(core), Channel.WECOM,
                     chat_parts(SqlStorage(core.db), Channel.WECOM))
    for incoming in messages:
        before = await dump(core, CONVERSATION_STATE)
        replies = await chat.message(Speaker(Channel.WECOM, userid), incoming)
        check_replies(replies)
        if any(reply.error for reply in replies):
            assert await dump(core, CONVERSATION_STATE) == before, (incoming, replies[0].text)
        for reply in replies:
            presented = await chat.present(userid, reply)
            check_html(presented.reply.text)  # made plain text, split by bytes when sent
            assert presented.reply.error == reply.error
            await chat.offer(userid, presented)


TEXTS = {"messages": messages, "commands": command_lines}


@pytest.mark.parametrize("kind", sorted(TEXTS))
@fuzz("texts")
@given(speaker=st.sampled_from(SPEAKERS), data=st.data())
def test_any_message_or_command_is_answered_and_errors_change_nothing(
    runner: asyncio.Runner, world: Core, kind: str, speaker: int, data: st.DataObject
) -> None:
    incoming = data.draw(TEXTS[kind], label=kind)
    runner.run(exchange(world, speaker, incoming, pressed=False))


@fuzz("buttons")
@given(speaker=st.sampled_from(SPEAKERS), data=buttons)
def test_any_button_data_is_answered_and_errors_change_nothing(
    runner: asyncio.Runner, world: Core, speaker: int, data: str
) -> None:
    runner.run(exchange(world, speaker, data, pressed=True))


@fuzz("numbered")  # two messages each
@given(userid=st.sampled_from(WECOM_SPEAKERS), first=offering, then=choosing)
def test_numbered_choices_and_text_on_wecom_are_answered_and_errors_change_nothing(
    runner: asyncio.Runner, world: Core, userid: str, first: str, then: str
) -> None:
    runner.run(plain_exchange(world, userid, (first, then)))
