"""The WeCom sender and API over the wire against the fake WeCom: access tokens refreshed on
expiry and on 40014/42001, errcodes mapped onto the outbox's outcomes, WeCom's limits kept,
members' files named and fetched with media/get."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from urllib.parse import quote

import pytest

from bot.state import SqlStorage, chat_parts
from bot.wecom.api import WecomApi, WecomError
from bot.wecom.sender import TEXT_LIMIT, WecomSender
from core.app import Core
from core.chat.conversation import Conversation
from core.chat.plain import PlainChat
from core.delivery import SendOutcome
from core.enums import Channel
from core.replies import Action, Attachment, Button, Reply
from tests.conftest import make_settings
from tests.fakes.wecom_api import FakeWecom

USER = "liming"


@pytest.fixture
async def api(wecom: FakeWecom, database_url: str) -> AsyncIterator[WecomApi]:
    api = WecomApi(make_settings(database_url, **wecom.settings()))
    yield api
    await api.close()


@pytest.fixture
def sender(api: WecomApi, core: Core) -> WecomSender:
    parts = chat_parts(SqlStorage(core.db), Channel.WECOM)
    return WecomSender(api, PlainChat(core, Conversation(core), Channel.WECOM, parts))


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


async def test_a_failed_upload_sends_nothing_so_a_retry_repeats_nothing(
    sender: WecomSender, wecom: FakeWecom
) -> None:
    reply = Reply("📊 本周汇总", attachment=Attachment("summary.png", b"\x89PNG", kind="photo"))
    wecom.fail_next(-1, path="/cgi-bin/media/upload")  # WeCom busy
    assert (await sender.send(USER, reply)).outcome == SendOutcome.TEMPORARY
    assert wecom.received(USER) == []
    assert (await sender.send(USER, reply)).outcome == SendOutcome.SENT
    assert [(s.msgtype, s.text) for s in wecom.received(USER)] == [
        ("text", "📊 本周汇总"), ("image", "summary.png")]


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
    for n in range(29):
        await sender.send("zhaoli", Reply(f"第{n}条"))
    # Text and chart are two messages; only one fits: neither is sent, nothing uploaded.
    chart = Reply("📊", attachment=Attachment("summary.png", b"\x89PNG", kind="photo"))
    assert (await sender.send("zhaoli", chart)).outcome == SendOutcome.RATE_LIMITED
    assert len(wecom.received("zhaoli")) == 29 and wecom.uploads == {}


@pytest.mark.parametrize(("header", "name"), [
    ('attachment; filename="{quoted}"', "指南.csv"),  # percent-encoded
    ("attachment; filename*=UTF-8''{quoted}", "指南.csv"),  # RFC 5987
    ('attachment; filename="guidelines.csv"', "guidelines.csv"),
])
async def test_a_members_file_is_named_by_media_get_before_it_is_read(
    api: WecomApi, wecom: FakeWecom, header: str, name: str
) -> None:
    wecom.disposition = lambda sent_as: header.format(quoted=quote(sent_as))
    media_id = wecom.media_from_member("指南.csv", b"a,b")
    async with api.media(media_id) as media:
        assert (media.filename, media.size) == (name, 3)
        assert await media.read() == b"a,b"


async def test_media_get_refreshes_its_token_and_reports_unknown_media(
    api: WecomApi, wecom: FakeWecom
) -> None:
    media_id = wecom.media_from_member("名单.xlsx", b"PK")
    await api.token()
    wecom.expire_tokens()
    assert await api.download(media_id) == b"PK"
    with pytest.raises(WecomError) as unknown:
        await api.download("no-such-media")
    assert unknown.value.errcode == 40007
