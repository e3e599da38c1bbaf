"""Yearly targets: `/target` as admins type it, computed and manual metrics, bad input that
changes nothing, and the command line."""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import func, select

from config.settings import Settings
from core.app import Core
from core.chat.context import MemoryFormState, Speaker
from core.chat.conversation import Conversation
from core.clock import FrozenClock
from core.dto import PersonView
from core.enums import Channel
from core.texts import plain
from duban.cli import main
from storage.models import Target
from tests.bureau import populate
from tests.conftest import Staff


async def say(core: Core, person: PersonView, text: str) -> str:
    speaker = Speaker(Channel.TELEGRAM, str(person.telegram_id))
    replies = await Conversation(core).message(speaker, text, MemoryFormState())
    return "\n".join(plain(r.text) for r in replies)


async def count_targets(core: Core) -> int:
    async with core.db.read() as session:
        return int(await session.scalar(select(func.count()).select_from(Target)) or 0)


async def test_set_and_list_with_progress(core: Core, staff: Staff, clock: FrozenClock) -> None:
    await populate(core, staff, clock)
    assert "已设定 2026 年目标：争取资金（已获批）：80 / 6,000 万元（1%）" in await say(
        core, staff.admin, "/target 争取资金 6000万元")
    assert "立项数：1 / 25 项（4%）" in await say(core, staff.admin, "/target 立项 25项")
    assert "科技型中小企业入库：30 / 40（75%）" in await say(
        core, staff.admin, "/target 科技型中小企业入库 40 30")
    listing = await say(core, staff.admin, "/target")
    assert listing.splitlines() == [
        "🎯 2026 年目标", "争取资金（已获批）：80 / 6,000 万元（1%）", "立项数：1 / 25 项（4%）",
        "科技型中小企业入库：30 / 40（75%）", "高新技术企业新增：12 / 15（80%）"]
    assert "尚未设定 2027 年目标" in await say(core, staff.admin, "/target 2027")
    assert "已设定 2027 年目标" in await say(core, staff.admin, "/target 2027年 立项数 30")
    assert "已删除 2026 年目标「科技型中小企业入库」" in await say(
        core, staff.admin, "/target 删除 科技型中小企业入库")
    assert "目标 8" in await say(core, staff.admin, "/target 专精特新 8")  # no actual yet


async def test_bad_input_names_the_field_and_changes_nothing(core: Core, staff: Staff) -> None:
    await core.targets.set_target(None, "立项数", "20", None, None, Channel.CLI)
    cases = {
        "/target 立项数 20 15": "由任务自动统计",
        "/target 立项数 0": "应大于 0",
        "/target 立项数 很多": "用法",
        "/target 5000": "用法",
        "/target 删除 不存在的指标": "没有「不存在的指标」这项目标",
        "/target 删除": "用法",
        "/target 高企 1e99": "用法",
        "/target 高企 99999999999": "不是有效数字",
    }
    for text, expected in cases.items():
        assert expected in await say(core, staff.admin, text), text
    assert await count_targets(core) == 1
    progress = await core.targets.progress()
    assert [(p.metric, p.target) for p in progress] == [("projects_approved", Decimal(20))]


@pytest.mark.parametrize("who", ["director", "leader", "official"])
async def test_only_admins_set_targets(core: Core, staff: Staff, who: str) -> None:
    assert "没有权限" in await say(core, getattr(staff, who), "/target 争取资金 5000")
    assert await count_targets(core) == 0


def test_the_command_line(settings: Settings, monkeypatch: pytest.MonkeyPatch,
                          capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("DUBAN_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("DUBAN_BOT_TOKEN", "")
    assert main(["target", "set", "高新技术企业新增", "15", "12", "--year", "2026"]) == 0
    assert main(["target", "set", "争取资金", "5000", "--year", "2026"]) == 0
    assert main(["target", "list", "--year", "2026"]) == 0
    out = capsys.readouterr().out
    assert "已设定 2026 年目标：高新技术企业新增：12 / 15（80%）" in out
    assert "争取资金（已获批）：0 / 5,000 万元（0%）" in out
    assert main(["target", "set", "立项数", "20", "3"]) == 2
    assert "由任务自动统计" in capsys.readouterr().err
    assert main(["target", "delete", "高新技术企业新增", "--year", "2026"]) == 0
    assert main(["target", "list", "--year", "2026"]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == "争取资金（已获批）：0 / 5,000 万元（0%）"
