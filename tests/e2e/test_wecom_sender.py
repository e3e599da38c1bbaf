"""The WeCom sender over the wire against the fake WeCom: access tokens refreshed on expiry and
on 40014/42001, errcodes mapped onto the outbox's outcomes, WeCom's limits kept."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import pytest

from bot.state import SqlStorage, chat_parts
from bot.wecom.api import WecomApi
from bot.wecom.sender import TEXT_LIMIT, WecomSender
from core.app import Core
from core.chat.conversation import Conversation
from core.chat.plain import PlainChat
from core.delivery import SendOutcome
from core.enums import Channel
from core.replies import Action, Attachment, Button, Reply
from tests.conftest import make_settings
from tests.fakes.wecom_api import FakeWecom, fake_wecom

USER = "liming"


@pytest.fixture
async def wecom() -> AsyncIterator[FakeWecom]:
    async with fake_wecom() as server:
        yield server


@pytest.fixture
async def sender(wecom: FakeWecom, database_url: str, core: Core) -> AsyncIterator[WecomSender]:
    api = WecomApi(make_settings(database_url, **wecom.settings()))
    parts = chat_parts(SqlStorage(core.db), Channel.WECOM)
    yield WecomSender(api, PlainChat(core, Conversation(core), Channel.WECOM, parts))
    await api.close()


async def test_a_text_goes_out_with_a_cached_token(sender: WecomSender, wecom: FakeWecom) -> None:
    for text in ("第一条", "第二条"):
        result = await sender.send(USER, Reply(text))
        assert result.outcome == SendOutcome.SENT and result.message_ref
    assert [s.text for s in wecom.received(USER)] == ["第一条", "第二条"]
    assert wecom.gettoken_calls == 1


@pytest.mark.parametrize("spoil", [FakeWecom.expire_tokens, FakeWecom.revoke_tokens],
                         ids=["42001-expired", "40014-invalid"])
async def test_a_refused_token_is_fetched_again_and_the_message_sent(
    sender: WecomSender, wecom: FakeWecom, spoil: Callable[[FakeWecom], None]
) -> None:
    assert (await sender.send(USER, Reply("一"))).outcome == SendOutcome.SENT
    spoil(wecom)
    assert (await sender.send(USER, Reply("二"))).outcome == SendOutcome.SENT
    assert wecom.gettoken_calls == 2
    assert [s.text for s in wecom.received(USER)] == ["一", "二"]


@pytest.mark.parametrize(("errcode", "outcome", "retry_after"), [
    (45009, SendOutcome.RATE_LIMITED, 60.0),  # the app is over its limit: blocked for a minute
    (45033, SendOutcome.RATE_LIMITED, 1.0),
    (60020, SendOutcome.TEMPORARY, None),  # our IP is not trusted yet: retry while it is fixed
    (-1, SendOutcome.TEMPORARY, None),
    (81013, SendOutcome.UNREACHABLE, None),
    (45002, SendOutcome.FAILED, None),
])
async def test_errcodes_map_onto_outbox_outcomes(
    sender: WecomSender, wecom: FakeWecom, errcode: int, outcome: SendOutcome,
    retry_after: float | None,
) -> None:
    wecom.fail_next(errcode)
    result = await sender.send(USER, Reply("提醒"))
    assert (result.outcome, result.retry_after) == (outcome, retry_after)
    assert str(errcode) in (result.error or "")
    assert wecom.received(USER) == []


async def test_a_member_who_left_is_unreachable(sender: WecomSender, wecom: FakeWecom) -> None:
    wecom.left(USER)
    assert (await sender.send(USER, Reply("提醒"))).outcome == SendOutcome.UNREACHABLE


async def test_long_texts_are_split_under_2048_bytes(sender: WecomSender, wecom: FakeWecom) -> None:
    lines = [f"{n:02d} " + "高新技术企业认定材料" * 12 for n in range(12)]
    assert (await sender.send(USER, Reply("\n".join(lines)))).outcome == SendOutcome.SENT
    parts = [s.text for s in wecom.received(USER)]
    assert len(parts) > 1 and all(len(p.encode()) <= TEXT_LIMIT for p in parts)
    assert "\n".join(parts) == "\n".join(lines)


async def test_html_becomes_plain_text_and_buttons_numbered_choices(
    sender: WecomSender, wecom: FakeWecom
) -> None:
    submitted = Action("status", 1, "submitted")
    buttons = ((Button("收到", Action("ack", 1)), Button("已提交", submitted)),
               (Button("遇到困难", Action("block", 1)),))
    await sender.send(USER, Reply("<b>#1 高企认定</b> &amp; 材料", buttons, task_id=1))
    (sent,) = wecom.received(USER)
    assert sent.text == "#1 高企认定 & 材料\n\n回复序号选择：\n1 收到　2 已提交\n3 遇到困难"
    chosen = await sender.chat.parts(USER, "choices").get()
    assert chosen is not None and chosen["actions"] == ["ack:1:", "status:1:submitted", "block:1:"]


async def test_an_attachment_is_uploaded_and_sent_as_a_file(
    sender: WecomSender, wecom: FakeWecom
) -> None:
    reply = Reply("本周台账", attachment=Attachment("台账.xlsx", b"PK\x03\x04 sheet"))
    assert (await sender.send(USER, reply)).outcome == SendOutcome.SENT
    assert [(s.msgtype, s.text) for s in wecom.received(USER)] == [
        ("text", "本周台账"), ("file", "台账.xlsx")]
    assert list(wecom.uploads.values()) == [("台账.xlsx", b"PK\x03\x04 sheet")]


async def test_no_member_gets_more_than_wecom_delivers(
    sender: WecomSender, wecom: FakeWecom
) -> None:
    """WeCom silently drops a member's 31st message within a minute; the sender holds it back
    and says when to try again instead."""
    for n in range(30):
        assert (await sender.send(USER, Reply(f"第{n}条"))).outcome == SendOutcome.SENT
    held = await sender.send(USER, Reply("第31条"))
    assert held.outcome == SendOutcome.RATE_LIMITED and 55 < (held.retry_after or 0) <= 60
    assert len(wecom.received(USER)) == 30 and wecom.dropped == []
    assert (await sender.send("sunli", Reply("别人不受影响"))).outcome == SendOutcome.SENT
