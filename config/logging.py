"""Logging set-up with a filter that blots out every secret (tokens, AES keys, invite codes)."""

from __future__ import annotations

import logging
import re
import sys

_REDACTED = "***"
# Bot tokens also appear inside Bot API URLs that libraries may log; catch their shape too.
_TOKEN_SHAPE = re.compile(r"(?<!\d)\d{5,}:[A-Za-z0-9_-]{20,}")


class SecretFilter(logging.Filter):
    """Replaces known secret strings in each record's final message."""

    def __init__(self) -> None:
        super().__init__()
        self._secrets: set[str] = set()

    def add(self, *secrets: str) -> None:
        self._secrets.update(s for s in secrets if len(s) >= 4)

    def redact(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, _REDACTED)
        return _TOKEN_SHAPE.sub(_REDACTED, text)

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        record.msg, record.args = self.redact(message), None
        if record.exc_text:
            record.exc_text = self.redact(record.exc_text)
        return True


secret_filter = SecretFilter()


def setup_logging(level: str = "INFO", secrets: list[str] | None = None) -> None:
    secret_filter.add(*(secrets or []))
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(secret_filter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    logging.getLogger("aiogram.event").setLevel(max(logging.WARNING, root.level))
