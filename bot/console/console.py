"""The console: lines typed in a terminal go through the same conversation as Telegram and
WeCom (buttons as numbered choices, see `core.chat.plain`), as the person chosen with
`/as 姓名`; the outbox's messages to that person are shown too, and `/file 路径` sends a local
file as if it came in a chat (an import). For trying Duban without any chat account, against
the same database."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from pathlib import Path

from bot.state import SqlStorage, chat_parts
from core.app import Core
from core.chat.context import Speaker, describe
from core.chat.conversation import Conversation
from core.chat.imports import Upload
from core.chat.plain import PlainChat
from core.delivery import ChatLimits, SendOutcome, SendResult, answer
from core.dto import PersonView
from core.enums import Channel, Role
from core.errors import DubanError
from core.replies import Reply
from core.texts import Html, plain, t
from core.views import roles_text

QUIT = frozenset({"/quit", "/exit", "/q"})


class ConsoleSender:
    """Prints messages for the person the console acts as (and reaches nobody else)."""

    channel = Channel.CONSOLE
    limits = ChatLimits(per_chat_interval=0.0)

    def __init__(self, console: Console, mark: str) -> None:
        self.console = console
        self.mark = mark

    def address_of(self, person: PersonView) -> str | None:
        acting = self.console.acting
        return str(person.id) if acting is not None and acting.id == person.id else None

    async def send(self, address: str, reply: Reply) -> SendResult:
        presented = await self.console.chat.present(address, reply)
        await self.console.chat.offer(address, presented)  # printing cannot fail
        self.console.show(self.mark, presented.reply.text)
        if reply.attachment is not None:
            self.console.show(self.mark, self.console.say(
                "console_attachment", filename=reply.attachment.filename,
                size=len(reply.attachment.data)))
        return SendResult(SendOutcome.SENT, message_ref=uuid.uuid4().hex)


class Console:
    def __init__(self, core: Core, write: Callable[[str], None]) -> None:
        self.core = core
        self.write = write
        # One terminal on the local database: its chat state stays there, Redis or not.
        self.chat = PlainChat(core, Conversation(core), Channel.CONSOLE,
                              chat_parts(SqlStorage(core.db), Channel.CONSOLE))
        self.acting: PersonView | None = None
        self.replies = ConsoleSender(self, self.say("console_bot"))
        self.notices = ConsoleSender(self, self.say("console_notice"))

    @property
    def lang(self) -> str:
        return self.acting.language if self.acting else self.core.settings.language

    def say(self, key: str, **values: object) -> Html:
        return t(self.lang, key, **values)

    def show(self, mark: str, text: str) -> None:
        lines = plain(text).split("\n")
        self.write("\n".join([f"{mark} › {lines[0]}", *(f"    {line}" for line in lines[1:])]))

    def recipients(self) -> set[int]:
        """Whose outbox messages the console sends: only the person it acts as."""
        return {self.acting.id} if self.acting else set()

    async def begin(self, name: str | None) -> bool:
        """Greet and take the first identity: `name`, else the first admin. False if nobody is
        registered yet."""
        self.show(self.say("console_bot"), self.say("console_hello"))
        if name:
            return await self.act_as(name)
        admins = await self.core.people.with_role(Role.ADMIN)
        people = admins or await self.core.people.everyone()
        if not people:
            self.show(self.say("console_bot"), self.say("console_nobody"))
            return False
        self._become(people[0])
        return True

    async def handle(self, line: str) -> bool:
        """One typed line; False when the person wants to leave."""
        text = line.strip()
        if text.lower() in QUIT:
            return False
        if text == "/as" or text.startswith("/as "):
            name = text[3:].strip()
            await (self.act_as(name) if name else self._list_people())
            return True
        if not text or self.acting is None:
            return True
        speaker = Speaker(Channel.CONSOLE, str(self.acting.id))
        if text == "/file" or text.startswith("/file "):
            replies = await self._file(speaker, text[5:].strip())
        else:
            replies = await self.chat.message(speaker, text)
        await answer(self.core, self.replies, speaker.external_id, replies)
        return True

    async def _file(self, speaker: Speaker, name: str) -> list[Reply]:
        """`/file PATH`: the file, as if sent in a chat. The core decides whether to read it."""
        found = await asyncio.to_thread(_local_file, name)
        if found is None:
            return [Reply(self.say("console_no_file", path=name), error=True)]
        path, size = found
        upload = Upload(path.name, size, lambda: asyncio.to_thread(path.read_bytes))
        return await self.chat.document(speaker, upload)

    async def act_as(self, name: str) -> bool:
        try:
            person = await self.core.people.find(name, "name")
        except DubanError as error:
            self.show(self.say("console_bot"), describe(self.lang, error))
            return False
        self._become(person)
        return True

    def _become(self, person: PersonView) -> None:
        self.acting = person
        self.show(self.say("console_bot"), self.say(
            "console_acting", name=person.name, roles=roles_text(person.language, person.roles)))
        self.core.outbox_signal.wake()  # their waiting messages show at once

    async def _list_people(self) -> None:
        people = await self.core.people.everyone()
        names = [f"{p.name}（{plain(roles_text(p.language, p.roles))}）" for p in people]
        self.show(self.say("console_bot"), self.say("console_people", people="、".join(names)))


def _local_file(name: str) -> tuple[Path, int] | None:
    path = Path(name).expanduser()
    return (path, path.stat().st_size) if name and path.is_file() else None
