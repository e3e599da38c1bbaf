"""The WeCom channel end to end: Duban runs as `duban run` does (WeCom only, or with Telegram
too) against the fake WeCom of `tests/fakes/wecom_api.py`; members' messages and files arrive
as real encrypted callbacks (files fetched with `media/get`), replies and notices leave through
`message/send`, summary charts and registers through `media/upload`."""

from __future__ import annotations

import re
import socket
from collections.abc import AsyncIterator

import aiohttp
import pytest
from redis.asyncio import Redis
from sqlalchemy import func, select

from core.app import Core
from core.clock import FrozenClock
from core.enums import Channel
from core.summary.messages import enqueue_run
from core.tasks import AssignRequest
from duban.runtime import NO_CHANNEL, Service, StartupError
from storage.models import ChatState, InboundSeen, InboxItem, Person, TaskUpdate
from tests.conftest import Staff, make_settings
from tests.e2e.conftest import People
from tests.e2e.harness import Running, ask, eventually, labels, tap, text_of
from tests.e2e.test_redis_forms import REDIS_URL
from tests.fakes.telegram_api import FakeTelegram
from tests.fakes.wecom_api import FakeMember, FakeWecom, Sent
from tests.files import GUIDELINE_CSV, GUIDELINE_MERGES, GUIDELINE_ROWS, csv_file, workbook

WECOM_IDS = {"王主任": "WangZhuRen", "赵局长": "zhaojuzhang", "张副局长": "zhangfujuzhang",
             "钱副局长": "qianfujuzhang", "李明": "liming", "孙丽": "sunli"}


async def register_on_wecom(core: Core, staff: Staff) -> None:
    """The roster's 企业微信ID for everyone (they keep their Telegram ids)."""
    for person in staff.everyone():
        await core.people.add(person.name, person.roles, wecom_id=WECOM_IDS[person.name])


class Members:
    def __init__(self, wecom: FakeWecom) -> None:
        self.admin = wecom.member(WECOM_IDS["王主任"])
        self.leader = wecom.member(WECOM_IDS["张副局长"])
        self.official = wecom.member(WECOM_IDS["李明"])


def choice(message: str, label: str) -> str:
    """The number a buttonless channel shows for a button."""
    found = re.search(rf"(\d+) {re.escape(label)}", message.split("回复序号选择")[-1])
    assert found, f"no choice {label!r} in {message!r}"
    return found[1]


async def start(running: Running, wecom: FakeWecom) -> Running:
    await running.start()
    wecom.callback_url = f"{running.http_url}/wecom/callback"
    return running


@pytest.fixture
async def duban(
    wecom: FakeWecom, database_url: str, clock: FrozenClock, core: Core, staff: Staff
) -> AsyncIterator[Running]:
    """WeCom only: no Telegram token at all."""
    await register_on_wecom(core, staff)
    settings = make_settings(database_url, bot_token=None, **wecom.settings())
    running = await start(Running(None, settings, clock), wecom)
    yield running
    await running.stop()


@pytest.fixture
def members(wecom: FakeWecom) -> Members:
    return Members(wecom)


async def inbox_is_empty(running: Running) -> bool:
    return await count(running, InboxItem) == 0


async def count(running: Running, model: type[InboxItem] | type[InboundSeen]) -> int:
    async with running.core.db.read() as session:
        return int(await session.scalar(select(func.count()).select_from(model)) or 0)


async def test_an_official_works_the_core_slice_on_wecom(
    duban: Running, wecom: FakeWecom, members: Members
) -> None:
    admin, official = members.admin, members.official
    step = await admin.ask("/assign")
    assert "第 1 步" in step and "回复序号选择" in step
    step = await admin.ask(choice(step, "李明"))
    assert "项目名称" in step
    assert "申报单位" in await admin.ask("高新技术企业认定")
    assert "截止日期" in await admin.ask("某某科技")
    step = await admin.ask("2026-12-20")
    assert "包抓领导" in step
    assert "争取资金" in await admin.ask(choice(step, "张副局长"))
    step = await admin.ask("50")
    assert "请确认" in step and "高新技术企业认定" in step
    assert "已分配 #1" in await admin.ask(choice(step, "✅ 确认"))

    notice = await official.wait_for("新任务 #1")
    assert "某某科技" in notice and "回复序号选择" in notice and "<b>" not in notice
    assert "分管" in await members.leader.wait_for("#1")
    assert "已记录 #1 已收到" in await official.ask(choice(notice, "收到"))
    listing = await official.ask("我的任务")
    assert "#1 高新技术企业认定" in listing and "准备中" in listing
    assert "已记录 #1 进度 60%" in await official.ask("/report 1 60 可研初稿完成")
    # No reply-to on WeCom: free text goes to the task of the last task message, within a day.
    assert "已记录 #1 留言" in await official.ask("企业财务报表已收齐")
    # The numbers always belong to the latest message that offered choices (here the list's
    # `1 #1`), so the task card is opened again to use its buttons.
    card = await official.ask(choice(listing, "#1"))
    assert "某某科技" in card
    asked = await official.ask(choice(card, "遇到困难"))
    assert "遇到的困难" in asked
    assert "受阻" in await official.ask("审计报告还没出")
    assert "审计报告还没出" in await members.leader.wait_for("遇到困难")
    assert "状态 已提交" in await official.ask("汇报 1 已提交 已在省系统提交")
    detail = await official.ask("/task 1")
    for expected in ("已收到", "可研初稿完成", "企业财务报表已收齐", "审计报告还没出", "已提交"):
        assert expected in detail, expected
    async with duban.core.db.read() as session:
        channels = set(await session.scalars(select(TaskUpdate.channel)))
    assert channels == {"wecom"}


async def test_words_menu_clicks_and_strangers(
    duban: Running, wecom: FakeWecom, members: Members
) -> None:
    assert "/tasks" in await members.official.ask("帮助")
    assert "/assign" in await wecom.member("wangzhuren").ask("帮助")  # userids ignore case
    before = len(members.official.received())
    assert (await members.official.click("/tasks")).status == 200
    assert "没有进行中的任务" in await members.official.wait_for(after=before)
    assert "还没有注册" in await wecom.member("visitor01").ask("任务")


async def test_a_redelivered_msgid_is_handled_once(
    duban: Running, wecom: FakeWecom, members: Members, staff: Staff
) -> None:
    await duban.core.tasks.assign(staff.admin, AssignRequest("李明", "2026-12-20", "高企认定"),
                                  Channel.CLI)
    await members.official.wait_for("新任务 #1")
    message = members.official.text_message("/report 1 30 材料收集中", msg_id=4561255354251345929)
    assert (await wecom.deliver(message)).status == 200
    assert (await wecom.deliver(message)).status == 200  # WeCom did not see our first answer
    await members.official.wait_for("已记录 #1 进度 30%")
    async with duban.core.db.read() as session:
        reports = await session.scalar(select(func.count()).select_from(TaskUpdate)
                                       .where(TaskUpdate.note == "材料收集中"))
    assert reports == 1
    # Every stored update handled: its row goes right after the reply.
    await eventually(lambda: inbox_is_empty(duban))


async def test_wecom_is_answered_at_once_and_the_message_handled_after(
    duban: Running, wecom: FakeWecom, members: Members
) -> None:
    wecom.pause()  # sending stalls: handling cannot finish, yet the callback is answered
    answer = await members.official.send("任务")
    assert (answer.status, answer.text) == (200, "")
    assert members.official.received() == []
    wecom.resume()
    assert "没有进行中的任务" in await members.official.wait_for()
    assert len(wecom.callback_answers) == 1  # answered in time: WeCom did not deliver again


async def test_a_request_not_signed_by_wecom_is_refused_and_nothing_is_processed(
    duban: Running, wecom: FakeWecom, members: Members
) -> None:
    params, body = wecom.envelope(members.official.text_message("任务"))
    forged = {**params, "msg_signature": "0" * 40}
    unsigned = {k: v for k, v in params.items() if k != "msg_signature"}
    other_params, other_body = wecom.envelope(members.official.text_message("汇总"))
    for query, payload in ((forged, body), (unsigned, body), (params, other_body),
                           (other_params, body)):
        assert (await wecom.post(query, payload)).status == 403
    # Signed with our token but encrypted for another company: not for us either.
    foreign = wecom.envelope(members.official.text_message("任务"), corp_id="wwsomeoneelse")
    assert (await wecom.post(*foreign)).status == 403
    assert (await wecom.post(params, "not xml")).status == 403

    assert (await wecom.verify_url("1616140317555161061", signature="0" * 40)).status == 403
    check = await wecom.verify_url("1616140317555161061")
    assert (check.status, check.text) == (200, "1616140317555161061")

    assert await count(duban, InboxItem) == 0 and await count(duban, InboundSeen) == 0
    assert wecom.sent == []


async def test_healthz_reports_database_scheduler_and_last_dispatch(duban: Running) -> None:
    async with aiohttp.ClientSession() as client:
        async with client.get(f"{duban.http_url}/healthz") as response:
            assert response.status == 200
            status = await response.json()
        assert status["database"] is True and status["scheduler"] is True
        assert status["channels"] == ["wecom"] and status["last_dispatch"]
        assert duban.service is not None and duban.service.scheduler is not None
        duban.service.scheduler.shutdown(wait=False)
        async with client.get(f"{duban.http_url}/healthz") as response:
            assert response.status == 503
            assert (await response.json())["scheduler"] is False


async def test_wrong_credentials_or_no_channel_stop_start_up(
    wecom: FakeWecom, database_url: str
) -> None:
    settings = make_settings(database_url, bot_token=None,
                             **{**wecom.settings(), "wecom_secret": "wrong-secret-value"})
    with pytest.raises(StartupError) as caught:
        await Service(settings).start()
    assert "40001" in str(caught.value) and "wrong-secret-value" not in str(caught.value)
    with pytest.raises(StartupError) as refused:
        Service(make_settings(database_url, bot_token=None))
    assert str(refused.value) == NO_CHANNEL
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        busy = make_settings(database_url, bot_token=None, http_port=port, **wecom.settings())
        with pytest.raises(StartupError) as clash:
            await Service(busy).start()
    assert "DUBAN_HTTP_PORT" in str(clash.value)


async def test_with_both_channels_nudges_go_to_the_preferred_one(
    fake: FakeTelegram, wecom: FakeWecom, database_url: str, clock: FrozenClock, core: Core,
    staff: Staff,
) -> None:
    await register_on_wecom(core, staff)
    settings = make_settings(database_url, telegram_api_url=fake.base_url, **wecom.settings())
    running = await start(Running(fake, settings, clock), wecom)
    people, official = People(fake), wecom.member("liming")
    try:
        async def assign(title: str) -> None:
            await running.core.tasks.assign(staff.admin, AssignRequest("李明", "2026-12-20", title),
                                            Channel.CLI)

        await assign("项目一")  # no preference yet: the first channel that reaches him
        await people.official.wait_for_message(lambda m: "新任务 #1" in text_of(m))
        overview = await ask(people.official, "/settings")
        assert {"Telegram", "企业微信", "中文", "English"} <= set(labels(fake, overview))
        saved = await tap(people.official, overview, "企业微信")
        assert "已保存" in text_of(saved) and "接收提醒：企业微信" in text_of(saved)

        await assign("项目二")
        await official.wait_for("新任务 #2")
        await assign("项目三")  # sent after #2: once it is on WeCom, #2 went nowhere else
        await official.wait_for("新任务 #3")
        assert not [m for m in fake.sent_to(people.official.id) if "新任务 #2" in text_of(m)]

        wecom.left("liming")  # left the app's visible range: WeCom answers 81013
        await assign("项目四")
        await people.official.wait_for_message(lambda m: "新任务 #4" in text_of(m))
        alert = await people.admin.wait_for_message(lambda m: "收不到消息" in text_of(m))
        assert "李明" in text_of(alert) and "企业微信" in text_of(alert)
        async with running.core.db.read() as session:
            person = await session.scalar(select(Person).where(Person.name == "李明"))
            assert person is not None and person.wecom_unreachable_at is not None
    finally:
        await running.stop()


async def test_settings_on_wecom_choose_the_language(
    duban: Running, members: Members
) -> None:
    overview = await members.official.ask("设置")
    assert "语言：中文" in overview and "企业微信" in choice_lines(overview)
    changed = await members.official.ask(choice(overview, "English"))
    assert "Saved." in changed and "Language: English" in changed
    assert "/tasks" in await members.official.ask("help")
    assert "Unknown language" in await members.official.ask("/settings language 法语")


def choice_lines(message: str) -> str:
    return message.split("回复序号选择")[-1]


async def send_file(member: FakeMember, name: str, data: bytes, *, named: bool = True) -> str:
    """A file message, and the app's next message to the member."""
    before = len(member.received())
    assert (await member.send_file(name, data, named=named)).status == 200
    return await member.wait_for(after=before)


def media_gets(wecom: FakeWecom) -> int:
    return sum(path == "/cgi-bin/media/get" for path, _ in wecom.calls)


async def test_admins_import_the_files_they_send_on_wecom(
    duban: Running, wecom: FakeWecom, members: Members
) -> None:
    data = workbook(("指南", GUIDELINE_ROWS, GUIDELINE_MERGES))
    answer = await send_file(members.admin, "2027年指南.xlsx", data)
    assert "已导入「2027年指南.xlsx」" in answer and "申报指南：新增 3，更新 0，未变 0" in answer
    # A file message without FileName: the name comes from media/get's Content-Disposition.
    again = await send_file(members.admin, "2027年指南.xlsx", data, named=False)
    assert "已导入「2027年指南.xlsx」" in again and "新增 0，更新 0，未变 3" in again
    assert media_gets(wecom) == 2

    broken = csv_file([["项目名称", "责任人", "截止日期"], ["甲", "李明", "明年"]], "gbk")
    answer = await send_file(members.admin, "任务表.csv", broken)
    assert "第 2 行「截止日期」：日期「明年」无法识别" in answer and "没有导入任何内容" in answer
    # Others are refused before anything is fetched.
    refused = await send_file(members.official, "指南.csv", csv_file(GUIDELINE_CSV))
    assert "只有管理员可以导入" in refused
    assert "不支持的文件" in await send_file(members.admin, "指南.pdf", b"%PDF-1.4")
    assert media_gets(wecom) == 3
    assert "国家重点研发计划" in await members.official.ask("指南")


async def test_new_commands_and_the_guideline_step_work_on_wecom(
    duban: Running, members: Members, staff: Staff
) -> None:
    admin = members.admin
    assert "把文件直接发给我" in await admin.ask("/import")
    assert "已设定 2026 年目标" in await admin.ask("/target 争取资金 5000")
    assert "争取资金" in await admin.ask("目标")
    assert "没有权限" in await members.official.ask("/target 立项数 3")
    await duban.core.imports.run(None, "指南.csv", csv_file(GUIDELINE_CSV), Channel.CLI)

    step = await admin.ask("/assign")
    step = await admin.ask(choice(step, "李明"))
    await admin.ask("重点研发申报")
    step = await admin.ask("某某科技")
    assert "申报指南" in step
    step = await admin.ask(choice(step, "国家重点研发计划"))
    assert "跳过则取指南「国家重点研发计划」的县内截止日期" in step
    step = await admin.ask(choice(step, "跳过"))
    step = await admin.ask(choice(step, "跳过"))  # no leader
    step = await admin.ask(choice(step, "跳过"))  # no funding
    assert "国家重点研发计划" in step
    assert "已分配 #1" in await admin.ask(choice(step, "✅ 确认"))
    task = await duban.core.tasks.get(staff.admin, 1)
    assert task.guideline_name == "国家重点研发计划"


def image_and_file(sent: list[Sent]) -> tuple[Sent, Sent]:
    (image,) = [s for s in sent if s.msgtype == "image"]
    (register,) = [s for s in sent if s.msgtype == "file"]
    return image, register


async def test_summaries_on_wecom_come_with_the_chart_and_the_register(
    duban: Running, wecom: FakeWecom, members: Members, staff: Staff
) -> None:
    request = AssignRequest("李明", "2026-12-20", "高新技术企业认定", "张副局长", "50")
    await duban.core.tasks.assign(staff.admin, request, Channel.CLI)
    director = wecom.member(WECOM_IDS["赵局长"])
    assert "#1" in await director.ask("汇总")
    await wecom.wait_for(director.user, lambda s: s.msgtype == "file")
    sent = wecom.received(director.user)
    image, register = image_and_file(sent)
    assert sent.index(image) < sent.index(register)  # text, chart, then the register
    assert image.text == "summary.png" and register.text.startswith("督办台账-")
    assert wecom.uploads[image.body["image"]["media_id"]][1].startswith(b"\x89PNG")
    assert wecom.uploads[register.body["file"]["media_id"]][1].startswith(b"PK")

    # The weekly run's stored rows go out over WeCom too: the leader's portfolio and chart.
    leader = members.leader
    before = len(leader.received())
    assert await enqueue_run(duban.core, "weekly:test", duban.core.clock.now()) == 2
    await wecom.wait_for(leader.user, lambda s: s.msgtype == "image", after=before)
    texts = leader.received()[before:]
    assert any("高新技术企业认定" in text for text in texts)
    assert not [s for s in wecom.received(leader.user) if s.msgtype == "file"]  # no register


async def test_with_redis_a_wecom_form_lives_there_and_survives_a_restart(
    wecom: FakeWecom, database_url: str, clock: FrozenClock, core: Core, staff: Staff,
    members: Members,
) -> None:
    redis = Redis.from_url(REDIS_URL)
    await redis.flushdb()
    await register_on_wecom(core, staff)
    settings = make_settings(database_url, bot_token=None, redis_url=REDIS_URL,
                             **wecom.settings())
    running = await start(Running(None, settings, clock), wecom)
    try:
        step = await members.admin.ask("/assign")
        assert "项目名称" in await members.admin.ask(choice(step, "李明"))
        assert await redis.keys("duban:*wecom:WangZhuRen:form*")
        assert await redis.keys("duban:*wecom:WangZhuRen:choices*")
        async with running.core.db.read() as session:
            assert await session.scalar(select(func.count()).select_from(ChatState)) == 0
        await running.stop()
        await start(running, wecom)  # a new HTTP port: WeCom is pointed at it again
        assert "申报单位" in await members.admin.ask("科技小巨人培育")
    finally:
        await running.stop()
        await redis.aclose()
