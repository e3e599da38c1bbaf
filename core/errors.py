"""Domain errors. Each carries a text key and its values; the caller's language words it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


class DubanError(Exception):
    """An expected refusal or bad input; nothing was changed. Shown to the person, never logged
    as a failure."""

    def __init__(self, key: str, **values: Any) -> None:
        super().__init__(key)
        self.key = key
        self.values = values


class InputError(DubanError):
    """What the person typed or sent cannot be used (wrong date, unknown person, too long...)."""

    @property
    def field(self) -> str | None:
        """The field that was wrong, so an import can point at the column of the row."""
        return self.values.get("field") or None


class NotAllowed(DubanError):
    """The person's roles do not allow this."""


class NotFound(DubanError):
    """No such task, person or invite (or one the person may not see: same answer, no leak)."""


@contextmanager
def about(field: str) -> Iterator[None]:
    """Input errors raised inside are about `field`, unless they already name one."""
    try:
        yield
    except InputError as error:
        error.values.setdefault("field", field)
        raise
