"""`/settings`: a person's language and the channel their reminders arrive on (for people
registered on both Telegram and WeCom: nudges come on one of them, not both)."""

from __future__ import annotations

from core.chat.context import Ctx
from core.enums import Channel
from core.errors import InputError
from core.parsing import normalize
from core.people import CHANNEL_IDS
from core.replies import Action, Button, Reply
from core.texts import LANGUAGES, Html

LANGUAGE_WORDS = {"zh": "zh", "中文": "zh", "汉语": "zh", "chinese": "zh",
                  "en": "en", "english": "en", "英文": "en", "英语": "en"}
CHANNEL_WORDS = {"telegram": Channel.TELEGRAM, "tg": Channel.TELEGRAM,
                 "企业微信": Channel.WECOM, "企微": Channel.WECOM, "wecom": Channel.WECOM}
FIELD_WORDS = {"语言": "language", "language": "language", "lang": "language",
               "渠道": "channel", "提醒渠道": "channel", "channel": "channel"}
# Button verbs (task 0): the argument is the language or channel chosen.
VERBS = {"lang": "language", "chan": "channel"}


async def settings(ctx: Ctx, args: str) -> list[Reply]:
    if not args.strip():
        return [overview(ctx)]
    field_word, _, value = args.strip().partition(" ")
    field = FIELD_WORDS.get(normalize(field_word).lower())
    if field is None or not value.strip():
        raise InputError("settings_usage")
    return await _change(ctx, field, value.strip())


async def press(ctx: Ctx, action: Action) -> list[Reply]:
    return await _change(ctx, VERBS[action.verb], action.arg)


async def _change(ctx: Ctx, field: str, value: str) -> list[Reply]:
    word = normalize(value).lower()
    if field == "language":
        language = LANGUAGE_WORDS.get(word)
        if language is None:
            raise InputError("settings_language_unknown", value=value)
        person = await ctx.core.people.choose(ctx.person, ctx.channel, language=language)
    else:
        channel = CHANNEL_WORDS.get(word)
        if channel is None:
            raise InputError("settings_channel_unknown", value=value)
        person = await ctx.core.people.choose(ctx.person, ctx.channel, preferred=channel)
    changed = Ctx(ctx.core, person, ctx.speaker, ctx.state)
    shown = overview(changed)
    return [Reply(Html(f"{changed.say('settings_saved')}\n{shown.text}"), shown.buttons)]


def overview(ctx: Ctx) -> Reply:
    person = ctx.person
    preferred = person.preferred_channel
    channel = ctx.say(f"channel.{preferred}") if preferred else ctx.say("settings_channel_auto")
    lines = [ctx.say("settings_title"),
             ctx.say("settings_language", value=ctx.say(f"language.{person.language}")),
             ctx.say("settings_channel", value=channel), ctx.say("settings_hint")]
    rows = [tuple(Button(ctx.say(f"language.{lang}"), Action("lang", 0, lang))
                  for lang in LANGUAGES)]
    registered = [c for c, column in CHANNEL_IDS.items() if getattr(person, column) is not None]
    if len(registered) > 1:
        rows.append(tuple(Button(ctx.say(f"channel.{c.value}"), Action("chan", 0, c.value))
                          for c in registered))
    return Reply(Html("\n".join(lines)), tuple(rows))
