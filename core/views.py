"""Tasks and people as phone-sized text: task lines, task cards, history, risk colours, buttons."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from html import escape
from zoneinfo import ZoneInfo

from core.dto import GuidelineView, PersonView, TaskDetail, TaskView, UpdateView
from core.enums import Role, Status
from core.permissions import can_update
from core.replies import Action, Button
from core.texts import Html, join, t

TELEGRAM_LIMIT = 4096


@dataclass(frozen=True)
class Look:
    """Everything rendering needs besides the data: language, zone, the current moment."""

    lang: str
    tz: ZoneInfo
    now: datetime
    stale_days: int = 7

    @property
    def today(self) -> datetime:
        return self.now.astimezone(self.tz)


def fmt_date(look: Look, at: datetime, with_time: bool = False) -> str:
    local = at.astimezone(look.tz)
    key = "date_time_format" if with_time else "date_format"
    weekday = t(look.lang, "weekday")[local.weekday()]
    text = t(look.lang, key, month=local.month, day=local.day, hour=local.hour, minute=local.minute)
    if local.year != look.today.year:
        text = Html(f"{local.year}-{text}" if look.lang == "en" else f"{local.year}年{text}")
    return f"{text}({weekday})" if look.lang == "en" else f"{text}（周{weekday}）"


def days_left(look: Look, due: datetime) -> int:
    return (due.astimezone(look.tz).date() - look.today.date()).days


def due_phrase(look: Look, due: datetime) -> Html:
    days = days_left(look, due)
    if days < 0:
        return t(look.lang, "due_overdue", days=-days)
    if days == 0:
        return t(look.lang, "due_today")
    return t(look.lang, "due_days_left", days=days)


def risk(look: Look, task: TaskView) -> str:
    """三色: 🔴 overdue, or due within 3 days and not submitted; 🟡 due within 7 days, or no
    update for `stale_days`; 🟢 otherwise. Closed tasks: ✅ approved, ⚪ others."""
    if task.closed:
        return "✅" if task.status == Status.APPROVED else "⚪"
    submitted = task.status.submitted_or_later
    days = days_left(look, task.due_at)
    if not submitted and (task.due_at <= look.now or days <= 3):
        return "🔴"
    stale = look.now - task.last_update_at >= timedelta(days=look.stale_days)
    if (not submitted and days <= 7) or stale:
        return "🟡"
    return "🟢"


def status_label(lang: str, status: Status) -> Html:
    return t(lang, f"status.{status.value}")


def roles_text(lang: str, roles: frozenset[Role]) -> Html:
    ordered = [r for r in Role if r in roles]
    return join(lang, [t(lang, f"role.{r.value}") for r in ordered])


def shows_time(look: Look, at: datetime, default_hour: int = 18) -> bool:
    local = at.astimezone(look.tz)
    return (local.hour, local.minute) != (default_hour, 0)


def task_line(look: Look, task: TaskView, with_official: bool) -> Html:
    """Two lines: colour, number, title (enterprise); due, days left, status, %, official."""
    title = task.title + (f" · {task.enterprise}" if task.enterprise else "")
    first = Html(f"{risk(look, task)} <b>#{task.id}</b> {escape(title)}")
    parts = [
        f"{fmt_date(look, task.due_at)} {due_phrase(look, task.due_at)}",
        f"{status_label(look.lang, task.status)} {task.progress}%",
    ]
    if task.blocked:
        parts.append(t(look.lang, "blocked_mark"))
    if with_official:
        parts.append(escape(task.official.name))
    return Html(first + "\n    " + " · ".join(parts))


def task_card(look: Look, task: TaskView) -> Html:
    lang = look.lang
    lines = [t(lang, "task_card_title", task_id=task.id, title=task.title)]
    if task.enterprise:
        lines.append(t(lang, "card.enterprise", value=task.enterprise))
    if task.guideline_name:
        lines.append(t(lang, "card.guideline", value=task.guideline_name))
    lines.append(t(lang, "card.official", value=task.official.name))
    if task.leader:
        lines.append(t(lang, "card.leader", value=task.leader.name))
    due = fmt_date(look, task.due_at, with_time=shows_time(look, task.due_at))
    lines.append(t(lang, "card.due", value=due, left=due_phrase(look, task.due_at)))
    lines.append(t(lang, "card.status", risk=risk(look, task),
                   status=status_label(lang, task.status), progress=task.progress))
    if task.funding_sought is not None:
        lines.append(t(lang, "card.funding", sought=_amount(task.funding_sought)))
    if task.funding_granted is not None:
        lines.append(t(lang, "card.granted", granted=_amount(task.funding_granted)))
    if task.blocked and task.blocked_reason:
        lines.append(t(lang, "card.blocked", value=task.blocked_reason))
    return Html("\n".join(lines))


def task_detail(look: Look, detail: TaskDetail) -> Html:
    lines = [task_card(look, detail.task), "", t(look.lang, "card.history")]
    if not detail.history:
        lines.append(t(look.lang, "card.no_history"))
    lines.extend(history_line(look, u) for u in detail.history)
    return Html("\n".join(lines))


def history_line(look: Look, update: UpdateView) -> Html:
    when = fmt_date(look, update.created_at, with_time=True)
    what = t(look.lang, f"history.{update.kind}", progress=update.progress,
             status=status_label(look.lang, update.status) if update.status else "")
    if update.kind == "progress" and update.progress is None:
        what = t(look.lang, "history.note")
    note = f"：{escape(update.note)}" if update.note else ""
    author = escape(update.author or "督办")
    return Html(f"• {when} {author} {what}{note}")


def task_buttons(lang: str, task: TaskView, person: PersonView) -> tuple[tuple[Button, ...], ...]:
    """The one-tap updates, offered only to whoever may make them (checked again on press)."""
    if task.closed or not can_update(person, task):
        return ()
    first = []
    if task.acknowledged_at is None:
        first.append(Button(t(lang, "button.ack"), Action("ack", task.id)))
    first.append(Button(t(lang, "button.submitted"), Action("status", task.id, "submitted")))
    return (
        tuple(first),
        (
            Button(t(lang, "button.minus"), Action("step", task.id, "-10")),
            Button(t(lang, "button.plus"), Action("step", task.id, "10")),
        ),
        (
            Button(t(lang, "button.progress"), Action("prog", task.id)),
            Button(t(lang, "button.blocked"), Action("block", task.id)),
        ),
    )


def progress_picker(lang: str, task: TaskView) -> tuple[tuple[Button, ...], ...]:
    percents = tuple(Button(f"{p}%", Action("pct", task.id, str(p))) for p in (20, 40, 60, 80, 100))
    statuses = tuple(
        Button(status_label(lang, s), Action("status", task.id, s.value))
        for s in (Status.SUBMITTED, Status.RECOMMENDED, Status.APPROVED)
    )
    return (percents, statuses)


def split_message(text: str, limit: int = TELEGRAM_LIMIT) -> list[str]:
    """Split at line boundaries so no part exceeds `limit`; a task's two lines stay together
    because continuation lines (indented) never start a part."""
    parts: list[str] = []
    current: list[str] = []
    size = 0
    for block in _blocks(text):
        if current and size + len(block) + 1 > limit:
            parts.append("\n".join(current))
            current, size = [], 0
        current.append(block[:limit])
        size += len(block) + 1
    if current:
        parts.append("\n".join(current))
    return parts


def _blocks(text: str) -> list[str]:
    blocks: list[str] = []
    for line in text.split("\n"):
        if blocks and line.startswith("    "):
            blocks[-1] += "\n" + line
        else:
            blocks.append(line)
    return blocks


def _amount(value: Decimal) -> str:
    return f"{value.normalize():f}"



def guideline_card(look: Look, guideline: GuidelineView, indent: str = "") -> Html:
    """Name; level and department; opening; official and internal deadline; link. With an
    `indent`, the lines after the first stay with it when a long list is split."""
    lang = look.lang
    lines: list[str] = [t(lang, "guideline.title", name=guideline.name)]
    about: list[str] = [t(lang, f"level.{guideline.level}")] if guideline.level else []
    about += [escape(guideline.department)] if guideline.department else []
    if about:
        lines.append(" · ".join(about))
    if guideline.opens_at is not None:
        lines.append(t(lang, "guideline.opens", date=_moment(look, guideline.opens_at, 0)))
    for key, at in (("guideline.deadline", guideline.deadline_at),
                    ("guideline.internal", guideline.internal_due_at)):
        lines.append(t(lang, key, date=_moment(look, at), left=due_phrase(look, at)))
    if guideline.link:
        lines.append(t(lang, "guideline.link", link=guideline.link))
    return Html(f"\n{indent}".join(lines))


def _moment(look: Look, at: datetime, default_hour: int = 18) -> str:
    return fmt_date(look, at, with_time=shows_time(look, at, default_hour))
