"""The console: lines typed in a terminal go through the same conversation as Telegram and
WeCom (buttons as numbered choices, see `core.chat.plain`), as the person chosen with
`/as 姓名`; the outbox's messages to that person are shown too. For trying Duban without any
chat account, against the same database."""

from __future__ import annotations

import uuid
from collections.abc import Callable

from bot.state import SqlStorage, chat_parts
from core.app import Core
from core.chat.context import Speaker, describe
from core.chat.conversation import Conversation
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
        # Printing cannot fail, so the choices are kept first: they hold once they are seen.
        await self.console.chat.offered(address, presented)
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

    def say(self, key: str, **values: object) -> Html:
        lang = self.acting.language if self.acting else self.core.settings.language
        return t(lang, key, **values)

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
        if text and self.acting is not None:
            address = str(self.acting.id)
            replies = await self.chat.message(Speaker(Channel.CONSOLE, address), text)
            await answer(self.core, self.replies, address, replies)
        return True

    async def act_as(self, name: str) -> bool:
        try:
            person = await self.core.people.find(name, "name")
        except DubanError as error:
            lang = self.acting.language if self.acting else self.core.settings.language
            self.show(self.say("console_bot"), describe(lang, error))
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
