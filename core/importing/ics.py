"""Guideline calendars in iCalendar (RFC 5545), parsed by the icalendar library: time zones
(VTIMEZONE/TZID, UTC, floating times as local), all-day events, folded lines, escaped text.

One VEVENT is one guideline: SUMMARY its name, UID its key. An event lasting a day or more is
the application window (DTSTART opens, DTEND is the deadline; an all-day event's last day at
DUBAN_DUE_TIME); a shorter one marks the deadline at its start. A yearly programme (RRULE)
becomes its next occurrence whose deadline is still ahead, keyed by UID and year; an occurrence
moved in the calendar (RECURRENCE-ID) replaces it. CATEGORIES give the level (国家/省/市/县),
ORGANIZER's CN the department, URL (or the first link in DESCRIPTION) the link. Alarms and
cancelled events are ignored."""

from __future__ import annotations

import logging
import re
from datetime import date, datetime, time, timedelta

import icalendar
from dateutil.rrule import rrulestr

from core.errors import InputError, about
from core.guidelines import GuidelineRecord, guideline_record, parse_level
from core.importing.problems import Problem
from core.importing.rows import Entry, Reading

log = logging.getLogger(__name__)
# The .ics property a record's field comes from, to name it in an error.
PROPERTIES = {"guideline": "SUMMARY", "opens": "DTSTART", "deadline": "DTEND", "link": "URL",
              "department": "ORGANIZER", "key": "UID", "level": "CATEGORIES"}
_URL = re.compile(r"https?://[^\s<>\"']+")
_TIMES = ("DTSTART", "DTEND", "DURATION", "RRULE", "RECURRENCE-ID")
# Properties RFC 5545 allows once per event; icalendar gives a list when one is repeated.
_ONCE = ("UID", "SUMMARY", "DTSTART", "DTEND", "DURATION", "RECURRENCE-ID", "URL", "ORGANIZER",
         "DESCRIPTION", "STATUS")
EXAMPLES = {"DTSTART": "20270315T170000 / 20270315", "RRULE": "FREQ=YEARLY",
            "DURATION": "P30D / PT2H"}


def read_ics(data: bytes, reading: Reading) -> tuple[list[Entry[GuidelineRecord]], list[Problem]]:
    try:
        calendar = icalendar.Calendar.from_ical(data)
    except Exception as error:  # icalendar raises more than ValueError on a mangled structure
        log.debug("not a readable .ics: %r", error)
        raise InputError("import_unreadable", format="iCalendar (.ics)") from None
    lines = _event_lines(data)
    masters: dict[str, Entry[GuidelineRecord]] = {}
    moved: list[Entry[GuidelineRecord]] = []
    problems: list[Problem] = []
    events = [e for e in calendar.walk("VEVENT") if isinstance(e, icalendar.Event)]
    for index, event in enumerate(events):
        line = lines[index] if index < len(lines) else None
        if str(event.get("STATUS", "")).upper() == "CANCELLED":
            continue
        try:
            record = _record(event, reading)
        except InputError as error:
            column = error.values.get("property") or PROPERTIES.get(error.field or "")
            problems.append(Problem(line, error, column, event=True))
            continue
        entry = Entry(line or 0, record)
        if "RECURRENCE-ID" in event:
            moved.append(entry)
        elif record.key in masters:
            first = masters[record.key].row
            problems.append(Problem(line, InputError("duplicate_row", row=first,
                                                     what=record.key), "UID", event=True))
        else:
            masters[record.key] = entry
    for entry in moved:  # an occurrence moved in the calendar app replaces the rule's one
        masters[entry.record.key] = entry
    return list(masters.values()), problems


def _event_lines(data: bytes) -> list[int]:
    """The line each VEVENT begins on, as an editor shows the file (folded lines counted)."""
    text = data.decode("utf-8-sig", errors="replace")
    return [n for n, line in enumerate(text.splitlines(), start=1)
            if line.strip().upper() == "BEGIN:VEVENT"]


def _record(event: icalendar.Event, reading: Reading) -> GuidelineRecord:
    repeated = next((name for name in _ONCE if isinstance(event.get(name), list)), None)
    if repeated is not None:
        raise InputError("ics_repeated", property=repeated)
    for name, _ in event.errors:
        if name in _TIMES:
            field = "opens" if name in ("DTSTART", "RRULE") else "deadline"
            raise InputError("ics_value", field=field, property=name, value=str(event[name]),
                             example=EXAMPLES.get(name, EXAMPLES["DTSTART"]))
    with about("opens"):
        if "DTSTART" not in event:
            raise InputError("ics_missing", property="DTSTART")
    opens, deadline = _window(event, reading)
    uid = str(event.get("UID", "")).strip() or None
    if event.rrules:
        with about("opens"):
            shift = _next_occurrence(event, deadline, reading)
        opens = opens + shift if opens else None
        deadline += shift
        uid = f"{uid}|{(opens or deadline).astimezone(reading.tz).year}" if uid else None
    elif "RECURRENCE-ID" in event and uid:
        recurrence = _local(_when(event, "RECURRENCE-ID"), reading, time())
        uid = f"{uid}|{recurrence.astimezone(reading.tz).year}"
    description = str(event.get("DESCRIPTION", "")) or None
    url = str(event.get("URL", "")) or None
    if url is None and description and (found := _URL.search(description)):
        url = found[0]
    organizer = event.get("ORGANIZER")
    return guideline_record(
        name=str(event.get("SUMMARY", "")), deadline_at=deadline, tz=reading.tz,
        opens_at=opens, level=_level(event), key=uid, link=url, description=description,
        department=str(organizer.params.get("CN", "")) or None if organizer else None,
    )


def _when(event: icalendar.Event, name: str) -> date:
    """A property that must be a date or a time (icalendar reads `P1D` there as a duration)."""
    value = event.decoded(name)
    if not isinstance(value, date):
        written = event[name].to_ical()
        raise InputError("ics_value", property=name, example=EXAMPLES["DTSTART"],
                         value=written.decode() if isinstance(written, bytes) else str(written))
    return value


def _window(event: icalendar.Event, reading: Reading) -> tuple[datetime | None, datetime]:
    try:
        start, end = event.start, event.end
    except ValueError:  # DTSTART a date, DTEND a time (or the other way round)
        raise InputError("ics_window", field="deadline",
                         property="DURATION" if "DURATION" in event else "DTEND") from None
    start_at, end_at = _local(start, reading, time()), _local(end, reading, time())
    if end_at < start_at:
        shown = "%Y-%m-%d %H:%M" if isinstance(start, datetime) else "%Y-%m-%d"
        raise InputError("opens_after_deadline", field="deadline",
                         opens=start_at.astimezone(reading.tz).strftime(shown),
                         deadline=end_at.astimezone(reading.tz).strftime(shown))
    if not isinstance(start, datetime):  # all-day: DTEND is the day after the last one
        last = max(start, end - timedelta(days=1))
        opens = start_at if last > start else None
        return opens, _local(last, reading, reading.due_time)
    if end_at - start_at >= timedelta(days=1):
        return start_at, end_at
    return None, start_at


def _local(value: date, reading: Reading, default_time: time) -> datetime:
    """All-day dates at `default_time`, floating times in the local zone, zoned times as they
    are (shown in local time later)."""
    if not isinstance(value, datetime):
        return datetime.combine(value, default_time, tzinfo=reading.tz)
    return value if value.tzinfo else value.replace(tzinfo=reading.tz)


def _next_occurrence(event: icalendar.Event, deadline: datetime, reading: Reading) -> timedelta:
    """How far the first occurrence whose deadline is still ahead lies from the event's own
    (the last occurrence when the rule has ended: a past programme)."""
    start = event.start
    first = start if isinstance(start, datetime) else datetime.combine(start, time())
    rule_text = event.rrules[0].to_ical().decode()
    try:
        rule = rrulestr(rule_text, dtstart=first)
    except (ValueError, TypeError):
        raise InputError("ics_value", property="RRULE", value=rule_text,
                         example=EXAMPLES["RRULE"]) from None
    # An occurrence starting after this moment has its deadline still ahead.
    since = reading.now - (deadline - _local(start, reading, time()))
    since = (since.astimezone(first.tzinfo) if first.tzinfo
             else since.astimezone(reading.tz).replace(tzinfo=None))
    occurrence: datetime | None = rule.after(since) or rule.before(since, inc=True)
    if occurrence is None:
        raise InputError("ics_value", property="RRULE", value=rule_text,
                         example=EXAMPLES["RRULE"])
    return occurrence - first


def _level(event: icalendar.Event) -> str | None:
    """The first category that names a level; other categories are the calendar's own."""
    for word in _categories(event):
        try:
            return parse_level(word)
        except InputError:
            continue
    return None


def _categories(event: icalendar.Event) -> list[str]:
    found = event.get("CATEGORIES")
    if found is None:
        return []
    groups = found if isinstance(found, list) else [found]
    return [str(word) for group in groups for word in getattr(group, "cats", [])]
