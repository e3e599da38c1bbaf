"""The conversation, channel-independent: an incoming message or button press in, replies out.

Telegram, WeCom and the console translate their events into `message`, `press` calls and send
back the replies; identity, permissions, forms and errors are all handled here, once."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from core.chat import commands, forms, imports, settings
from core.chat.context import Ctx, FormState, Speaker, describe
from core.chat.report import recorded, reply_note
from core.dto import PersonView
from core.enums import Status
from core.errors import DubanError, InputError
from core.nudges import snooze_picker
from core.parsing import normalize
from core.replies import Action, Reply
from core.texts import Html, language_of, plain, t
from core.views import fmt_date, progress_picker, roles_text

if TYPE_CHECKING:
    from core.app import Core

log = logging.getLogger(__name__)
MAX_MESSAGE = 4096
PROGRESS_STEPS = {"10": 10, "-10": -10}
STATUS_VALUES = frozenset(s.value for s in Status)


def split_command(text: str) -> tuple[str | None, str]:
    """`/report@duban_bot 12 60` → ("report", "12 60"); `任务` → ("tasks", "");
    otherwise (None, text)."""
    stripped = text.strip()
    head, _, rest = stripped.partition(" ") if " " in stripped else (stripped, "", "")
    head, rest = head.strip(), rest.strip()
    if head.startswith("/"):
        return head[1:].split("@", 1)[0].lower(), rest
    word = commands.WORDS.get(normalize(head).lower())
    return (word, rest) if word else (None, text)


class Conversation:
    def __init__(self, core: Core) -> None:
        self.core = core

    async def message(
        self, speaker: Speaker, text: str, state: FormState, reply_to_task: int | None = None
    ) -> list[Reply]:
        person = await self.core.people.by_channel(speaker.channel, speaker.external_id)
        command, args = split_command(text)
        if person is None:
            return await self._stranger(speaker, command, args)
        ctx = Ctx(self.core, person, speaker, state)
        await self._note_contact(person, speaker)
        try:
            return await self._route(ctx, text, command, args, reply_to_task)
        except DubanError as error:
            return [Reply(describe(ctx.lang, error), error=True)]

    async def document(
        self, speaker: Speaker, upload: imports.Upload, state: FormState
    ) -> list[Reply]:
        """A file sent to the bot: an import, for those who may import."""
        person = await self.core.people.by_channel(speaker.channel, speaker.external_id)
        if person is None:
            return await self._stranger(speaker, None, "")
        await self._note_contact(person, speaker)
        try:
            return await imports.receive(Ctx(self.core, person, speaker, state), upload)
        except DubanError as error:
            return [Reply(describe(person.language, error), error=True)]

    async def press(self, speaker: Speaker, data: str, state: FormState) -> list[Reply]:
        person = await self.core.people.by_channel(speaker.channel, speaker.external_id)
        if person is None:
            return [Reply(t(language_of(speaker.language_code, self.core.settings.language),
                            "stranger"), error=True)]
        ctx = Ctx(self.core, person, speaker, state)
        try:
            return await self._act(ctx, Action.decode(data))
        except DubanError as error:
            text = describe(ctx.lang, error)
            return [Reply(text, toast=plain(text)[:190], error=True)]

    # ---- messages ------------------------------------------------------------------------

    async def _route(
        self, ctx: Ctx, text: str, command: str | None, args: str, reply_to_task: int | None
    ) -> list[Reply]:
        if len(text) > MAX_MESSAGE:
            raise InputError("message_too_long", length=len(text), limit=MAX_MESSAGE)
        form = await ctx.state.get()
        # In a form, plain words are answers (a title may well be 任务) — except 取消 (cancel).
        typed = text.lstrip().startswith("/") or form is None or command == "cancel"
        if command is not None and typed:
            return await self._command(ctx, command, args)
        if form is not None:
            return await self._form_text(ctx, form, text)
        if reply_to_task is not None:
            return [recorded(ctx, await reply_note(ctx, reply_to_task, text))]
        return [ctx.refuse("not_understood")]

    async def _command(self, ctx: Ctx, name: str, args: str) -> list[Reply]:
        if name == "start":
            return await self._start_registered(ctx, args)
        command = commands.COMMANDS.get(name)
        if command is None:
            return [ctx.refuse("unknown_command", command="/" + name)]
        if not commands.allowed(ctx, command):
            return [ctx.refuse("not_allowed")]
        return await command.handler(ctx, args)

    async def _start_registered(self, ctx: Ctx, code: str) -> list[Reply]:
        if code:
            # A second invite for the same person adds its roles (an admin's way to promote).
            speaker = ctx.speaker
            joined = await self.core.invites.redeem(code, speaker.channel, speaker.external_id,
                                                    speaker.username, ctx.lang)
            ctx = Ctx(self.core, joined.person, speaker, ctx.state)
        return [ctx.reply("greeting", name=ctx.person.name,
                          roles=roles_text(ctx.lang, ctx.person.roles))]

    async def _stranger(self, speaker: Speaker, command: str | None, args: str) -> list[Reply]:
        lang = language_of(speaker.language_code, self.core.settings.language)
        if command != "start" or not args:
            return [Reply(t(lang, "stranger"), error=True)]
        try:
            joined = await self.core.invites.redeem(
                args.strip(), speaker.channel, speaker.external_id, speaker.username, lang)
        except DubanError as error:
            return [Reply(describe(lang, error), error=True)]
        person = joined.person
        return [Reply(t(person.language, "welcome_new", name=person.name,
                        roles=roles_text(person.language, person.roles)))]

    async def _form_text(self, ctx: Ctx, form: dict[str, Any], text: str) -> list[Reply]:
        if form.get("form") == "reason":
            outcome = await self.core.tasks.block(ctx.person, int(form["task"]), text, ctx.channel)
            await ctx.state.clear()
            return [recorded(ctx, outcome)]
        try:
            return await forms.answer(ctx, form, text)
        except DubanError as error:
            # Stay on the step: say what was wrong and ask again, in one message.
            again = await forms.prompt(ctx, form)
            text = Html(f"{describe(ctx.lang, error)}\n\n{again.text}")
            return [Reply(text, again.buttons, error=True)]

    async def _note_contact(self, person: PersonView, speaker: Speaker) -> None:
        if speaker.username and speaker.username != person.username:
            await self.core.people.remember_username(person.id, speaker.username)
        if speaker.channel in person.unreachable:
            await self.core.people.mark_reachable(person.id, speaker.channel)

    # ---- buttons -------------------------------------------------------------------------

    async def _act(self, ctx: Ctx, action: Action) -> list[Reply]:
        if action.task_id == 0:
            return await self._form_action(ctx, action)
        tasks, task_id = self.core.tasks, action.task_id
        verb, arg = action.verb, action.arg
        if verb == "view":
            return await commands.show_task(ctx, task_id)
        if verb == "ack":
            return [recorded(ctx, await tasks.acknowledge(ctx.person, task_id, ctx.channel))]
        if verb == "status" and arg in STATUS_VALUES:
            outcome = await tasks.report(ctx.person, task_id, ctx.channel, status=Status(arg))
            return [recorded(ctx, outcome)]
        if verb == "pct" and arg.isdigit() and int(arg) <= 100:
            outcome = await tasks.report(ctx.person, task_id, ctx.channel, progress=int(arg))
            return [recorded(ctx, outcome)]
        if verb == "step" and arg in PROGRESS_STEPS:
            delta = PROGRESS_STEPS[arg]
            return [recorded(ctx, await tasks.step_progress(ctx.person, task_id, delta,
                                                            ctx.channel))]
        if verb == "snooze":
            return await self._snooze(ctx, task_id, arg)
        if verb in ("prog", "block"):
            task = await tasks.get_updatable(ctx.person, task_id)
            if verb == "prog":
                text = ctx.say("pick_progress", task_id=task.id, progress=task.progress)
                return [Reply(text, progress_picker(ctx.lang, task), task_id=task.id)]
            await ctx.state.set({"form": "reason", "task": task.id})
            return [Reply(ctx.say("ask_reason", task_id=task.id), task_id=task.id)]
        raise InputError("button_invalid")

    async def _snooze(self, ctx: Ctx, task_id: int, arg: str) -> list[Reply]:
        """稍后提醒: first how long (1 or 3 days), then the snooze itself."""
        if not arg:
            task = await self.core.tasks.get_updatable(ctx.person, task_id)
            return [Reply(ctx.say("snooze.pick", task_id=task.id),
                          snooze_picker(ctx.lang, task), task_id=task.id)]
        if not arg.isdigit():
            raise InputError("button_invalid")
        outcome = await self.core.tasks.snooze(ctx.person, task_id, int(arg), ctx.channel)
        task = outcome.task
        assert task.snoozed_until is not None
        text = ctx.say("snoozed", task_id=task.id,
                       until=fmt_date(ctx.look(), task.snoozed_until, with_time=True))
        return [Reply(text, task_id=task.id, toast=plain(text)[:190])]

    async def _form_action(self, ctx: Ctx, action: Action) -> list[Reply]:
        if action.verb in settings.VERBS:
            return await settings.press(ctx, action)
        form = await ctx.state.get()
        if action.verb == "cancel":
            return await commands.cancel(ctx, "")
        if form is None or form.get("form") != "assign":
            raise InputError("form_expired")
        if action.verb == "ok":
            request = await forms.confirm(ctx, form)
            reply = await commands.assigned_reply(ctx, request)
            await ctx.state.clear()
            return [reply]
        if action.verb == "skip":
            return await forms.answer(ctx, form, None)
        if action.verb == "pick" and action.arg.isdigit():
            return await forms.answer(ctx, form, int(action.arg))
        raise InputError("button_invalid")
