"""The core slice end to end: the real aiogram Bot and Dispatcher over real HTTP against the fake
Bot API server, several people in several roles, the database a real SQLite file."""

from __future__ import annotations

import re
from datetime import timedelta

from sqlalchemy import func, select

from core.clock import FrozenClock
from core.enums import Channel
from core.tasks import AssignRequest
from storage.models import AuditEntry, Task, TaskUpdate
from tests.conftest import Staff
from tests.e2e.conftest import People
from tests.e2e.harness import Running, ask, labels, tap, text_of
from tests.fakes.telegram_api import FakeTelegram

ASSIGN = "/assign 李明 | 2026-12-20 | 高新技术企业认定 | 张副局长 | 50 | 某某科技"


async def assign_one(people: People, fake: FakeTelegram) -> dict[str, object]:
    """The admin assigns; returns the notice the official received."""
    answer = await ask(people.admin, ASSIGN)
    assert "已分配" in text_of(answer) and "#1" in text_of(answer)
    return await people.official.wait_for_message(lambda m: "新任务 #1" in text_of(m))


async def test_start_greets_registered_people_by_name_and_role(
    duban: Running, staff: Staff, people: People
) -> None:
    answer = await ask(people.leader, "/start")
    assert "张副局长您好" in text_of(answer) and "包抓领导" in text_of(answer)


async def test_invite_join_and_refusals(
    duban: Running, staff: Staff, people: People, fake: FakeTelegram, clock: FrozenClock
) -> None:
    answer = await ask(people.admin, "/invite 责任人 周强")
    link = re.search(r"https://t\.me/duban_test_bot\?start=([\w-]+)", text_of(answer))
    assert link, text_of(answer)
    code = link[1]

    stranger = fake.user(2001, "Zhou")
    assert "还没有注册" in text_of(await ask(stranger, "/tasks"))
    welcome = await ask(stranger, f"/start {code}")
    assert "欢迎加入，周强" in text_of(welcome) and "责任人" in text_of(welcome)
    assert "没有进行中的任务" in text_of(await ask(stranger, "/tasks"))

    second = fake.user(2002, "Someone")
    assert "无效或已被使用" in text_of(await ask(second, f"/start {code}"))

    late = await ask(people.admin, "/invite leader 吴局")
    late_code = re.search(r"start=([\w-]+)", text_of(late))
    assert late_code
    clock.advance(timedelta(days=8))
    assert "已过期" in text_of(await ask(second, f"/start {late_code[1]}"))

    assert "没有权限" in text_of(await ask(people.official, "/invite 责任人 某人"))


async def test_assign_acknowledge_update_and_history(
    duban: Running, staff: Staff, people: People, fake: FakeTelegram
) -> None:
    notice = await assign_one(people, fake)
    body = text_of(notice)
    for expected in ("高新技术企业认定", "某某科技", "张副局长", "12月20日", "剩19天"):
        assert expected in body
    assert labels(fake, notice)[:2] == ["收到", "已提交"]
    leader_notice = await people.leader.wait_for_message(lambda m: "#1" in text_of(m))
    assert "分管" in text_of(leader_notice)

    acked = await tap(people.official, notice, "收到")
    assert text_of(acked).startswith("已记录 #1")
    answered = [a for a in fake.callback_answers.values() if "已记录 #1" in (a["text"] or "")]
    assert answered

    assert "进度 10%" in text_of(await tap(people.official, notice, "进度 +10%"))
    picker = await tap(people.official, notice, "更新进度")
    assert "60%" in labels(fake, picker)
    assert "进度 60%" in text_of(await tap(people.official, picker, "60%"))

    reported = await ask(people.official, "/report 1 80 可研初稿完成")
    assert "已记录 #1 进度 80%" in text_of(reported)

    ask_reason = await tap(people.official, notice, "遇到困难")
    assert "遇到的困难" in text_of(ask_reason)
    blocked = await ask(people.official, "企业财务审计报告还没出")
    assert "受阻" in text_of(blocked)
    alert = await people.leader.wait_for_message(lambda m: "遇到困难" in text_of(m))
    assert "企业财务审计报告还没出" in text_of(alert)

    via_reply = await ask(people.official, "已提交 材料已在省系统报送", reply_to=notice)
    assert "状态 已提交" in text_of(via_reply)

    detail = text_of(await ask(people.official, "/task 1"))
    for expected in ("已收到", "进度 80%", "可研初稿完成", "企业财务审计报告还没出", "已提交",
                     "材料已在省系统报送"):
        assert expected in detail, expected


async def test_guided_assign_form_with_a_wrong_date_on_the_way(
    duban: Running, staff: Staff, people: People, fake: FakeTelegram
) -> None:
    step = await ask(people.admin, "/assign")
    assert "责任人" in text_of(step) and "孙丽" in labels(fake, step)
    step = await tap(people.admin, step, "孙丽")
    assert "项目名称" in text_of(step)
    step = await ask(people.admin, "科技型中小企业评价")
    assert "申报单位" in text_of(step)
    step = await tap(people.admin, step, "跳过")
    assert "截止日期" in text_of(step)
    step = await ask(people.admin, "2026年2月30日")
    assert "不存在" in text_of(step) and "截止日期" in text_of(step)
    step = await ask(people.admin, "12月25日")
    assert "包抓领导" in text_of(step)
    step = await tap(people.admin, step, "钱副局长")
    step = await ask(people.admin, "30万")
    assert "请确认" in text_of(step) and "科技型中小企业评价" in text_of(step)
    done = await tap(people.admin, step, "✅ 确认")
    assert "已分配" in text_of(done) and "孙丽" in text_of(done)
    notice = await people.official2.wait_for_message(lambda m: "新任务" in text_of(m))
    assert "科技型中小企业评价" in text_of(notice)

    again = await ask(people.admin, "/assign")
    assert "已退出填写" in text_of(await ask(people.admin, "/cancel"))
    assert "已过期" in text_of(await tap(people.admin, again, "孙丽"))


async def test_scopes_of_tasks_for_each_role(
    duban: Running, staff: Staff, people: People, fake: FakeTelegram
) -> None:
    await assign_one(people, fake)
    await ask(people.admin, "/assign 孙丽 | 2027-01-10 | 创新平台 | 钱副局长")
    official_list = text_of(await ask(people.official, "/tasks"))
    assert "#1" in official_list and "#2" not in official_list
    leader_list = text_of(await ask(people.leader, "/tasks"))
    assert "#1" in leader_list and "#2" not in leader_list and "李明" in leader_list
    director_list = text_of(await ask(people.director, "/tasks"))
    assert "#1" in director_list and "#2" in director_list
    assert "未找到任务 #2" in text_of(await ask(people.official, "/task 2"))
    refusal = await ask(people.leader2, "/task 1", match=lambda m: "#2" not in text_of(m))
    assert "未找到任务 #1" in text_of(refusal)

    summary = text_of(await ask(people.leader, "/summary"))
    assert "张副局长分管" in summary and "#1" in summary and "#2" not in summary
    assert "没有权限" in text_of(await ask(people.official, "/summary"))


async def test_leaders_comment_but_do_not_update(
    duban: Running, staff: Staff, people: People, fake: FakeTelegram
) -> None:
    notice = await assign_one(people, fake)
    leader_notice = await people.leader.wait_for_message(lambda m: "#1" in text_of(m))
    refused = await ask(people.leader, "/report 1 90")
    assert "只有责任人或管理员" in text_of(refused)
    comment = await ask(people.leader, "请本周内完成初稿 60%", reply_to=leader_notice)
    assert "已记录 #1 留言" in text_of(comment)
    detail = text_of(await ask(people.official, "/task 1"))
    assert "请本周内完成初稿" in detail and "状态：🔴 待启动 · 进度 0%" not in detail
    assert "进度 0%" in detail  # the leader's "60%" was a note, not progress

    forged = await tap(people.official2, notice, data="pct:1:90")
    assert "未找到任务 #1" in text_of(forged)
    async with duban.core.db.read() as session:
        task = await session.get(Task, 1)
        assert task is not None and task.progress == 0


async def test_bad_input_gets_a_clear_message_and_changes_nothing(
    duban: Running, staff: Staff, people: People, fake: FakeTelegram
) -> None:
    cases = {
        "/assign 无名氏 | 2026-12-20 | 项目": "责任人「无名氏」未找到",
        "/assign 李明 | 2026-02-30 | 项目": "不存在",
        "/assign 李明 | 下周 | 项目": "无法识别",
        "/assign 李明 | 2026-12-20 |  ": "项目名称不能为空",
        "/assign 李明 | 2026-12-20 | " + "长" * 201: "项目名称太长",
        "/assign 李明 | 2026-12-20 | 项目 | 李明": "不是包抓领导",
        "/assign 李明 | 2026-12-20 | 项目 | 张副局长 | -5": "不是有效金额",
        "/assign 李明 | 2026-12-20": "用法",
        "/foo": "未知命令 /foo",
        "hello": "没有理解",
    }
    for text, expected in cases.items():
        assert expected in text_of(await ask(people.admin, text)), text
    await assign_one(people, fake)
    for text, expected in {"/report 1 150": "超出范围", "/report 9 50": "未找到任务 #9",
                           "/report": "用法", "/edit 1 颜色 红": "无法修改"}.items():
        who = people.admin if text.startswith("/edit") else people.official
        assert expected in text_of(await ask(who, text)), text
    async with duban.core.db.read() as session:
        assert await session.scalar(select(func.count()).select_from(Task)) == 1
        progress = await session.scalar(
            select(func.count()).select_from(TaskUpdate).where(TaskUpdate.kind == "progress"))
        assert progress == 0


async def test_a_restart_loses_nothing(
    duban: Running, staff: Staff, people: People, fake: FakeTelegram, clock: FrozenClock
) -> None:
    await assign_one(people, fake)
    await ask(people.official, "/report 1 40 材料收集中")
    form = await ask(people.admin, "/assign")
    step = await tap(people.admin, form, "李明")
    assert "项目名称" in text_of(step)

    await duban.stop()
    # Assigned while the bot was down (e.g. from another copy): stored, sent after the restart.
    async with duban.offline_core() as core:
        await core.tasks.assign(staff.admin, AssignRequest("孙丽", "2026-12-30", "停机期间分配"),
                                Channel.CLI)
    await duban.start()

    notice = await people.official2.wait_for_message(lambda m: "停机期间分配" in text_of(m))
    assert "新任务 #2" in text_of(notice)
    step = await ask(people.admin, "重启后继续的项目")  # the form survived the restart
    assert "申报单位" in text_of(step)
    detail = text_of(await ask(people.official, "/task 1"))
    assert "进度 40%" in detail and "材料收集中" in detail
    async with duban.core.db.read() as session:
        actions = set(await session.scalars(select(AuditEntry.action)))
    assert {"task_assign", "task_report"} <= actions
