"""A summary worded for a phone: the most urgent first, one task per block, HTML (Telegram's
subset) in the reader's language. Long ones are split by `core.views.split_message`."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from decimal import Decimal
from html import escape

from core.dto import TaskView
from core.enums import Status
from core.summary.data import SOON_DAYS, Change, LeaderLine, Silent, Summary
from core.targets import COMPUTED_UNITS, Progress
from core.texts import Html, join, t
from core.views import Look, fmt_date, status_label, task_line

INDENT = "    "


def amount_text(value: Decimal) -> str:
    """1280 → 1,280; 12.50 → 12.5."""
    return f"{value:,.2f}".rstrip("0").rstrip(".")


def scope_text(lang: str, summary: Summary) -> Html:
    if summary.leader is None:
        return t(lang, "summary_scope_all")
    return t(lang, "summary_scope_leader", name=summary.leader.name)


def summary_html(look: Look, summary: Summary) -> Html:
    lang = look.lang
    header = t(lang, "summary_header", scope=scope_text(lang, summary),
               date=fmt_date(look, summary.now))
    if not summary.counts:
        return Html(f"{header}\n{t(lang, 'summary_none')}")
    risks = summary.risks
    lines: list[str] = [
        header,
        t(lang, "summary_risks", open=summary.open, red=risks["🔴"], yellow=risks["🟡"],
          green=risks["🟢"]),
        Html(" · ".join(f"{status_label(lang, s)} {n}" for s, n in summary.counts.items())),
    ]
    for key, tasks in (("summary_overdue", summary.overdue), ("summary_blocked", summary.blocked),
                       ("summary_due_soon", summary.due_soon)):
        if tasks:
            lines += ["", t(lang, key, count=len(tasks), days=SOON_DAYS)]
            lines += [_task_block(look, task) for task in tasks]
    if summary.silent:
        lines += ["", t(lang, "summary_silent", days=look.stale_days)]
        lines += [_silent_line(look, silent) for silent in summary.silent]
    if summary.leader is None and summary.leaders:
        lines += ["", t(lang, "summary_leaders")]
        lines += [_leader_line(look, line) for line in summary.leaders]
    lines += ["", t(lang, "summary_changes"), *_changes(look, summary.changes)]
    lines += ["", *_targets(look, summary)]
    return Html("\n".join(lines))


def _task_block(look: Look, task: TaskView) -> Html:
    block = task_line(look, task, with_official=True)
    if task.blocked and task.blocked_reason:
        block = Html(f"{block}\n{INDENT}⛔ {escape(task.blocked_reason)}")
    return block


def _until(look: Look, until: datetime) -> Html:
    local = until.astimezone(look.tz)
    day = t(look.lang, "date_format", month=local.month, day=local.day)
    return t(look.lang, "summary_away", until=day)


def _silent_line(look: Look, silent: Silent) -> Html:
    tasks = join(look.lang, [t(look.lang, "summary_silent_task", task_id=task_id, days=days)
                             for task_id, days in silent.tasks])
    away = _until(look, silent.away_until) if silent.away_until else ""
    return t(look.lang, "summary_silent_line", name=silent.official.name, away=Html(away),
             tasks=tasks)


def _leader_line(look: Look, line: LeaderLine) -> Html:
    lang = look.lang
    name = escape(line.leader.name) if line.leader else t(lang, "summary_no_leader")
    extra = []
    if line.away_until:
        name = Html(name + _until(look, line.away_until))
    if line.overdue:
        extra.append(t(lang, "summary_leader_overdue", count=line.overdue))
    if line.blocked:
        extra.append(t(lang, "summary_leader_blocked", count=line.blocked))
    if line.tally.approved:
        extra.append(t(lang, "summary_leader_won", count=line.tally.approved,
                       amount=amount_text(line.tally.won)))
    risks = line.risks
    return t(lang, "summary_leader_line", name=Html(name), open=line.open, red=risks["🔴"],
             yellow=risks["🟡"], green=risks["🟢"], extra=Html("".join(extra)))


def _changes(look: Look, changes: tuple[Change, ...]) -> list[str]:
    lang = look.lang
    if not changes:
        return [t(lang, "summary_no_changes")]
    by_kind: dict[str, list[Change]] = defaultdict(list)
    for change in changes:
        by_kind[change.kind].append(change)
    blocks: list[str] = []
    for kind, group in by_kind.items():
        amounts = [c.amount for c in group if c.amount is not None]
        total = ""
        if amounts and kind != Status.REJECTED:
            total = t(lang, f"summary_change_total.{kind}",
                      amount=amount_text(sum(amounts, Decimal(0))))
        lines = [t(lang, f"summary_change.{kind}", count=len(group), total=Html(total))]
        for change in group:
            amount = (t(lang, "summary_change_amount", amount=amount_text(change.amount))
                      if change.amount is not None else "")
            lines.append(Html(INDENT + t(lang, "summary_change_item", task_id=change.task.id,
                                         title=change.task.title, amount=Html(amount))))
        blocks.append(Html("\n".join(lines)))
    return blocks


def _targets(look: Look, summary: Summary) -> list[str]:
    lang = look.lang
    tally = summary.tally
    scope = "summary_funding_all" if summary.leader is None else "summary_funding_leader"
    heading = "summary_targets_all" if summary.leader is None else "summary_targets_bureau"
    lines: list[str] = [t(lang, heading, year=summary.year)]
    lines += [target_line(lang, progress) for progress in summary.targets]
    if not summary.targets:
        lines.append(t(lang, "summary_no_targets"))
    lines.append(t(lang, scope, sought=amount_text(tally.sought), won=amount_text(tally.won),
                   approved=tally.approved))
    return lines


def metric_label(lang: str, metric: str) -> str:
    return t(lang, f"target.{metric}") if metric in COMPUTED_UNITS else metric


def target_label(lang: str, progress: Progress) -> str:
    return metric_label(lang, progress.metric)


def unit_label(lang: str, progress: Progress) -> str:
    return t(lang, f"unit.{progress.metric}") if progress.computed else ""


def target_line(lang: str, progress: Progress) -> Html:
    unit = unit_label(lang, progress)
    label = target_label(lang, progress)
    if progress.actual is None:
        return t(lang, "target_line_unknown", label=label, target=amount_text(progress.target),
                 unit=Html(unit))
    return t(lang, "target_line", label=label, actual=amount_text(progress.actual),
             target=amount_text(progress.target), unit=Html(unit), percent=progress.percent)
