"""Channels without buttons or reply-to: numbered choices, and free text filed on the task of
the latest task message — both for a day (`REPLY_WINDOW`)."""

from __future__ import annotations

import pytest

from bot.state import SqlStorage, chat_parts
from core.app import Core
from core.chat.context import Speaker
from core.chat.conversation import Conversation
from core.chat.plain import REPLY_WINDOW, PlainChat
from core.clock import FrozenClock
from core.enums import Channel
from core.replies import Action, Button, Reply
from core.tasks import AssignRequest
from core.texts import plain
from tests.conftest import Staff


@pytest.fixture
async def chat(core: Core) -> PlainChat:
    parts = chat_parts(SqlStorage(core.db), Channel.CONSOLE)
    return PlainChat(core, Conversation(core), Channel.CONSOLE, parts)


@pytest.fixture
async def task_id(core: Core, staff: Staff) -> int:
    request = AssignRequest("李明", "2026-12-20", "高新技术企业认定")
    return (await core.tasks.assign(staff.admin, request, Channel.CLI)).task.id


async def say(chat: PlainChat, staff: Staff, text: str) -> str:
    replies = await chat.message(Speaker(Channel.CONSOLE, str(staff.official.id)), text)
    return "\n".join(plain(r.text) for r in replies)


async def offer(chat: PlainChat, staff: Staff, task_id: int) -> str:
    buttons = ((Button("收到", Action("ack", task_id)),
                Button("进度 +10%", Action("step", task_id, "10"))),)
    shown = await chat.present(str(staff.official.id), Reply("新任务", buttons, task_id))
    await chat.offer(str(staff.official.id), shown)
    await chat.core.threads.remember(Channel.CONSOLE, str(staff.official.id), "m1", task_id)
    return plain(shown.reply.text)


async def test_a_number_presses_the_button_it_stands_for(
    chat: PlainChat, staff: Staff, task_id: int
) -> None:
    assert (await offer(chat, staff, task_id)).endswith("回复序号选择：\n1 收到　2 进度 +10%")
    assert "进度 10%" in await say(chat, staff, "2")
    assert "进度 20%" in await say(chat, staff, "２")  # typed full-width on a phone
    assert "已收到" in await say(chat, staff, "1")


async def test_choices_of_a_message_that_did_not_go_out_are_taken_back(
    chat: PlainChat, staff: Staff, task_id: int
) -> None:
    """Choices are kept before the message is sent (a quick answer may arrive before the send
    is recorded); a send that fails puts the earlier ones back, or none."""
    address = str(staff.official.id)
    failed = await chat.present(address, Reply("x", ((Button("收到", Action("ack", task_id)),),)))
    put_back = await chat.offer(address, failed)
    await put_back()
    assert "没有理解" in await say(chat, staff, "1")  # no choices: not a press
    await offer(chat, staff, task_id)  # 1 收到　2 进度 +10%
    again = await chat.present(address, Reply("y", ((Button("收到", Action("ack", task_id)),),)))
    put_back = await chat.offer(address, again)
    await put_back()
    assert "进度 10%" in await say(chat, staff, "2")  # the earlier choices hold


async def test_numbers_outside_the_choices_are_ordinary_text(
    chat: PlainChat, staff: Staff, task_id: int
) -> None:
    await offer(chat, staff, task_id)
    assert "已记录 #1 留言" in await say(chat, staff, "3")


async def test_choices_and_implicit_replies_last_a_day(
    chat: PlainChat, staff: Staff, task_id: int, clock: FrozenClock
) -> None:
    await offer(chat, staff, task_id)
    clock.advance(REPLY_WINDOW / 2)
    assert "已记录 #1 留言" in await say(chat, staff, "企业材料已收齐")
    clock.advance(REPLY_WINDOW)
    assert "没有理解" in await say(chat, staff, "1")
    assert "没有理解" in await say(chat, staff, "企业材料已收齐")


async def test_free_text_goes_to_the_latest_task_message(
    chat: PlainChat, staff: Staff, task_id: int, core: Core, clock: FrozenClock
) -> None:
    other = await core.tasks.assign(staff.admin, AssignRequest("李明", "2026-12-25", "创新平台"),
                                    Channel.CLI)
    address = str(staff.official.id)
    await core.threads.remember(Channel.CONSOLE, address, "m1", task_id)
    clock.advance(REPLY_WINDOW / 4)
    await core.threads.remember(Channel.CONSOLE, address, "m2", other.task.id)
    assert f"已记录 #{other.task.id} 留言" in await say(chat, staff, "下周一去企业")
    assert "已记录 #1 进度 30%" in await say(chat, staff, "/report 1 30")


async def test_a_long_answer_in_a_form_is_quoted_back_short(chat: PlainChat, staff: Staff) -> None:
    """Found by fuzzing: the whole answer quoted in the error, with the step asked again, was
    longer than a message may be."""
    admin = Speaker(Channel.CONSOLE, str(staff.admin.id))
    await chat.message(admin, "/assign")
    (reply,) = await chat.message(admin, "甲" * 4000)
    assert reply.error and "「" + "甲" * 100 + "…」未找到" in reply.text
    assert len(reply.text) < 1000 and "第 1 步" in reply.text
