"""What the core answers with, for any channel: text in a small HTML subset, buttons as actions.

Telegram shows buttons as an inline keyboard; channels without buttons number them as choices.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from core.errors import InputError

ACTION_SEPARATOR = ":"


@dataclass(frozen=True)
class Action:
    """What a button does: a verb, the task it is about (0 for none) and one short argument.

    Encoded as `verb:task:arg`, well under Telegram's 64-byte callback_data limit; decoding is
    strict, and what an action may do is checked again on the server when it arrives.
    """

    verb: str
    task_id: int = 0
    arg: str = ""

    def encode(self) -> str:
        return ACTION_SEPARATOR.join((self.verb, str(self.task_id), self.arg))

    @classmethod
    def decode(cls, data: str) -> Action:
        parts = data.split(ACTION_SEPARATOR)
        if len(parts) != 3 or not parts[0].isalpha() or not parts[1].isdigit() or len(data) > 64:
            raise InputError("button_invalid")
        return cls(parts[0], int(parts[1]), parts[2])


@dataclass(frozen=True)
class Button:
    label: str
    action: Action


@dataclass(frozen=True)
class Attachment:
    filename: str
    data: bytes
    kind: str = "document"  # or "photo"


@dataclass(frozen=True)
class Reply:
    """One message. `task_id` marks it as being about a task, so a reply to it becomes a note."""

    text: str
    buttons: tuple[tuple[Button, ...], ...] = ()
    task_id: int | None = None
    attachment: Attachment | None = field(default=None, compare=False)
    toast: str | None = None  # a short line for the button press itself, where channels show one
    error: bool = False  # a refusal or bad input: nothing was changed
