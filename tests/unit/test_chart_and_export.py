"""The chart (a PNG with Chinese labels the shipped font really has) and the Excel 台账
(opened back with openpyxl)."""

from __future__ import annotations

import struct
from io import BytesIO

import pytest
from fontTools.ttLib import TTFont
from matplotlib.font_manager import findfont
from matplotlib.text import Text
from openpyxl import load_workbook

from config.settings import Settings
from core.app import Core
from core.clock import FrozenClock
from core.export import export_register
from core.summary.chart import FONT_PATH, HEIGHT, WIDTH, chart_png, chart_style, draw
from core.summary.data import gather
from core.summary.messages import look_for
from duban.cli import main
from tests.bureau import populate
from tests.conftest import Staff

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
async def bureau(core: Core, staff: Staff, clock: FrozenClock) -> Staff:
    await populate(core, staff, clock)
    return staff


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == PNG_SIGNATURE
    width, height = struct.unpack(">II", data[16:24])
    return width, height


async def test_the_chart_is_a_png_of_the_expected_size(core: Core, bureau: Staff) -> None:
    look = look_for(core, "zh")
    data = chart_png(look, await gather(core, look, None))
    assert png_size(data) == (WIDTH, HEIGHT)
    assert len(data) > 20_000  # bars, labels and legend, not a blank image


async def test_every_label_is_drawn_with_glyphs_the_font_has(core: Core, bureau: Staff) -> None:
    look = look_for(core, "zh")
    with chart_style():
        figure = draw(look, await gather(core, look, None))
        figure.draw_without_rendering()
        texts = [text for text in figure.findobj(Text) if text.get_text().strip()]
        chinese = [text for text in texts
                   if any("\u4e00" <= c <= "\u9fff" for c in text.get_text())]
        fonts = {findfont(text.get_fontproperties()) for text in chinese}
    labels = "".join(text.get_text() for text in texts)
    for expected in ("张副局长", "钱副局长", "未定包抓领导", "待启动", "准备中", "已立项",
                     "高新技术企业新增", "争取资金", "项目数", "完成率"):
        assert expected in labels
    assert {str(font) for font in fonts} == {str(FONT_PATH)}
    cmap = TTFont(FONT_PATH).getBestCmap()
    assert {c for c in labels if ord(c) not in cmap} == set()
    assert all(ord(c) in cmap for c in "喆堃玥犇淼")  # names beyond GB2312 draw too


async def test_a_chart_with_nothing_yet(core: Core, staff: Staff) -> None:
    look = look_for(core, "en")
    assert png_size(chart_png(look, await gather(core, look, None))) == (WIDTH, HEIGHT)


async def test_the_register_opens_back(core: Core, bureau: Staff) -> None:
    register = await export_register(core, look_for(core, "zh"))
    assert (register.tasks, register.updates) == (8, 14)
    book = load_workbook(BytesIO(register.data))
    assert book.sheetnames == ["任务台账", "进展记录", "年度目标"]
    tasks = book["任务台账"]
    assert str(tasks["A1"].value).startswith("督办台账 · 导出时间：2026-12-07 08:30")
    header = [cell.value for cell in tasks[2]]
    assert header[:8] == ["编号", "项目名称", "申报单位", "申报指南", "责任人", "包抓领导",
                          "截止时间", "状态"]
    rows = {row[0]: row for row in tasks.iter_rows(min_row=3, values_only=True)}
    assert len(rows) == 8
    overdue = rows[2]
    assert overdue[1:3] == ("高新技术企业认定", "某某科技")
    assert overdue[6].isoformat() == "2026-12-04T18:00:00"  # local wall time, as offices read
    assert overdue[7:10] == ("准备中", 40, "🔴")
    assert rows[6][11:13] == (80, 80)  # sought and granted
    assert rows[3][10] == "企业审计报告未出"
    updates = list(book["进展记录"].iter_rows(min_row=3, values_only=True))
    notes = [row for row in updates if row[0] == 2]
    assert [row[5] for row in notes] == ["分配任务", "进度 40%"]
    assert notes[1][3] == "李明" and notes[1][4] == "命令行" and notes[1][8] == "材料收集中"
    targets = list(book["年度目标"].iter_rows(min_row=3, values_only=True))
    assert targets[0] == (2026, "争取资金（已获批）", 5000, 80, 1, "万元")
    assert tasks.freeze_panes == "A3"


def test_duban_export(settings: Settings, monkeypatch: pytest.MonkeyPatch,
                      capsys: pytest.CaptureFixture[str], tmp_path: object) -> None:
    monkeypatch.setenv("DUBAN_DATABASE_URL", settings.database_url)
    target = f"{tmp_path}/台账.xlsx"
    assert main(["export", target]) == 0
    assert "已导出 0 项任务、0 条进展记录" in capsys.readouterr().out
    assert load_workbook(target).sheetnames == ["任务台账", "进展记录", "年度目标"]
