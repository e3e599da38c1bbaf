"""Group robots over HTTP against our fake webhook server: payload shapes, sizes, signatures,
rate limits, retries, and once per run across copies. URLs are secrets throughout."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from datetime import timedelta

import aiohttp
import pytest
from sqlalchemy import select

from config.logging import SecretFilter
from config.robots import RobotKind, parse_robot
from config.settings import SettingsError, load_settings
from core.app import Core
from core.clock import FrozenClock
from core.enums import Status
from scheduler.jobs import weekly_summary
from scheduler.robots import LIMITS, RATE_LIMIT_WAIT, RobotPusher, markdown, parts_for
from storage.db import Database
from storage.models import JobRun, Task
from tests.bureau import MONDAY, populate
from tests.conftest import Staff, make_settings
from tests.fakes.robots import FakeRobots


class FakeTime:
    """Monotonic time that only moves when slept: the pusher's waits cost the test nothing."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []

    def monotonic(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


@pytest.fixture
def fake_time() -> FakeTime:
    return FakeTime()


@pytest.fixture
async def robots(clock: FrozenClock, fake_time: FakeTime) -> AsyncIterator[FakeRobots]:
    async with FakeRobots(clock.now, fake_time.monotonic) as server:
        yield server


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


def core_with(database_url: str, clock: FrozenClock, urls: list[str]) -> Core:
    settings = make_settings(database_url, summary_webhooks=",".join(urls))
    return Core(settings, Database(settings.database_url), clock)


def pusher(core: Core, http: aiohttp.ClientSession, fake_time: FakeTime,
           worker: str = "copy-1") -> RobotPusher:
    return RobotPusher(core, http, worker=worker, monotonic=fake_time.monotonic,
                       sleep=fake_time.sleep)


# ---- URLs --------------------------------------------------------------------------------------

def test_the_url_forms_we_accept() -> None:
    wecom = parse_robot("https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=K-123", 1)
    assert (wecom.kind, wecom.secret, wecom.credential) == (RobotKind.WECOM, None, "K-123")
    ding = parse_robot("https://oapi.dingtalk.com/robot/send?access_token=T1&secret=SECabc", 2)
    assert ding.kind == RobotKind.DINGTALK and ding.secret == "SECabc"
    assert ding.url == "https://oapi.dingtalk.com/robot/send?access_token=T1"
    lark = parse_robot("https://open.feishu.cn/open-apis/bot/v2/hook/abc-def?secret=S3", 3)
    assert (lark.kind, lark.url, lark.secret, lark.credential) == (
        RobotKind.FEISHU, "https://open.feishu.cn/open-apis/bot/v2/hook/abc-def", "S3", "abc-def")


def test_a_bad_url_stops_start_up_without_repeating_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DUBAN_SUMMARY_WEBHOOKS", "https://open.feishu.cn/open-apis/bot/v2/hook/ok,"
                       "https://x.cn/hook?t=SECRET99")
    with pytest.raises(SettingsError) as error:
        load_settings(_env_file=None)
    assert str(error.value).startswith("设置错误 DUBAN_SUMMARY_WEBHOOKS: 第 2 个地址不是可识别的")
    assert "SECRET99" not in str(error.value)


def test_robot_keys_and_secrets_are_blotted_out_of_logs(database_url: str) -> None:
    settings = make_settings(database_url, summary_webhooks=(
        "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=wecomkey1,"
        "https://oapi.dingtalk.com/robot/send?access_token=dingtoken1&secret=SECding1"))
    redactor = SecretFilter()
    redactor.add(*settings.secrets())
    record = logging.LogRecord("x", logging.ERROR, "", 0, "failed: %s",
                               (settings.summary_webhooks,), None)
    redactor.filter(record)
    assert all(s not in record.getMessage() for s in ("wecomkey1", "dingtoken1", "SECding1"))


def test_markdown_for_each_robot() -> None:
    html = "<b>📊 全局</b> 12月7日\n🔴 <b>#2</b> A &amp; B\n    12月4日 逾期3天"
    assert markdown(html, RobotKind.WECOM) == (
        "**📊 全局** 12月7日\n🔴 **#2** A & B\n\u3000\u300012月4日 逾期3天")
    assert markdown(html, RobotKind.DINGTALK).count("  \n") == 2


# ---- pushing -----------------------------------------------------------------------------------

async def test_each_robot_gets_its_shape_signed(
    database_url: str, staff: Staff, clock: FrozenClock, robots: FakeRobots,
    http: aiohttp.ClientSession, fake_time: FakeTime, core: Core,
) -> None:
    await populate(core, staff, clock)
    urls = [robots.url("wecom"), robots.url("dingtalk", secret="SECdemo"),
            robots.url("feishu", secret="larksecret"), robots.url("dingtalk")]
    app = core_with(database_url, clock, urls)
    try:
        sent = await pusher(app, http, fake_time).push("weekly:test")
    finally:
        await app.db.dispose()
    assert list(sent.values()) == [True, True, True, True] and robots.refused == []
    wecom = robots.received["wecom"][0]["markdown"]["content"]
    assert wecom.startswith("**📊 全局项目汇总** 12月7日（周一）")
    assert "🔴 **#2** 高新技术企业认定 · 某某科技" in wecom
    ding = robots.received["dingtalk"][0]["markdown"]
    assert ding["title"] == "📊 全局项目汇总 12月7日（周一）" and "  \n" in ding["text"]
    card = robots.received["feishu"][0]["card"]
    assert card["header"]["title"]["content"] == ding["title"]
    assert "**🎯 2026 年目标**" in card["elements"][0]["text"]["content"]


async def test_a_wrong_secret_is_refused_and_the_robot_tried_again_later(
    database_url: str, staff: Staff, clock: FrozenClock, robots: FakeRobots,
    http: aiohttp.ClientSession, fake_time: FakeTime,
) -> None:
    good = robots.url("dingtalk", secret="SECright")
    wrong = good.replace("SECright", "SECwrong")
    app = core_with(database_url, clock, [wrong])
    try:
        assert list((await pusher(app, http, fake_time).push("weekly:x")).values()) == [False]
    finally:
        await app.db.dispose()
    assert robots.refused == [("dingtalk", 310000, "sign not match")]
    app = core_with(database_url, clock, [good])  # fixed in the settings, same robot
    try:
        assert list((await pusher(app, http, fake_time).push("weekly:x")).values()) == [True]
    finally:
        await app.db.dispose()


async def test_long_summaries_are_split_within_each_robots_limit_and_paced(
    database_url: str, staff: Staff, clock: FrozenClock, robots: FakeRobots,
    http: aiohttp.ClientSession, fake_time: FakeTime, core: Core,
) -> None:
    now = clock.now()
    async with core.db.write() as session:
        session.add_all(Task(
            title=f"第{n}号省级工程技术研究中心认定及配套资金申报项目",
            enterprise="某某科技有限公司", official_id=staff.official.id,
            leader_id=staff.leader.id, due_at=now + timedelta(days=9),
            status=Status.PREPARING.value, progress=n % 100, created_by=staff.admin.id,
            created_at=now - timedelta(days=30), updated_at=now, last_update_at=now,
        ) for n in range(1, 501))
    app = core_with(database_url, clock, [robots.url("wecom"), robots.url("dingtalk"),
                                     robots.url("feishu")])
    try:
        sent = await pusher(app, http, fake_time).push("weekly:big")
    finally:
        await app.db.dispose()
    assert all(sent.values()) and robots.refused == []
    wecom = [m["markdown"]["content"] for m in robots.received["wecom"]]
    assert len(wecom) > 20  # more than one minute's worth: the pusher waited, never refused
    assert all(len(c.encode()) <= 4096 for c in wecom)
    assert fake_time.now - 1000.0 >= 60
    joined = "".join(wecom)
    assert all(f"第{n}号" in joined for n in range(1, 501))
    ding = [m["markdown"] for m in robots.received["dingtalk"]]
    assert ding[0]["title"].endswith(f"(1/{len(ding)})")
    assert all(len(m["text"].encode()) <= LIMITS[RobotKind.DINGTALK].text_bytes for m in ding)
    assert len(robots.received["feishu"]) < len(wecom)


async def test_rate_limits_and_server_errors_are_retried(
    database_url: str, staff: Staff, clock: FrozenClock, robots: FakeRobots,
    http: aiohttp.ClientSession, fake_time: FakeTime,
) -> None:
    app = core_with(database_url, clock, [robots.url("wecom"), robots.url("feishu")])
    robots.fail_next("wecom", errcode=45009)
    robots.fail_next("feishu", status=502)
    robots.fail_next("feishu", status=429)
    try:
        assert all((await pusher(app, http, fake_time).push("weekly:y")).values())
    finally:
        await app.db.dispose()
    assert len(robots.received["wecom"]) == 1 and len(robots.received["feishu"]) == 1
    assert RATE_LIMIT_WAIT in fake_time.slept


async def test_once_per_run_across_copies_and_a_dead_copys_claim_is_taken_over(
    database_url: str, staff: Staff, clock: FrozenClock, robots: FakeRobots,
    http: aiohttp.ClientSession, fake_time: FakeTime,
) -> None:
    url = robots.url("wecom")
    first, second = (core_with(database_url, clock, [url]) for _ in range(2))
    try:
        assert list((await pusher(first, http, fake_time).push("weekly:z")).values()) == [True]
        assert await pusher(second, http, fake_time, "copy-2").push("weekly:z") == {}
        # A copy claimed the next run and died before sending.
        robot_id = first.settings.robots[0].id
        async with first.db.write() as session:
            session.add(JobRun(run_key=f"robot:weekly:next:{robot_id}", owner="dead",
                               created_at=clock.now()))
        assert await pusher(second, http, fake_time, "copy-2").push("weekly:next") == {}
        clock.advance(timedelta(minutes=11))
        assert list((await pusher(second, http, fake_time, "copy-2").push(
            "weekly:next")).values()) == [True]
        async with first.db.read() as session:
            owner = await session.scalar(select(JobRun.owner).where(
                JobRun.run_key == f"robot:weekly:next:{robot_id}"))
    finally:
        await first.db.dispose()
        await second.db.dispose()
    assert owner == "copy-2"
    assert len(robots.received["wecom"]) == 2


async def test_the_weekly_job_pushes_once(
    database_url: str, staff: Staff, clock: FrozenClock, robots: FakeRobots, core: Core,
) -> None:
    await populate(core, staff, clock)
    app = core_with(database_url, clock, [robots.url("feishu", secret="s3cret")])
    try:
        await weekly_summary(app)
        await weekly_summary(app)
        clock.advance(timedelta(days=1))  # Tuesday: no run within the grace
        await weekly_summary(app)
    finally:
        await app.db.dispose()
    assert len(robots.received["feishu"]) == 1
    assert clock.now() == MONDAY + timedelta(days=1)


def test_parts_never_exceed_the_documented_limits() -> None:
    text = "\n".join(f"🔴 <b>#{n}</b> 高新技术企业认定 &amp; 配套\n    12月4日 逾期3天 · 李明"
                     for n in range(500))
    for kind, limits in LIMITS.items():
        parts = parts_for(text, kind)
        assert all(len(p.encode()) <= limits.text_bytes for p in parts)
        assert sum(p.count("**#") for p in parts) == 500
