"""When a message may go out: quiet hours in local time."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo


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
