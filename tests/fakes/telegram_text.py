"""Telegram text rules for the fake Bot API server: lengths, HTML entities, commands.

Telegram does not store what a bot sends verbatim: it parses the markup into plain text
plus ``entities``, trims surrounding whitespace and measures lengths in UTF-16 code units.
This module mirrors those rules (the HTML parser follows tdlib's ``parse_html`` closely,
including its error messages) so that tests catch the same mistakes the real server
rejects, e.g. a bare ``<`` in user-supplied text or an unsupported ``<br>`` tag.

MarkdownV2 is only checked for the most common mistakes (unescaped reserved characters
and unbalanced markers) and its entities are not computed; legacy Markdown is accepted
as is.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

JsonDict = dict[str, Any]

# Tags Telegram accepts in parse_mode=HTML (https://core.telegram.org/bots/api#html-style).
HTML_TAGS = frozenset(
    {
        "a", "b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "span",
        "tg-spoiler", "tg-emoji", "code", "pre", "blockquote",
    }
)  # fmt: skip

_SIMPLE_TAG_TYPES = {
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "u": "underline",
    "ins": "underline",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "tg-spoiler": "spoiler",
}

_NAMED_HTML_ENTITIES = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}

# Characters MarkdownV2 never uses as markup (outside "](...)" for the parentheses), so
# they must always be escaped outside code; and the markers that format text.
_MDV2_ALWAYS_RESERVED = frozenset("#+-={}.!()")
_MDV2_MARKERS = frozenset("*_~|[]>")

# A command as Telegram detects it in incoming text: "/name" or "/name@botname".
_COMMAND_RE = re.compile(r"(?<![\w/@])/[A-Za-z0-9_]{1,64}(?:@[A-Za-z0-9_]{3,32})?")


class EntityParseError(ValueError):
    """Markup Telegram would reject with "Bad Request: can't parse entities: ..."."""

    @property
    def description(self) -> str:
        return f"Bad Request: can't parse entities: {self}"


@dataclass
class FormattedText:
    """Plain text as Telegram stores it plus the entities parsed from the markup."""

    text: str
    entities: list[JsonDict] = field(default_factory=list)


def utf16_len(text: str) -> int:
    """Length as Telegram counts it: UTF-16 code units (an emoji outside the BMP is 2)."""
    return len(text.encode("utf-16-le")) // 2


def _byte_offset(source: str, index: int) -> int:
    # tdlib reports positions as UTF-8 byte offsets into the original text.
    return len(source[:index].encode("utf-8"))


def _decode_entity(source: str, pos: int) -> tuple[str, int] | None:
    """Decode the HTML entity starting at ``source[pos] == "&"`` like tdlib does.

    Returns the character and the index after the entity, or None when it is not a
    supported entity; tdlib then keeps the "&" literally (a bare "&" is not an error).
    """
    end = pos + 1
    if source.startswith("#", end):
        end += 1
        hexadecimal = source.startswith("x", end)
        if hexadecimal:
            end += 1
        digits = "0123456789abcdefABCDEF" if hexadecimal else "0123456789"
        start = end
        while end < len(source) and source[end] in digits:
            end += 1
        if end == start or end - pos >= 10:
            return None
        code = int(source[start:end], 16 if hexadecimal else 10)
        if code == 0 or code >= 0x10FFFF:
            return None
        char = chr(code)
    else:
        while end < len(source) and source[end].isascii() and source[end].isalpha():
            end += 1
        decoded = _NAMED_HTML_ENTITIES.get(source[pos + 1 : end])
        if decoded is None:
            return None
        char = decoded
    if source.startswith(";", end):
        end += 1
    return char, end


@dataclass
class _OpenTag:
    name: str
    argument: str
    utf16_start: int
    text_start: int  # index into the output characters, for <a> without href


class _HtmlParser:
    """One-shot parser for a Telegram HTML string (see tdlib's parse_html)."""

    def __init__(self, source: str) -> None:
        self.src = source
        self.pos = 0
        self.out: list[str] = []
        self.utf16 = 0
        self.stack: list[_OpenTag] = []
        self.entities: list[JsonDict] = []

    def error(self, message: str, index: int | None = None) -> EntityParseError:
        if index is None:
            return EntityParseError(message)
        return EntityParseError(f"{message} at byte offset {_byte_offset(self.src, index)}")

    def parse(self) -> FormattedText:
        src = self.src
        while self.pos < len(src):
            char = src[self.pos]
            if char == "&" and (decoded := _decode_entity(src, self.pos)) is not None:
                self.emit(decoded[0])
                self.pos = decoded[1]
            elif char != "<":
                self.emit(char)
                self.pos += 1
            elif self.pos + 1 < len(src) and src[self.pos + 1] == "/":
                self.end_tag()
            else:
                self.start_tag()
        if self.stack:
            name = self.stack[-1].name
            raise self.error(f'Can\'t find end tag corresponding to start tag "{name}"')
        entities = sorted(self.entities, key=lambda e: (e["offset"], -e["length"]))
        return FormattedText("".join(self.out), entities)

    def emit(self, char: str) -> None:
        self.out.append(char)
        self.utf16 += utf16_len(char)

    def skip_spaces(self) -> None:
        while self.pos < len(self.src) and self.src[self.pos].isspace():
            self.pos += 1

    def start_tag(self) -> None:
        src, begin = self.src, self.pos
        self.pos += 1
        while self.pos < len(src) and not src[self.pos].isspace() and src[self.pos] != ">":
            self.pos += 1
        if self.pos >= len(src):
            raise self.error("Unclosed start tag", begin)
        name = src[begin + 1 : self.pos].lower()
        if name not in HTML_TAGS:
            raise self.error(f'Unsupported start tag "{name}"', begin)
        argument = self.attributes(name, begin)
        self.pos += 1  # the closing ">"
        if name == "span" and argument != "spoiler":
            raise self.error('Tag "span" must have class "tg-spoiler"', begin)
        self.stack.append(_OpenTag(name, argument, self.utf16, len(self.out)))

    def attributes(self, tag: str, begin: int) -> str:
        """Parse attributes up to ">" and return the one argument the tag cares about."""
        src, argument = self.src, ""
        while self.pos < len(src) and src[self.pos] != ">":
            self.skip_spaces()
            if self.pos < len(src) and src[self.pos] == ">":
                break
            name_start = self.pos
            while self.pos < len(src) and not src[self.pos].isspace() and src[self.pos] not in "=>":
                self.pos += 1
            attr = src[name_start : self.pos]
            if not attr:
                raise self.error(f'Empty attribute name in the tag "{tag}"', begin)
            self.skip_spaces()
            if tag == "blockquote" and attr == "expandable" and not src.startswith("=", self.pos):
                argument = "expandable"  # the only value-less attribute Telegram knows
                continue
            if not src.startswith("=", self.pos):
                message = f'Expected equal sign in declaration of an attribute of the tag "{tag}"'
                raise self.error(message, begin)
            self.pos += 1
            self.skip_spaces()
            if self.pos >= len(src):
                raise self.error(f'Unclosed start tag "{tag}"', begin)
            value = self.attribute_value()
            if self.pos >= len(src):
                raise self.error("Unclosed start tag", begin)
            argument = _tag_argument(tag, attr.lower(), value, argument)
        if self.pos >= len(src):
            raise self.error("Unclosed start tag", begin)
        return argument

    def attribute_value(self) -> str:
        src = self.src
        quote = src[self.pos]
        if quote not in "'\"":
            token_start = self.pos
            while self.pos < len(src) and (src[self.pos].isalnum() or src[self.pos] in ".-"):
                self.pos += 1
            if self.pos < len(src) and not src[self.pos].isspace() and src[self.pos] != ">":
                raise self.error("Unexpected end of name token", token_start)
            return src[token_start : self.pos].lower()
        self.pos += 1
        chars: list[str] = []
        while self.pos < len(src) and src[self.pos] != quote:
            if src[self.pos] == "&" and (decoded := _decode_entity(src, self.pos)) is not None:
                chars.append(decoded[0])
                self.pos = decoded[1]
            else:
                chars.append(src[self.pos])
                self.pos += 1
        if self.pos < len(src):
            self.pos += 1
        return "".join(chars)

    def end_tag(self) -> None:
        src, begin = self.src, self.pos
        if not self.stack:
            raise self.error("Unexpected end tag", begin)
        self.pos += 2
        while self.pos < len(src) and not src[self.pos].isspace() and src[self.pos] != ">":
            self.pos += 1
        name = src[begin + 2 : self.pos].lower()
        self.skip_spaces()
        if self.pos >= len(src) or src[self.pos] != ">":
            raise self.error("Unclosed end tag", begin)
        self.pos += 1
        opened = self.stack.pop()
        if name and name != opened.name:
            raise EntityParseError(
                f"Unmatched end tag at byte offset {_byte_offset(src, begin)}, "
                f'expected "</{opened.name}>", found "</{name}>"'
            )
        if self.utf16 > opened.utf16_start:
            self.add_entity(opened)

    def add_entity(self, tag: _OpenTag) -> None:
        entity: JsonDict = {
            "offset": tag.utf16_start,
            "length": self.utf16 - tag.utf16_start,
        }
        name, argument = tag.name, tag.argument
        if name in _SIMPLE_TAG_TYPES or name == "span":
            entity["type"] = _SIMPLE_TAG_TYPES.get(name, "spoiler")
        elif name == "blockquote":
            entity["type"] = "expandable_blockquote" if argument else "blockquote"
        elif name == "tg-emoji":
            if not argument.isdigit() or int(argument) == 0:
                raise self.error("Invalid custom emoji identifier specified")
            entity.update(type="custom_emoji", custom_emoji_id=argument)
        elif name == "a":
            if not self.link_entity(entity, tag):
                return
        elif not self.code_entity(entity, tag):
            return
        self.entities.append(entity)

    def link_entity(self, entity: JsonDict, tag: _OpenTag) -> bool:
        url = tag.argument or "".join(self.out[tag.text_start :])
        user = re.fullmatch(r"tg://user\?id=(\d+)", url)
        if user:
            mentioned = {"id": int(user.group(1)), "is_bot": False, "first_name": ""}
            entity.update(type="text_mention", user=mentioned)
            return True
        if not re.match(r"(?i)^(https?|tg|ftp)://|^[\w-]+(\.[\w-]+)+", url):
            return False  # Telegram silently drops links it cannot check
        entity.update(type="text_link", url=url)
        return True

    def code_entity(self, entity: JsonDict, tag: _OpenTag) -> bool:
        """<code> inside <pre> (or around it) with a language becomes one "pre" entity."""
        last = self.entities[-1] if self.entities else None
        same_span = (
            last is not None
            and last["offset"] == entity["offset"]
            and last["length"] == entity["length"]
        )
        if tag.name == "pre":
            if same_span and last is not None and last["type"] == "code" and "language" in last:
                last["type"] = "pre"
                return False
            entity["type"] = "pre"
            return True
        if same_span and last is not None and last["type"] == "pre" and tag.argument:
            last["language"] = tag.argument
            return False
        entity["type"] = "code"
        if tag.argument and self.stack and self.stack[-1].name == "pre":
            entity["language"] = tag.argument  # merged when the enclosing </pre> closes
        return True


def _tag_argument(tag: str, attr: str, value: str, current: str) -> str:
    if tag == "a" and attr == "href":
        return value
    if tag == "code" and attr == "class" and value.startswith("language-"):
        return value[len("language-") :]
    if tag == "span" and attr == "class" and value.startswith("tg-"):
        return value[len("tg-") :]
    if tag == "tg-emoji" and attr == "emoji-id":
        return value
    return current  # unknown attributes are ignored, as tdlib does


def parse_html(source: str) -> FormattedText:
    """Parse Telegram HTML into text + entities, raising EntityParseError like Telegram."""
    return _HtmlParser(source).parse()


def check_markdown_v2(source: str) -> FormattedText:
    """Check the mistakes Telegram rejects most often in MarkdownV2; return the plain text.

    Entities are not computed: markers, escapes and link URLs are just dropped.
    """
    out: list[str] = []
    pos, code_fence, in_url = 0, "", False
    while pos < len(source):
        char = source[pos]
        step = 1
        if in_url:  # only ")" and "\\" need escaping inside a link URL
            step = 2 if char == "\\" else 1
            in_url = char != ")"
        elif char == "\\" and pos + 1 < len(source):
            out.append(source[pos + 1])
            step = 2
        elif char == "`":
            fence = "```" if source.startswith("```", pos) else "`"
            code_fence = "" if code_fence == fence else (code_fence or fence)
            step = len(fence)
        elif code_fence:
            out.append(char)
        elif source.startswith("](", pos):
            in_url, step = True, 2
        elif _mdv2_reserved(source, pos):
            raise EntityParseError(
                f"Character '{char}' is reserved and must be escaped with the preceding '\\'"
            )
        elif char not in _MDV2_MARKERS:
            out.append(char)
        pos += step
    if code_fence:
        kind = "Pre" if code_fence == "```" else "Code"
        raise EntityParseError(f"Can't find end of {kind} entity at byte offset {len(source)}")
    return FormattedText("".join(out))


def _mdv2_reserved(source: str, pos: int) -> bool:
    char = source[pos]
    if char in _MDV2_ALWAYS_RESERVED:
        return True
    if char == ">":  # a quote marker is only allowed at the start of a line
        return pos > 0 and source[pos - 1] != "\n"
    return False


def parse_formatted(source: str, parse_mode: str | None) -> FormattedText:
    """Apply ``parse_mode`` (None/""/HTML/MarkdownV2/Markdown) and trim like Telegram.

    Raises EntityParseError for bad markup and ValueError for an unknown parse mode.
    """
    mode = (parse_mode or "").lower()
    if mode == "":
        parsed = FormattedText(source)
    elif mode == "html":
        parsed = parse_html(source)
    elif mode == "markdownv2":
        parsed = check_markdown_v2(source)
    elif mode == "markdown":
        parsed = FormattedText(source)
    else:
        raise ValueError("unsupported parse_mode")
    return trim(parsed)


def trim(formatted: FormattedText) -> FormattedText:
    """Strip surrounding whitespace and shift/clip entities accordingly (Telegram does)."""
    text = formatted.text
    stripped = text.strip()
    if stripped == text:
        return formatted
    shift = utf16_len(text[: len(text) - len(text.lstrip())])
    total = utf16_len(stripped)
    entities: list[JsonDict] = []
    for entity in formatted.entities:
        start = max(0, entity["offset"] - shift)
        end = min(total, entity["offset"] + entity["length"] - shift)
        if end > start:
            entities.append({**entity, "offset": start, "length": end - start})
    return FormattedText(stripped, entities)


def command_entities(text: str) -> list[JsonDict]:
    """bot_command entities Telegram attaches to an incoming message text."""
    entities: list[JsonDict] = []
    for match in _COMMAND_RE.finditer(text):
        entities.append(
            {
                "type": "bot_command",
                "offset": utf16_len(text[: match.start()]),
                "length": utf16_len(match.group()),
            }
        )
    return entities
