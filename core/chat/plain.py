"""Conversations on channels without buttons or reply-to: WeCom and the console.

- Buttons become numbered choices: the message lists them (`1 收到　2 已提交`) and the chat's
  stored state keeps what each number does, so replying `1` presses the first. The numbers
  refer to the latest message that offered choices, for `REPLY_WINDOW`.
- A free-text message that is not a command, a form answer or a choice is taken as a reply to
  the latest message about a task sent to this person on this channel within `REPLY_WINDOW`,
  and filed as a note on that task. The acknowledgement names the task (`已记录 #12 留言`), so
  a wrong guess shows at once; `/report 12 …` always names a task explicitly.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from html import escape
from typing import TYPE_CHECKING

from core.chat.context import FormState, Speaker
from core.chat.imports import Upload
from core.enums import Channel
from core.parsing import normalize
from core.replies import Reply
from core.texts import Html, t

if TYPE_CHECKING:
    from core.app import Core
    from core.chat.conversation import Conversation

# One part ("form", "choices") of a chat's stored state, by address and part name: kept where
# the channel adapter keeps forms (`bot.state.chat_parts`: the database, or Redis).
ChatParts = Callable[[str, str], FormState]

Undo = Callable[[], Awaitable[None]]

REPLY_WINDOW = timedelta(hours=24)
_CHOICE = re.compile(r"^\d{1,2}$")
_GAP = "　"  # an ideographic space keeps choices apart in any font


@dataclass(frozen=True)
class Presented:
    """A reply as a channel without buttons shows it, and the actions its numbers stand for."""

    reply: Reply
    choices: tuple[str, ...]


async def _keep() -> None:
    """Nothing to put back: the message offered no choices."""


class PlainChat:
    def __init__(
        self, core: Core, conversation: Conversation, channel: Channel, parts: ChatParts
    ) -> None:
        self.core = core
        self.conversation = conversation
        self.channel = channel
        self.parts = parts

    async def message(self, speaker: Speaker, text: str) -> list[Reply]:
        state = self.parts(speaker.external_id, "form")
        action = await self._chosen(speaker.external_id, text)
        if action is not None:
            return await self.conversation.press(speaker, action, state)
        task_id = None
        if text.strip():
            since = self.core.clock.now() - REPLY_WINDOW
            task_id = await self.core.threads.latest_task(self.channel, speaker.external_id,
                                                          since)
        return await self.conversation.message(speaker, text, state, reply_to_task=task_id)

    async def document(self, speaker: Speaker, upload: Upload) -> list[Reply]:
        """A file the person sent (an import, for those who may import)."""
        state = self.parts(speaker.external_id, "form")
        return await self.conversation.document(speaker, upload, state)

    async def present(self, address: str, reply: Reply) -> Presented:
        """The reply with its buttons written out as numbered choices, one line per row."""
        if not reply.buttons:
            return Presented(reply, ())
        choices: list[str] = []
        lines = []
        for row in reply.buttons:
            cells = []
            for button in row:
                choices.append(button.action.encode())
                cells.append(f"{len(choices)} {escape(button.label)}")
            lines.append(_GAP.join(cells))
        hint = t(await self._language(address), "choices_hint")
        text = Html(f"{reply.text}\n\n{hint}\n" + "\n".join(lines))
        return Presented(replace(reply, text=text, buttons=()), tuple(choices))

    async def offer(self, address: str, presented: Presented) -> Undo:
        """Remember the choices of a message about to be sent (none: earlier ones stay): the
        person may answer the moment it arrives, before its sending is recorded. Returns what
        puts the earlier choices back, for a message that does not go out."""
        if not presented.choices:
            return _keep
        part = self.parts(address, "choices")
        earlier = await part.get()
        await part.set({"actions": list(presented.choices),
                        "at": self.core.clock.now().isoformat()})

        async def put_back() -> None:
            await (part.set(earlier) if earlier else part.clear())

        return put_back

    async def _chosen(self, address: str, text: str) -> str | None:
        token = normalize(text)
        if not _CHOICE.match(token):
            return None
        offered = await self.parts(address, "choices").get()
        if not offered:
            return None
        if datetime.fromisoformat(offered["at"]) < self.core.clock.now() - REPLY_WINDOW:
            return None
        actions: list[str] = offered["actions"]
        index = int(token) - 1
        return actions[index] if 0 <= index < len(actions) else None

    async def _language(self, address: str) -> str:
        person = await self.core.people.by_channel(self.channel, address)
        return person.language if person else self.core.settings.language
