"""WeCom's per-member limits (30 a minute, 1000 an hour per app; beyond them messages are
dropped silently) and its 2048-byte texts."""

from __future__ import annotations

from bot.wecom.sender import MemberWindows, utf8_size
from core.views import split_message


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


def test_split_by_bytes_keeps_lines_whole_and_cuts_a_giant_line() -> None:
    text = "\n".join(["一二三四五六七八九十" * 30] * 5)  # 900 bytes a line
    parts = split_message(text, 2048, utf8_size)
    assert [len(p.split("\n")) for p in parts] == [2, 2, 1]
    (cut,) = split_message("长" * 1000, 2048, utf8_size)
    assert utf8_size(cut) <= 2048 and cut == "长" * 682
