"""When a message may go out: quiet hours in local time, working days with 调休."""

from __future__ import annotations

import logging
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import chinese_calendar

log = logging.getLogger(__name__)


def in_quiet_hours(local: time, quiet: tuple[time, time] | None) -> bool:
    if quiet is None:
        return False
    start, end = quiet
    if start <= end:
        return start <= local < end
    return local >= start or local < end  # the window spans midnight


def after_quiet_hours(at: datetime, tz: ZoneInfo, quiet: tuple[time, time] | None) -> datetime:
    """`at` itself when it is outside quiet hours, else the moment quiet hours end."""
    local = at.astimezone(tz)
    if quiet is None or not in_quiet_hours(local.time(), quiet):
        return at
    end = datetime.combine(local.date(), quiet[1], tzinfo=tz)
    if end <= local:
        end = datetime.combine(local.date() + timedelta(days=1), quiet[1], tzinfo=tz)
    return end


class WorkCalendar:
    """Working days: Chinese public holidays and adjusted working days (调休) from the
    chinese_calendar package; a year it has no data for falls back to Monday–Friday, with one
    warning in the log per year. `workdays_only=False` makes every day a working day."""

    def __init__(self, workdays_only: bool = True) -> None:
        self.workdays_only = workdays_only
        self._warned: set[int] = set()
        # Remembered: chinese_calendar scans its whole table on every call, and planning asks
        # about the same few hundred days for thousands of tasks.
        self._known: dict[date, bool] = {}

    def is_workday(self, day: date) -> bool:
        if not self.workdays_only:
            return True
        known = self._known.get(day)
        if known is None:
            known = self._known[day] = self._look_up(day)
        return known

    def _look_up(self, day: date) -> bool:
        try:
            return bool(chinese_calendar.is_workday(day))
        except NotImplementedError:
            if day.year not in self._warned:
                self._warned.add(day.year)
                log.warning("no Chinese holiday data for %d: counting Monday–Friday as working "
                            "days (upgrade chinesecalendar when the State Council publishes it)",
                            day.year)
            return day.weekday() < 5

    def on_or_before(self, day: date) -> date:
        """`day` if it is a working day, else the working day before it (never later)."""
        while not self.is_workday(day):
            day -= timedelta(days=1)
        return day

    def workdays_before(self, day: date, count: int) -> date:
        """The working day `count` working days before `day` (5 → a working week earlier)."""
        while count > 0:
            day -= timedelta(days=1)
            if self.is_workday(day):
                count -= 1
        return day
