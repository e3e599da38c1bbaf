"""Tasks and people as phone-sized text: task lines, task cards, history, risk colours, buttons."""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Callable
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
from core.texts import plain as plain_text

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


def utf16_len(text: str) -> int:
    """Length as Telegram counts it (UTF-16 code units: an emoji counts two)."""
    return len(text.encode("utf-16-le")) // 2


Measure = Callable[[str], int]
_TAG = re.compile(r"<(/?)([a-zA-Z][\w-]*)[^>]*>")
_ATOM = re.compile(r"<[^>]*>|&#?\w+;|.", re.DOTALL)


@dataclass(frozen=True)
class Tag:
    name: str
    markup: str  # the opening tag as written, attributes and all


@dataclass(frozen=True)
class _Unit:
    text: str
    joiner: str  # what stands between this unit and the one before it in the same part


def split_message(
    text: str, limit: int = TELEGRAM_LIMIT, measure: Measure = utf16_len
) -> list[str]:
    """Split HTML into parts of at most `limit` (by `measure`: by default UTF-16 units, which is
    at least what Telegram counts after parsing). Parts break at line boundaries, and a task's
    lines (a line and the indented lines under it) stay together; only a block too long for one
    part is broken at its lines, and only a line too long for one part inside it, never inside a
    tag or an entity. A tag still open at a break is closed there and opened again in the next
    part, so every part is balanced HTML. `measure` must be additive over concatenation."""
    parts: list[str] = []
    pending = deque(_Unit(block, "\n") for block in _blocks(text))
    head: list[Tag] = []  # tags open at the start of the current part
    stack: list[Tag] = []  # tags open after its body
    body: list[str] = []
    size = 0
    while pending:
        unit = pending.popleft()
        if not body and not unit.text.strip():
            continue  # blank lines do not start a part
        after = _track(stack, unit.text)
        joiner = unit.joiner if body else ""
        grown = size + measure(joiner) + measure(unit.text)
        if measure(_opening(head)) + grown + measure(_closing(after)) <= limit:
            body += [joiner, unit.text]
            stack, size = after, grown
        elif body:
            parts.append(_opening(head) + "".join(body) + _closing(stack))
            head, body, size = list(stack), [], 0
            pending.appendleft(unit)
        elif (finer := _finer(unit)) is not None:
            pending.extendleft(reversed(finer))
        else:  # one tag or character longer than a part: nothing smaller to break it into
            body, stack, size = [unit.text], after, grown
    if body:
        parts.append(_opening(head) + "".join(body) + _closing(stack))
    return [part for part in parts if plain_text(part).strip()]


def _blocks(text: str) -> list[str]:
    blocks: list[str] = []
    for line in text.split("\n"):
        if blocks and line.startswith("    "):
            blocks[-1] += "\n" + line
        else:
            blocks.append(line)
    return blocks


def _finer(unit: _Unit) -> list[_Unit] | None:
    """A block as its lines, a line as its tags, entities and characters."""
    lines = unit.text.split("\n")
    if len(lines) > 1:
        return [_Unit(line, unit.joiner if i == 0 else "\n") for i, line in enumerate(lines)]
    atoms = _ATOM.findall(unit.text)
    if len(atoms) > 1:
        return [_Unit(atom, unit.joiner if i == 0 else "") for i, atom in enumerate(atoms)]
    return None


def _track(stack: list[Tag], text: str) -> list[Tag]:
    """The open tags after `text`, given those open before it."""
    opened = list(stack)
    for match in _TAG.finditer(text):
        name = match[2].lower()
        if not match[1]:
            opened.append(Tag(name, match[0]))
            continue
        for index in range(len(opened) - 1, -1, -1):
            if opened[index].name == name:
                del opened[index]
                break
    return opened


def _opening(stack: list[Tag]) -> str:
    return "".join(tag.markup for tag in stack)


def _closing(stack: list[Tag]) -> str:
    return "".join(f"</{tag.name}>" for tag in reversed(stack))


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
