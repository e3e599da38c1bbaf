"""Splitting long messages: every part within the limit as Telegram counts it, every part
balanced HTML that Telegram's parser accepts, no task's lines torn apart, nothing lost."""

from __future__ import annotations

import re
from datetime import UTC, timedelta
from html.parser import HTMLParser

from hypothesis import given, settings
from hypothesis import strategies as st

from core.dto import PersonRef, TaskView
from core.enums import Status
from core.texts import Html, plain
from core.views import Look, split_message, task_line, utf16_len
from tests.conftest import T0, TZ
from tests.fakes.telegram_text import parse_formatted

LOOK = Look("zh", TZ, T0.astimezone(UTC))
# Titles as people type them: Chinese, markup characters, emoji, long ones.
TITLE = st.text(alphabet=st.sampled_from(list("高新技术企业认定省重点研发计划<>&\"'🔴📌abc 12·")),
                min_size=1, max_size=200).filter(lambda s: s.strip())


def make_task(number: int, title: str, days: int, status: Status, blocked: bool) -> TaskView:
    return TaskView(
        id=number, title=title, enterprise="某某科技 & 合作社" if number % 3 else None,
        official=PersonRef(5, "李明"), leader=PersonRef(3, "张副局长"), guideline_id=None,
        guideline_name=None, funding_sought=None, funding_granted=None,
        due_at=LOOK.now + timedelta(days=days), status=status, progress=number % 101,
        blocked=blocked, blocked_reason="审计报告未出" if blocked else None,
        acknowledged_at=None, last_update_at=LOOK.now - timedelta(days=number % 12),
        created_at=LOOK.now - timedelta(days=30), snoozed_until=None, reminder_offsets=None,
    )


TASKS = st.lists(
    st.builds(make_task, st.integers(1, 9999), TITLE, st.integers(-30, 60),
              st.sampled_from(list(Status)), st.booleans()),
    min_size=1, max_size=120,
)


class Balance(HTMLParser):
    """Strict nesting: every tag closed, in order."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        assert self.stack and self.stack.pop() == tag, tag


def assert_well_formed(parts: list[str], limit: int) -> None:
    for part in parts:
        assert utf16_len(part) <= limit
        checker = Balance()
        checker.feed(part)
        checker.close()
        assert not checker.stack, part[-200:]
        assert not re.search(r"&[#\w]*$", part), "an entity was cut"
        parse_formatted(part, "HTML")  # what the fake Bot API (like Telegram) accepts
        assert plain(part).strip()


def words(text: str) -> str:
    return re.sub(r"\s+", "", plain(text))


def document(tasks: list[TaskView]) -> tuple[str, list[Html]]:
    """A summary-like text: headings, task blocks, and a <b> that spans several lines."""
    blocks = [task_line(LOOK, task, with_official=True) for task in tasks]
    lines = ["<b>📊 全局项目汇总</b>", "<b>🔴 逾期", "跨行的加粗</b>", ""]
    for index, block in enumerate(blocks):
        if index % 10 == 0:
            lines += ["", f"<b>第 {index // 10 + 1} 组</b>"]
        lines.append(block)
    return "\n".join(lines), blocks


@settings(max_examples=60, deadline=None)
@given(tasks=TASKS, limit=st.sampled_from([300, 700, 4096]))
def test_parts_fit_are_balanced_and_keep_task_lines_whole(
    tasks: list[TaskView], limit: int
) -> None:
    text, blocks = document(tasks)
    parts = split_message(text, limit)
    assert_well_formed(parts, limit)
    for block in blocks:
        assert any(block in part for part in parts), block
    assert words("".join(parts)) == words(text)


def test_a_long_summary_splits_under_telegrams_limit() -> None:
    tasks = [make_task(n, "省级工程技术研究中心认定及配套资金申报" * 5, n % 40 - 10,
                       Status.PREPARING, n % 4 == 0) for n in range(1, 301)]
    text, blocks = document(tasks)
    assert utf16_len(text) > 3 * 4096
    parts = split_message(text)
    assert len(parts) >= 4
    assert_well_formed(parts, 4096)
    assert all(any(block in part for part in parts) for block in blocks)


def test_a_tag_open_across_the_break_is_closed_and_reopened() -> None:
    text = "<blockquote>" + "\n".join(f"第{n}行" for n in range(400)) + "</blockquote>"
    parts = split_message(text, 200)
    assert len(parts) > 5
    assert all(p.startswith("<blockquote>") and p.endswith("</blockquote>") for p in parts)
    assert_well_formed(parts, 200)


def test_a_line_longer_than_a_part_breaks_between_characters_never_in_a_tag() -> None:
    line = "".join(f'<a href="https://example.gov.cn/{n}">链接{n}</a> &amp; 说明'
                   for n in range(300))
    parts = split_message(line, 500)
    assert_well_formed(parts, 500)
    assert words("".join(parts)) == words(line)


def test_emoji_count_twice_as_telegram_counts_them() -> None:
    text = "\n".join("🔴" * 50 for _ in range(100))
    parts = split_message(text)
    assert all(utf16_len(p) <= 4096 for p in parts)
    assert len(parts) == 3  # 100 × 101 UTF-16 units do not fit in two parts


def test_short_text_is_one_part_and_blank_edges_are_dropped() -> None:
    assert split_message("一行\n\n两行") == ["一行\n\n两行"]
    assert split_message("\n\n") == []
