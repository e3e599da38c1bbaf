"""The console channel: typed lines through the same conversation, as any registered person,
with that person's outbox messages shown, local files sent as imports; driven in-process and as
`duban console`."""

from __future__ import annotations

import asyncio
import os
import re
import sys
from collections.abc import AsyncIterator
from pathlib import Path

from sqlalchemy import select

from config.settings import Settings
from core.clock import FrozenClock
from duban.runtime import run_console
from storage.models import OutboxItem, TaskUpdate
from tests.conftest import Staff
from tests.files import GUIDELINE_CSV, csv_file


class Terminal:
    """Stands in for stdin and stdout."""

    def __init__(self) -> None:
        self.typed: asyncio.Queue[str | None] = asyncio.Queue()
        self.output: list[str] = []
        self._written = asyncio.Event()

    def write(self, text: str) -> None:
        self.output.append(text)
        self._written.set()

    async def lines(self) -> AsyncIterator[str]:
        while (line := await self.typed.get()) is not None:
            yield line

    async def wait_for(self, expected: str, after: int = 0) -> str:
        async with asyncio.timeout(10):
            while not (found := [o for o in self.output[after:] if expected in o]):
                self._written.clear()
                await self._written.wait()
        return found[0]

    async def type(self, line: str, expected: str) -> str:
        """Type a line; the first output after it that contains `expected`."""
        before = len(self.output)
        await self.typed.put(line)
        return await self.wait_for(expected, before)


def open_console(settings: Settings, clock: FrozenClock) -> tuple[Terminal, asyncio.Task[None]]:
    """`duban console` in this event loop on a stand-in terminal."""
    terminal = Terminal()
    return terminal, asyncio.create_task(
        run_console(settings, terminal.lines(), terminal.write, clock=clock))


async def test_acting_as_several_people_with_their_notices(
    settings: Settings, clock: FrozenClock, staff: Staff
) -> None:
    terminal, console = open_console(settings, clock)
    await terminal.wait_for("现在的身份：王主任（管理员）")
    assigned = await terminal.type("/assign 李明 | 2026-12-20 | 高新技术企业认定 | 张副局长",
                                   "已分配")
    assert assigned.startswith("督办 › 已分配 #1")
    step = await terminal.type("/assign", "第 1 步")
    assert "回复序号选择" in step
    assert "已退出填写" in await terminal.type("取消", "已退出")

    await terminal.type("/as 李明", "现在的身份：李明")
    notice = await terminal.wait_for("新任务 #1")  # waiting in the outbox for him: shown now
    assert notice.startswith("📨 通知 › 📌 新任务 #1") and "1 收到" in notice
    assert "已记录 #1 已收到" in await terminal.type("1", "已记录")
    assert "已记录 #1 留言" in await terminal.type("企业材料已收齐", "已记录")
    assert "未找到" in await terminal.type("/as 不存在的人", "未找到")
    assert "孙丽" in await terminal.type("/as", "已登记的人员")

    await terminal.typed.put("/quit")
    await asyncio.wait_for(console, 10)
    async with staff.core.db.read() as session:
        channels = set(await session.scalars(select(TaskUpdate.channel)
                                             .where(TaskUpdate.author_id == staff.official.id)))
        leader_notice = await session.scalar(select(OutboxItem.status).where(
            OutboxItem.person_id == staff.leader.id))
    assert channels == {"console"}
    assert leader_notice == "pending"  # not the console's to send: it stays for his channel


async def test_files_settings_and_targets_on_the_console(
    settings: Settings, clock: FrozenClock, staff: Staff, tmp_path: Path
) -> None:
    path = tmp_path / "指南.csv"
    path.write_bytes(csv_file(GUIDELINE_CSV))
    terminal, console = open_console(settings, clock)
    await terminal.wait_for("现在的身份：王主任")
    imported = await terminal.type(f"/file {path}", "已导入")
    assert "申报指南：新增 2，更新 0，未变 0" in imported
    assert "找不到文件「没有.csv」" in await terminal.type("/file 没有.csv", "找不到文件")
    assert "国家重点研发计划" in await terminal.type("指南", "国家重点研发计划")
    assert "已设定 2026 年目标" in await terminal.type("/target 争取资金 5000", "已设定")
    overview = await terminal.type("/settings", "我的设置")
    english = re.search(r"(\d+) English", overview)
    assert english is not None
    assert "Language: English" in await terminal.type(english[1], "Saved.")

    await terminal.type("/as 李明", "现在的身份：李明")
    assert "只有管理员可以导入" in await terminal.type(f"/file {path}", "只有管理员")
    await terminal.typed.put(None)
    await asyncio.wait_for(console, 10)


async def test_duban_console_reads_stdin(
    database_url: str, tmp_path: Path, staff: Staff
) -> None:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("DUBAN_")}
    environment["DUBAN_DATABASE_URL"] = database_url
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "duban", "console", "--as", "孙丽", cwd=tmp_path,
        env=environment, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(process.communicate("任务\n帮助\n".encode()), 60)
    text = out.decode()
    assert process.returncode == 0, err.decode()
    assert "现在的身份：孙丽（责任人）" in text and "没有进行中的任务" in text and "/report" in text
