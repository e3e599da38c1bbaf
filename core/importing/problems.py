"""What is wrong with an imported file, and where: a whole file is rejected with all of it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from core.errors import DubanError, InputError


@dataclass(frozen=True)
class Problem:
    """One mistake: the row (or .ics line), the column as the file names it, and the error."""

    row: int | None
    error: DubanError
    column: str | None = None
    sheet: str | None = None
    event: bool = False  # `row` is the line an .ics event begins on


class FileRejected(InputError):
    """The file has mistakes; nothing of it was saved."""

    def __init__(self, filename: str, problems: Sequence[Problem]) -> None:
        super().__init__("import_rejected", name=filename, count=len(problems))
        self.problems = tuple(problems)
