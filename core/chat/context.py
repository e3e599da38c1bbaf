"""Who is talking and where: the pieces every conversation step gets."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from core.dto import PersonView
from core.enums import Channel, Role, Status
from core.errors import DubanError
from core.replies import Reply
from core.texts import Html, t
from core.views import Look

ECHO_LIMIT = 100

if TYPE_CHECKING:
    from core.app import Core


@dataclass(frozen=True)
class Speaker:
    """The author of an incoming message, as their channel identifies them."""

    channel: Channel
    external_id: str
    username: str | None = None
    language_code: str | None = None


class FormState(Protocol):
    """Per-person conversation state (a half-filled form). Telegram keeps it in aiogram's FSM
    storage (memory or Redis); other channels pass their own."""

    async def get(self) -> dict[str, Any] | None: ...

    async def set(self, data: dict[str, Any]) -> None: ...

    async def clear(self) -> None: ...


class MemoryFormState:
    def __init__(self) -> None:
        self.data: dict[str, Any] | None = None

    async def get(self) -> dict[str, Any] | None:
        return self.data

    async def set(self, data: dict[str, Any]) -> None:
        self.data = dict(data)

    async def clear(self) -> None:
        self.data = None


@dataclass(frozen=True)
class Ctx:
    core: Core
    person: PersonView
    speaker: Speaker
    state: FormState

    @property
    def channel(self) -> Channel:
        return self.speaker.channel

    @property
    def lang(self) -> str:
        return self.person.language

    def look(self) -> Look:
        settings = self.core.settings
        return Look(self.lang, settings.tz, self.core.clock.now(), settings.stale_days)

    def say(self, key: str, **values: Any) -> Html:
        return t(self.lang, key, **values)

    def reply(self, key: str, **values: Any) -> Reply:
        return Reply(self.say(key, **values))

    def refuse(self, key: str, **values: Any) -> Reply:
        """An answer that says nothing was done (bad input, not allowed, not understood)."""
        return Reply(self.say(key, **values), error=True)


def describe(lang: str, error: DubanError) -> Html:
    """An error in the person's language, with field, role and status names translated. What
    the person typed is quoted back at most ECHO_LIMIT characters long: a whole 4000-character
    message quoted in a form's error, with the step asked again, would be too long to send."""
    values = {k: _shortened(v) for k, v in error.values.items()}
    if "field" in values:
        values["field"] = t(lang, f"field.{values['field']}") if values["field"] else ""
    if "role" in values:
        values["role_label"] = t(lang, f"role.{Role(values['role']).value}")
    if "channel" in values:
        values["channel"] = t(lang, f"channel.{values['channel']}")
    if "status" in values:
        values["status_label"] = t(lang, f"status.{Status(values['status']).value}")
    if "kind" in values:
        values["kind_label"] = t(lang, f"import_kind.{values['kind']}")
    return t(lang, error.key, **values)


def _shortened(value: Any) -> Any:
    if isinstance(value, str) and not isinstance(value, Html) and len(value) > ECHO_LIMIT:
        return value[:ECHO_LIMIT] + "…"
    return value
