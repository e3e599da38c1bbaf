"""Working days with 调休, the fallback for years without data, quiet hours."""

from __future__ import annotations

import logging
from datetime import date, datetime, time

import pytest

from core.calendar import WorkCalendar, after_quiet_hours, in_quiet_hours
from tests.conftest import TZ

QUIET = (time(21, 0), time(8, 0))


def test_spring_festival_and_its_adjusted_saturdays() -> None:
    calendar = WorkCalendar()
    assert calendar.is_workday(date(2026, 2, 14))  # Saturday worked before 春节
    assert not calendar.is_workday(date(2026, 2, 17))  # 春节
    assert calendar.on_or_before(date(2026, 2, 20)) == date(2026, 2, 14)
    assert calendar.is_workday(date(2026, 2, 28))  # Saturday worked after it


def test_national_day_moves_earlier_never_later() -> None:
    calendar = WorkCalendar()
    assert not calendar.is_workday(date(2026, 10, 1))
    assert calendar.on_or_before(date(2026, 10, 5)) == date(2026, 9, 30)
    assert calendar.is_workday(date(2026, 10, 10))  # the Saturday worked after 国庆


def test_workdays_before_skips_holidays() -> None:
    calendar = WorkCalendar()
    # Five working days before Monday 2026-10-12: 10-10 (Sat, worked), 10-9, 10-8, 9-30, 9-29.
    assert calendar.workdays_before(date(2026, 10, 12), 5) == date(2026, 9, 29)


def test_uncovered_year_falls_back_to_weekdays_with_one_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    calendar = WorkCalendar()
    with caplog.at_level(logging.WARNING):
        assert calendar.is_workday(date(2031, 1, 3))  # a Friday
        assert not calendar.is_workday(date(2031, 1, 4))  # a Saturday
        assert calendar.on_or_before(date(2031, 1, 5)) == date(2031, 1, 3)
    assert len([r for r in caplog.records if "2031" in r.getMessage()]) == 1


def test_the_rule_can_be_turned_off() -> None:
    assert WorkCalendar(workdays_only=False).is_workday(date(2026, 10, 1))


def test_quiet_hours_span_midnight() -> None:
    assert in_quiet_hours(time(22, 0), QUIET) and in_quiet_hours(time(7, 59), QUIET)
    assert not in_quiet_hours(time(8, 0), QUIET) and not in_quiet_hours(time(20, 59), QUIET)
    late = datetime(2026, 12, 1, 22, 30, tzinfo=TZ)
    assert after_quiet_hours(late, TZ, QUIET) == datetime(2026, 12, 2, 8, 0, tzinfo=TZ)
    early = datetime(2026, 12, 2, 6, 0, tzinfo=TZ)
    assert after_quiet_hours(early, TZ, QUIET) == datetime(2026, 12, 2, 8, 0, tzinfo=TZ)
    noon = datetime(2026, 12, 2, 12, 0, tzinfo=TZ)
    assert after_quiet_hours(noon, TZ, QUIET) == noon
    assert after_quiet_hours(late, TZ, None) == late
