"""Reading dates, percentages, status words, task numbers and amounts as people type them."""

from __future__ import annotations

from datetime import date, datetime, time
from decimal import Decimal

import pytest

from core.enums import Status
from core.errors import InputError
from core.parsing import (
    chinese_number,
    find_percent,
    find_status,
    parse_amount,
    parse_due,
    parse_percent,
    parse_status,
    parse_task_ref,
    split_fields,
)
from tests.conftest import TZ

TODAY = date(2026, 12, 1)
SIX_PM = time(18, 0)


def due(text: str, today: date = TODAY) -> datetime:
    return parse_due(text, today, TZ, SIX_PM).at


@pytest.mark.parametrize("text", [
    "2026-12-20", "2026/12/20", "2026.12.20", "2026年12月20日", "2026年12月20号", "12月20日",
    "１２月２０日", "２０２６／１２／２０", "2026 年 12 月 20 日", "12-20", "12/20",
])
def test_every_written_form_of_a_date(text: str) -> None:
    assert due(text) == datetime(2026, 12, 20, 18, 0, tzinfo=TZ)


def test_a_time_may_follow() -> None:
    assert due("2026-12-20 17:00") == datetime(2026, 12, 20, 17, 0, tzinfo=TZ)
    assert due("12月20日 9:30") == datetime(2026, 12, 20, 9, 30, tzinfo=TZ)
    assert due("12月20日17点") == datetime(2026, 12, 20, 17, 0, tzinfo=TZ)
    assert parse_due("2026-12-20 17:00", TODAY, TZ, SIX_PM).has_time
    assert not parse_due("2026-12-20", TODAY, TZ, SIX_PM).has_time


def test_month_day_means_its_next_occurrence() -> None:
    assert due("12月1日") == datetime(2026, 12, 1, 18, 0, tzinfo=TZ)  # today counts
    assert due("11月30日") == datetime(2027, 11, 30, 18, 0, tzinfo=TZ)
    assert due("1月5日") == datetime(2027, 1, 5, 18, 0, tzinfo=TZ)
    assert due("2月29日") == datetime(2028, 2, 29, 18, 0, tzinfo=TZ)


def test_relative_words() -> None:
    assert due("明天") == datetime(2026, 12, 2, 18, 0, tzinfo=TZ)
    assert due("今天 20:00") == datetime(2026, 12, 1, 20, 0, tzinfo=TZ)


@pytest.mark.parametrize(("text", "key"), [
    ("2026-02-30", "date_impossible"),
    ("2026年13月1日", "date_impossible"),
    ("2月30日", "date_impossible"),
    ("2026-12-20 25:00", "date_impossible"),
    ("2026-12-20 23:61", "date_impossible"),
    ("下周五", "date_unreadable"),
    ("", "date_unreadable"),
    ("1899-01-01", "date_year"),
    ("2027-02-29", "date_impossible"),
])
def test_bad_dates_name_the_problem(text: str, key: str) -> None:
    with pytest.raises(InputError) as caught:
        due(text)
    assert caught.value.key == key


@pytest.mark.parametrize(("text", "value"), [
    ("十", 10), ("六十", 60), ("六十五", 65), ("一百", 100), ("百", 100), ("五", 5),
    ("十五", 15), ("两", 2), ("一百零一", None), ("千", None), ("六十六十", None),
])
def test_chinese_numerals(text: str, value: int | None) -> None:
    assert chinese_number(text) == value


@pytest.mark.parametrize(("token", "value"), [
    ("60", 60), ("60%", 60), ("６０％", 60), ("百分之六十", 60), ("0", 0), ("100", 100),
    ("百分之百", 100), ("已提交", None), ("abc", None),
])
def test_percentages(token: str, value: int | None) -> None:
    assert parse_percent(token) == value


@pytest.mark.parametrize("token", ["101", "150%", "999"])
def test_percentages_over_100_are_refused(token: str) -> None:
    with pytest.raises(InputError) as caught:
        parse_percent(token)
    assert caught.value.key == "percent_range"


def test_negative_percent_is_not_a_percent() -> None:
    assert parse_percent("-10") is None


def test_percent_and_status_inside_free_text() -> None:
    assert find_percent("可研初稿完成，进度60%了") == 60
    assert find_percent("已完成百分之八十") == 80
    assert find_percent("版本2.5完成") is None
    assert find_status("材料已提交到省系统") == Status.SUBMITTED
    assert find_status("项目未获批") == Status.REJECTED
    assert find_status("项目立项了") == Status.APPROVED
    assert find_status("还在写") is None
    with pytest.raises(InputError):
        find_percent("完成了120%")


def test_status_words() -> None:
    assert parse_status("已提交") == Status.SUBMITTED
    assert parse_status("立项") == Status.APPROVED
    assert parse_status("Submitted") == Status.SUBMITTED
    assert parse_status("准备中") == Status.PREPARING
    assert parse_status("完成") is None


def test_task_numbers() -> None:
    assert parse_task_ref("12") == 12
    assert parse_task_ref("#12") == 12
    assert parse_task_ref("＃１２") == 12
    assert parse_task_ref("12a") is None
    assert parse_task_ref("#") is None


def test_amounts() -> None:
    assert parse_amount("50", "funding") == Decimal("50.00")
    assert parse_amount("50万", "funding") == Decimal("50.00")
    assert parse_amount("12.5万元", "funding") == Decimal("12.50")
    for bad in ("-5", "abc", "1e20", "NaN"):
        with pytest.raises(InputError):
            parse_amount(bad, "funding")


def test_fields_split_on_half_and_full_width_bars() -> None:
    assert split_fields("李明 | 2026-12-20｜高企认定") == ["李明", "2026-12-20", "高企认定"]
