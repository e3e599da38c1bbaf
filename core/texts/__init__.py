"""User-facing texts in Chinese (default) and English, looked up by key.

`zh.py`/`en.py` hold the core conversation's texts; a feature keeps its own in a module of this
package with `ZH` and `EN` dicts, listed in `FEATURES`. Templates are HTML in Telegram's subset;
every value filled in is escaped unless it is `Html` (already-rendered markup such as a card)."""

from __future__ import annotations

import html
import re
from types import ModuleType
from typing import Any

from core.texts import channels, en, guidelines, reminders, summary, zh

FEATURES: list[ModuleType] = [guidelines, summary, channels, reminders]


def _catalog(base: dict[str, str], attribute: str) -> dict[str, str]:
    merged = dict(base)
    for feature in FEATURES:
        merged.update(getattr(feature, attribute))
    return merged


CATALOGS: dict[str, dict[str, str]] = {
    "zh": _catalog(zh.TEXTS, "ZH"),
    "en": _catalog(en.TEXTS, "EN"),
}
LANGUAGES = tuple(CATALOGS)


class Html(str):
    """Markup that is already safe; `t()` inserts it as it is."""

    __slots__ = ()


def t(lang: str, key: str, **values: Any) -> Html:
    catalog = CATALOGS.get(lang, CATALOGS["zh"])
    template = catalog.get(key) or CATALOGS["zh"][key]
    safe = {k: v if isinstance(v, Html) else _escape(v) for k, v in values.items()}
    return Html(template.format(**safe))


def _escape(value: Any) -> Any:
    return html.escape(value, quote=False) if isinstance(value, str) else value


def join(lang: str, parts: list[str]) -> Html:
    separator = t(lang, "list_separator")
    return Html(separator.join(p if isinstance(p, Html) else _escape(p) for p in parts))


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
