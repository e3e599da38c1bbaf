"""The `duban` command line: bootstrap people, invite, import, refuse to start without what it
needs."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

import pytest

from duban.cli import main
from tests.conftest import sqlite_url
from tests.files import csv_file


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, db_path: Path) -> Path:
    for name in list(__import__("os").environ):
        if name.startswith("DUBAN_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DUBAN_DATABASE_URL", sqlite_url(db_path))
    return db_path


def test_user_add_creates_then_updates_never_duplicates(
    env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["user", "add", "--name", "王主任", "--role", "admin", "--telegram-id", "42"]) == 0
    assert "王主任（管理员）" in capsys.readouterr().out
    assert main(["user", "add", "--name", "王主任", "--role", "admin", "--role", "director",
                 "--telegram-id", "42"]) == 0
    out = capsys.readouterr().out
    assert "管理员、局长" in out and "编号 1" in out


def test_user_add_with_a_bad_role_says_so(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["user", "add", "--name", "某人", "--role", "boss"]) == 2
    assert "角色「boss」无法识别" in capsys.readouterr().err


def test_invite_without_a_token_prints_the_start_code(
    env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["invite", "--role", "official", "--name", "李明"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"/start [\w-]{20,}", out) and "7 天内有效" in out


def test_run_without_a_token_says_what_to_set(
    env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["run"]) == 2
    err = capsys.readouterr().err
    assert "DUBAN_BOT_TOKEN" in err and "@BotFather" in err and len(err.splitlines()) == 1


def test_a_bad_setting_stops_with_one_line(
    env: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DUBAN_TIMEZONE", "Nowhere/City")
    assert main(["run"]) == 2
    assert capsys.readouterr().err.strip().startswith("设置错误 DUBAN_TIMEZONE")


def test_an_unmigrated_database_is_named(
    env: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DUBAN_DATABASE_URL", sqlite_url(tmp_path / "empty.db"))
    monkeypatch.setenv("DUBAN_BOT_TOKEN", "123:abc")
    assert main(["run"]) == 2
    assert "duban db upgrade" in capsys.readouterr().err


def test_backup_copies_the_database_and_refuses_to_overwrite(
    env: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    main(["user", "add", "--name", "王主任", "--role", "admin"])
    target = tmp_path / "copy.db"
    assert main(["backup", str(target)]) == 0
    assert "已备份到" in capsys.readouterr().out
    with sqlite3.connect(target) as copy:
        assert copy.execute("SELECT name FROM people").fetchall() == [("王主任",)]
    assert main(["backup", str(target)]) == 2
    assert "不会覆盖" in capsys.readouterr().err


def test_import_says_what_it_did_and_exits_nonzero_on_any_mistake(
    env: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    header = ["指南名称", "级别", "截止日期"]
    good = tmp_path / "指南.csv"
    good.write_bytes(csv_file([header, ["国家重点研发计划", "国家", "2030-03-15"],
                               ["省重点研发计划", "省", "2030年2月10日"]], "gbk"))
    assert main(["import", str(good)]) == 0
    assert "申报指南：新增 2，更新 0，未变 0" in capsys.readouterr().out

    bad = tmp_path / "坏指南.csv"
    bad.write_bytes(csv_file([header, ["新指南", "国家", "2030-03-15"],
                              ["省重点研发计划", "省", "2030-02-30"]]))
    assert main(["import", str(bad)]) == 1
    out, err = capsys.readouterr()
    assert "第 3 行「截止日期」：日期「2030-02-30」不存在" in err
    assert "没有导入任何内容" in err and out == ""
    with sqlite3.connect(env) as database:
        names = [row[0] for row in database.execute("SELECT name FROM guidelines ORDER BY id")]
    assert names == ["国家重点研发计划", "省重点研发计划"]

    assert main(["import", str(tmp_path / "没有这个文件.xlsx")]) == 2
    assert "无法读取文件" in capsys.readouterr().err
