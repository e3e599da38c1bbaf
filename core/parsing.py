"""Reading what people type: dates, percentages (also in Chinese numerals), status words,
task numbers, amounts, `|`-separated fields. Pure functions; errors are `InputError`s."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal, InvalidOperation
from zoneinfo import ZoneInfo

from core.enums import Status
from core.errors import InputError

MAX_TITLE = 200
MAX_NOTE = 1000
MAX_NAME = 64

_DIGITS = {"零": 0, "〇": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7,
           "八": 8, "九": 9}

STATUS_WORDS: dict[str, Status] = {
    "待启动": Status.NOT_STARTED, "未启动": Status.NOT_STARTED, "not_started": Status.NOT_STARTED,
    "准备中": Status.PREPARING, "准备": Status.PREPARING, "preparing": Status.PREPARING,
    "已提交": Status.SUBMITTED, "提交": Status.SUBMITTED, "submitted": Status.SUBMITTED,
    "已推荐": Status.RECOMMENDED, "推荐": Status.RECOMMENDED, "recommended": Status.RECOMMENDED,
    "已立项": Status.APPROVED, "立项": Status.APPROVED, "获批": Status.APPROVED,
    "approved": Status.APPROVED,
    "未获批": Status.REJECTED, "未立项": Status.REJECTED, "rejected": Status.REJECTED,
    "已撤销": Status.WITHDRAWN, "撤销": Status.WITHDRAWN, "withdrawn": Status.WITHDRAWN,
}
# Longest first, so that 未获批 is not read as 获批 and 已提交 not as 提交 inside free text.
_STATUS_PATTERN = re.compile(
    "|".join(re.escape(w) for w in sorted(STATUS_WORDS, key=len, reverse=True) if not w.isascii())
)


def normalize(text: str) -> str:
    """Full-width digits and letters to ASCII, trimmed: phones often type ２０２６／１２／２０."""
    return unicodedata.normalize("NFKC", text).strip()


def chinese_number(text: str) -> int | None:
    """十 → 10, 六十 → 60, 六十五 → 65, 一百 → 100, 百 → 100; None if not a numeral up to 100."""
    if not text or any(ch not in _DIGITS and ch not in "十百" for ch in text):
        return None
    if text in ("百", "一百"):
        return 100
    if "百" in text:
        return None
    if "十" not in text:
        return _DIGITS[text] if len(text) == 1 else None
    tens, _, ones = text.partition("十")
    if len(tens) > 1 or len(ones) > 1:
        return None
    return (_DIGITS[tens] if tens else 1) * 10 + (_DIGITS[ones] if ones else 0)


_PERCENT = re.compile(r"^(\d{1,3})\s*%?$")
_PERCENT_IN_TEXT = re.compile(r"(?<![\d.])(\d{1,3})\s*%|百分之([零〇一二两三四五六七八九十百]+)")


def parse_percent(token: str) -> int | None:
    """`60`, `60%`, `百分之六十` → 60. None if it is not a percentage at all; an error if it is one
    out of range."""
    token = normalize(token)
    match = _PERCENT.match(token)
    value = int(match[1]) if match else None
    if value is None and token.startswith("百分之"):
        value = chinese_number(token.removeprefix("百分之"))
    if value is None:
        return None
    if not 0 <= value <= 100:
        raise InputError("percent_range", value=token)
    return value


def find_percent(text: str) -> int | None:
    """A percentage mentioned anywhere in free text (`初稿完成，60%` or `完成百分之八十`)."""
    match = _PERCENT_IN_TEXT.search(normalize(text))
    if not match:
        return None
    value = int(match[1]) if match[1] else chinese_number(match[2])
    if value is None or not 0 <= value <= 100:
        raise InputError("percent_range", value=match[0])
    return value


def parse_status(token: str) -> Status | None:
    return STATUS_WORDS.get(normalize(token).lower())


def find_status(text: str) -> Status | None:
    match = _STATUS_PATTERN.search(text)
    return STATUS_WORDS[match[0]] if match else None


_TASK_REF = re.compile(r"^[#＃]?(\d{1,9})$")


def parse_task_ref(token: str) -> int | None:
    match = _TASK_REF.match(normalize(token))
    return int(match[1]) if match else None


def parse_amount(text: str, field: str) -> Decimal:
    """`50`, `50万`, `50万元`, `12.5` (万元) → Decimal; negative, huge or garbage is an error."""
    cleaned = normalize(text).removesuffix("元").removesuffix("万").replace(",", "").strip()
    try:
        value = Decimal(cleaned)
    except InvalidOperation:
        raise InputError("amount_invalid", field=field, value=text) from None
    if not value.is_finite() or value < 0 or value >= Decimal("1e10"):
        raise InputError("amount_invalid", field=field, value=text)
    return value.quantize(Decimal("0.01"))


def split_fields(text: str) -> list[str]:
    return [part.strip() for part in re.split(r"[|｜]", text)]


def check_text(value: str, field: str, limit: int) -> str:
    value = value.strip()
    if not value:
        raise InputError("text_empty", field=field)
    if len(value) > limit:
        raise InputError("text_too_long", field=field, limit=limit, length=len(value))
    return value


@dataclass(frozen=True)
class Due:
    """A parsed due moment (aware, local zone); `has_time` says whether the person gave a time."""

    at: datetime
    has_time: bool


_YMD = re.compile(r"^(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*[日号]?$")
_MD = re.compile(r"^(\d{1,2})\s*[月/-]\s*(\d{1,2})\s*[日号]?$")
_TIME = re.compile(r"^(?:(\d{1,2})[:：](\d{2})|(\d{1,2})\s*[点时](?:\s*(\d{1,2})\s*分?|半)?)$")
_RELATIVE = {"今天": 0, "明天": 1, "后天": 2, "today": 0, "tomorrow": 1}


def parse_due(text: str, today: date, tz: ZoneInfo, default_time: time) -> Due:
    """Dates as PRODUCT.md lists them (`2026-12-20`, `2026/12/20`, `12月20日`, `2026年12月20日`),
    optionally followed by a time (`17:00`, `17点`). A month-day without a year is its next
    occurrence, today included."""
    raw = text
    text = normalize(text)
    day_part, clock = _split_time(text)
    day = _parse_day(day_part, today, raw)
    at_time = default_time if clock is None else _parse_clock(clock, raw)
    return Due(at=datetime.combine(day, at_time, tzinfo=tz), has_time=clock is not None)


def _split_time(text: str) -> tuple[str, str | None]:
    parts = text.rsplit(" ", 1)
    if len(parts) == 2 and _TIME.match(parts[1].strip()):
        return parts[0].strip(), parts[1].strip()
    # 12月20日17点 without a space
    match = re.match(r"^(.*[日号])\s*(\d{1,2}\s*[点时:：].*)$", text)
    if match and _TIME.match(match[2]):
        return match[1], match[2]
    return text, None


def _parse_day(text: str, today: date, raw: str) -> date:
    if text.lower() in _RELATIVE:
        return today + timedelta(days=_RELATIVE[text.lower()])
    if match := _YMD.match(text):
        return _make_date(int(match[1]), int(match[2]), int(match[3]), raw)
    if match := _MD.match(text):
        month, day = int(match[1]), int(match[2])
        candidate = _make_date(today.year, month, day, raw, allow_feb29=True)
        if candidate < today:
            candidate = _make_date(today.year + 1, month, day, raw, allow_feb29=True)
        return candidate
    raise InputError("date_unreadable", value=raw)


def _make_date(year: int, month: int, day: int, raw: str, allow_feb29: bool = False) -> date:
    if allow_feb29 and (month, day) == (2, 29):
        # 2月29日 without a year: the next leap year's, not an error in a common year.
        while True:
            try:
                return date(year, 2, 29)
            except ValueError:
                year += 1
    if not 2000 <= year <= 2100:
        raise InputError("date_year", value=raw)
    try:
        return date(year, month, day)
    except ValueError:
        raise InputError("date_impossible", value=raw) from None


def _parse_clock(text: str, raw: str) -> time:
    match = _TIME.match(text)
    if not match:
        raise InputError("date_unreadable", value=raw)
    if match[1] is not None:
        hour, minute = int(match[1]), int(match[2])
    else:
        hour = int(match[3])
        minute = 30 if text.endswith("半") else int(match[4] or 0)
    if hour > 23 or minute > 59:
        raise InputError("date_impossible", value=raw)
    return time(hour, minute)
