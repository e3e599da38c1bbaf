"""Both languages say everything, with the same placeholders, in HTML Telegram accepts."""

from __future__ import annotations

import re
import string
from html.parser import HTMLParser

import pytest

from core.texts import CATALOGS

ALLOWED_TAGS = {"b", "i", "u", "s", "code", "pre", "a", "blockquote"}


def placeholders(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


def test_same_keys_in_every_language() -> None:
    assert set(CATALOGS["zh"]) == set(CATALOGS["en"])


@pytest.mark.parametrize("key", sorted(CATALOGS["zh"]))
def test_same_placeholders(key: str) -> None:
    assert placeholders(CATALOGS["zh"][key]) == placeholders(CATALOGS["en"][key])


class _TagChecker(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        assert tag in ALLOWED_TAGS, tag
        self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        assert self.stack and self.stack.pop() == tag, tag


@pytest.mark.parametrize("lang", sorted(CATALOGS))
def test_templates_are_balanced_telegram_html(lang: str) -> None:
    for key, template in CATALOGS[lang].items():
        checker = _TagChecker()
        checker.feed(re.sub(r"\{[^}]*\}", "x", template))
        assert not checker.stack, key
