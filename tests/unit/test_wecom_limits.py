"""WeCom's per-member limits (30 a minute, 1000 an hour per app; beyond them messages are
dropped silently) and its 2048-byte texts."""

from __future__ import annotations

from bot.wecom.sender import TEXT_LIMIT, MemberWindows, text_parts, utf8_size


class Ticks:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_thirty_a_minute_then_wait_for_the_oldest_to_age() -> None:
    ticks = Ticks()
    windows = MemberWindows(ticks)
    for _ in range(30):
        assert windows.wait("liming") == 0
        windows.record("liming")
        ticks.now += 0.5
    assert windows.wait("liming") == 60 - 15  # the first was sent 15 s ago
    assert windows.wait("sunli") == 0


def test_a_thousand_an_hour_even_when_each_minute_is_fine() -> None:
    ticks = Ticks()
    windows = MemberWindows(ticks)
    for _ in range(1000):
        assert windows.wait("liming") < 1e-9
        windows.record("liming")
        ticks.now += 2.5
    assert windows.wait("liming") == 3600 - 2500


def test_split_by_bytes_keeps_lines_whole_and_breaks_a_giant_line() -> None:
    text = "\n".join(["一二三四五六七八九十" * 30] * 5)  # 900 bytes a line
    parts = text_parts(text)
    assert [len(p.split("\n")) for p in parts] == [2, 2, 1]
    parts = text_parts("长" * 1000)
    assert [utf8_size(p) for p in parts] == [682 * 3, 318 * 3]
    assert "".join(parts) == "长" * 1000


def test_plain_text_is_measured_not_the_markup() -> None:
    line = "<b>" + "一" * 600 + "</b> &lt;注&gt;"  # 1806 bytes as shown
    (part,) = text_parts(line)
    assert part == "一" * 600 + " <注>" and utf8_size(part) <= TEXT_LIMIT
    parts = text_parts("\n".join([line] * 3))
    assert len(parts) == 3 and all("<b>" not in p for p in parts)


def test_a_message_in_several_parts_waits_until_all_of_them_fit() -> None:
    ticks = Ticks()
    windows = MemberWindows(ticks)
    for _ in range(28):
        windows.record("liming")
        ticks.now += 1
    assert windows.wait("liming", 2) == 0
    assert windows.wait("liming", 3) == 1000 + 60 - 1028  # the first must leave the minute
    assert windows.wait("liming", 40) == 1027 + 60 - 1028  # more than a minute holds: all
