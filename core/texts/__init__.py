"""User-facing texts in Chinese (default) and English, looked up by key.

Templates are HTML in Telegram's subset; every value filled in is escaped unless it is `Html`
(already-rendered markup such as a task card)."""

from __future__ import annotations

import html
import re
from typing import Any

from core.texts import en, zh

CATALOGS: dict[str, dict[str, str]] = {"zh": zh.TEXTS, "en": en.TEXTS}
LANGUAGES = tuple(CATALOGS)


class Html(str):
    """Markup that is already safe; `t()` inserts it as it is."""

    __slots__ = ()


def t(lang: str, key: str, **values: Any) -> Html:
    catalog = CATALOGS.get(lang, zh.TEXTS)
    template = catalog.get(key) or zh.TEXTS[key]
    safe = {k: v if isinstance(v, Html) else _escape(v) for k, v in values.items()}
    return Html(template.format(**safe))


def _escape(value: Any) -> Any:
    return html.escape(value, quote=False) if isinstance(value, str) else value


def join(lang: str, parts: list[str]) -> Html:
    return Html(t(lang, "list_separator").join(p if isinstance(p, Html) else _escape(p) for p in parts))


def language_of(language_code: str | None, default: str) -> str:
    """A chat client's language code (`en-US`, `zh-hans`) mapped to one we have."""
    if language_code and language_code.lower().startswith("en"):
        return "en"
    if language_code and language_code.lower().startswith("zh"):
        return "zh"
    return default


_TAG = re.compile(r"<[^>]+>")


def plain(text: str) -> str:
    """The HTML subset as plain text, for channels and places that show no markup."""
    return html.unescape(_TAG.sub("", text))
