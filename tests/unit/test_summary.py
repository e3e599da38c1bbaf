"""Summary content from fixture data on a frozen clock: scoping, overdue, blocked, due soon,
silence and leave, the week's changes, funding and targets, the order things come in."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

from core.app import Core
from core.clock import FrozenClock
from core.dto import PersonRef, PersonView, TaskView
from core.enums import Status
from core.summary.data import Summary, gather
from core.summary.messages import look_for, summary_replies
from core.summary.render import summary_html
from core.texts import plain
from tests.bureau import AWAY_UNTIL, MONDAY, populate
from tests.conftest import Staff


@pytest.fixture
async def bureau(core: Core, staff: Staff, clock: FrozenClock) -> Staff:
    await populate(core, staff, clock)
    return staff


async def summary_of(core: Core, leader: PersonRef | None = None,
                     lang: str = "zh") -> tuple[Summary, str]:
    look = look_for(core, lang)
    summary = await gather(core, look, leader)
    return summary, plain(summary_html(look, summary))


def ref(person: PersonView) -> PersonRef:
    return PersonRef(person.id, person.name)


def numbers(tasks: tuple[TaskView, ...]) -> list[int]:
    return [task.id for task in tasks]


async def test_the_bureau_summary(core: Core, bureau: Staff) -> None:
    summary, text = await summary_of(core)
    assert summary.now == MONDAY
    assert summary.counts == {Status.NOT_STARTED: 3, Status.PREPARING: 2, Status.SUBMITTED: 1,
                              Status.APPROVED: 1}  # last year's approval is not counted
    assert summary.risks == {"🔴": 2, "🟡": 1, "🟢": 3}
    assert numbers(summary.overdue) == [2]
    assert numbers(summary.blocked) == [3]
    assert numbers(summary.due_soon) == [4]
    assert [(c.kind, c.task.id, c.amount) for c in summary.changes] == [
        ("new", 8, Decimal(20)), ("submitted", 5, Decimal(30)), ("approved", 6, Decimal(80))]
    assert (summary.tally.sought, summary.tally.won, summary.tally.approved) == (
        Decimal(280), Decimal(80), 1)

    # The most urgent first: overdue, blocked, due soon, silence, leaders, changes, targets.
    order = ["在办 6 项：🔴 2 · 🟡 1 · 🟢 3", "逾期 1 项", "#2 高新技术企业认定 · 某某科技",
             "12月4日（周五） 逾期3天 · 准备中 40% · 李明", "受阻 1 项", "企业审计报告未出",
             "14 天内到期 1 项", "#4 科技型中小企业评价", "剩3天", "7 天以上未更新",
             "各分管领导", "近 7 天变化", "2026 年目标"]
    positions = [text.index(piece) for piece in order]
    assert positions == sorted(positions), text
    assert "#1" not in text  # last year's task


async def test_silent_officials_and_people_on_leave(core: Core, bureau: Staff) -> None:
    summary, text = await summary_of(core)
    silent = {s.official.name: (s.tasks, s.away_until) for s in summary.silent}
    assert silent == {"孙丽": (((7, 15),), AWAY_UNTIL), "李明": (((2, 12),), None)}
    assert "孙丽（休假至12月10日）：#7 15天" in text
    assert "李明：#2 12天" in text


async def test_one_line_per_leader_for_the_director(core: Core, bureau: Staff) -> None:
    summary, text = await summary_of(core)
    assert [line.leader.name if line.leader else None for line in summary.leaders] == [
        "张副局长", "钱副局长", None]
    assert "张副局长：在办 3 项 🔴1 🟡1 🟢1 · 逾期 1 · 受阻 1 · 立项 1 项 80 万元" in text
    assert "钱副局长：在办 2 项 🔴1 🟡0 🟢1" in text
    assert "未定包抓领导：在办 1 项 🔴0 🟡0 🟢1" in text


async def test_a_leader_sees_only_the_portfolio(core: Core, bureau: Staff) -> None:
    summary, text = await summary_of(core, ref(bureau.leader2))
    assert summary.counts == {Status.PREPARING: 1, Status.SUBMITTED: 1}
    assert numbers(summary.overdue) == [] and numbers(summary.due_soon) == [4]
    assert [c.task.id for c in summary.changes] == [5]
    assert "钱副局长分管项目汇总" in text
    assert "各分管领导" not in text and "张副局长" not in text
    assert "#2" not in text and "#3" not in text
    assert "本分管争取资金 30 万元，已获批 0 万元（立项 0 项）" in text
    assert "2026 年全局目标" in text  # targets are the bureau's


async def test_targets_progress(core: Core, bureau: Staff) -> None:
    _, text = await summary_of(core)
    assert "争取资金（已获批）：80 / 5,000 万元（1%）" in text
    assert "立项数：1 / 20 项（5%）" in text
    assert "高新技术企业新增：12 / 15（80%）" in text
    assert "争取资金合计 280 万元，已获批 80 万元（立项 1 项）" in text


async def test_the_week_moves_on(core: Core, bureau: Staff, clock: FrozenClock) -> None:
    clock.advance(timedelta(days=7))
    summary, text = await summary_of(core)
    assert summary.changes == ()
    assert "没有新增、提交或立项" in text
    assert numbers(summary.overdue) == [2, 4]
    assert "孙丽：" in text  # back from leave: silent, no longer away


async def test_english(core: Core, bureau: Staff) -> None:
    _, text = await summary_of(core, lang="en")
    for expected in ("Summary: whole bureau", "6 open: 🔴 2 · 🟡 1 · 🟢 3", "Overdue: 1",
                     "孙丽 (away until 12/10): #7 15d", "Projects approved: 1 / 20 projects (5%)"):
        assert expected in text


async def test_nothing_yet(core: Core, staff: Staff) -> None:
    _, text = await summary_of(core)
    assert text.endswith("暂无任务。")


async def test_summary_replies_by_role(core: Core, bureau: Staff) -> None:
    director = await summary_replies(core, bureau.director)
    kinds = [r.attachment.kind if r.attachment else "text" for r in director]
    assert kinds == ["text", "photo", "document"]
    assert "全局项目汇总" in director[0].text
    leader = await summary_replies(core, bureau.leader)
    assert [r.attachment.kind if r.attachment else "text" for r in leader] == ["text", "photo"]
    assert "张副局长分管" in leader[0].text
    portfolio = await summary_replies(core, bureau.admin, "钱副局长")
    assert "钱副局长分管" in portfolio[0].text and len(portfolio) == 2
