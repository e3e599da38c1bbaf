"""`duban import FILE` as an operator runs it: what it prints, and its exit codes (once as a
separate process, the way a shell sees it)."""

from __future__ import annotations

import argparse
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from duban.cli import cmd_import
from tests.conftest import make_settings, sqlite_url
from tests.files import csv_file

GOOD = [["指南名称", "级别", "截止日期"], ["国家重点研发计划", "国家", "2030-03-15"],
        ["省重点研发计划", "省", "2030年2月10日"]]
BAD = [["指南名称", "级别", "截止日期"], ["新指南", "国家", "2030-03-15"],
       ["省重点研发计划", "省", "2030-02-30"]]


def guideline_names(db_path: Path) -> list[str]:
    with sqlite3.connect(db_path) as connection:
        return [row[0] for row in connection.execute("SELECT name FROM guidelines ORDER BY id")]


async def test_import_says_what_it_did(
    tmp_path: Path, db_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = tmp_path / "指南.csv"
    good.write_bytes(csv_file(GOOD, "gbk"))
    settings = make_settings(db_path)
    assert await cmd_import(settings, argparse.Namespace(file=good)) == 0
    assert "申报指南：新增 2，更新 0，未变 0" in capsys.readouterr().out
    assert guideline_names(db_path) == ["国家重点研发计划", "省重点研发计划"]
    missing = argparse.Namespace(file=tmp_path / "没有这个文件.xlsx")
    assert await cmd_import(settings, missing) == 2
    assert "无法读取文件" in capsys.readouterr().err


def test_a_rejected_file_exits_nonzero_with_every_mistake(tmp_path: Path, db_path: Path) -> None:
    bad = tmp_path / "坏指南.csv"
    bad.write_bytes(csv_file(BAD))
    env = {k: v for k, v in os.environ.items() if not k.startswith("DUBAN_")}
    env["DUBAN_DATABASE_URL"] = sqlite_url(db_path)
    refused = subprocess.run([sys.executable, "-m", "duban", "import", str(bad)], cwd=tmp_path,
                             env=env, capture_output=True, text=True, timeout=120, check=False)
    assert refused.returncode == 1
    assert "第 3 行「截止日期」：日期「2030-02-30」不存在" in refused.stderr
    assert "没有导入任何内容" in refused.stderr and refused.stdout == ""
    assert guideline_names(db_path) == []
