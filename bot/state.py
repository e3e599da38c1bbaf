"""Form state for every channel, in aiogram's storage interface: `SqlStorage` keeps it in the
database (forms survive restarts and are shared by several copies); Redis can take its place.
Channels without a state of their own (WeCom, the console) keep theirs here too."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from contextvars import ContextVar
from typing import Any

from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State
from aiogram.fsm.storage.base import BaseEventIsolation, BaseStorage, DefaultKeyBuilder, StorageKey
from aiogram.fsm.storage.memory import SimpleEventIsolation
from aiogram.types import TelegramObject
from sqlalchemy import bindparam, delete, select

from config.settings import Settings
from core.chat.plain import ChatParts
from core.enums import Channel
from storage.db import Database
from storage.models import ChatState, utcnow


def form_storage(settings: Settings, db: Database) -> tuple[BaseStorage, BaseEventIsolation]:
    """Redis when `DUBAN_REDIS_URL` is set (several copies share forms and handle one chat's
    updates in order between them), else the database and in-process ordering."""
    if settings.redis_url:
        # Imported only when used: the Redis client adds 0.2 s and 6 MB to every start-up.
        from aiogram.fsm.storage.redis import RedisEventIsolation, RedisStorage

        storage = RedisStorage.from_url(
            settings.redis_url, key_builder=DefaultKeyBuilder(prefix="duban", with_destiny=True))
        return storage, RedisEventIsolation(storage.redis, key_builder=storage.key_builder)
    return SqlStorage(db), SimpleEventIsolation()


def _key(key: StorageKey) -> str:
    parts = (key.bot_id, key.chat_id, key.user_id, key.thread_id, key.business_connection_id,
             key.destiny)
    return ":".join("" if p is None else str(p) for p in parts)


_STATE = select(ChatState.state, ChatState.data).where(ChatState.key == bindparam("key"))

# A chat's state and data as read when aiogram began handling an update: aiogram reads the
# state first (holding the chat's lock), so the handler's `get_data` needs no second read. Kept
# in the update's context until `SqlStorage.one_update` ends it; written through on changes.
_this_update: ContextVar[tuple[str, str | None, dict[str, Any]] | None] = ContextVar(
    "duban_chat_state", default=None)


class SqlStorage(BaseStorage):
    def __init__(self, db: Database) -> None:
        self.db = db

    async def set_state(self, key: StorageKey, state: str | State | None = None) -> None:
        value = state.state if isinstance(state, State) else state
        await self._write(key, state=value)

    async def get_state(self, key: StorageKey) -> str | None:
        state, _ = await self._read(_key(key))
        return state

    async def set_data(self, key: StorageKey, data: Mapping[str, Any]) -> None:
        await self._write(key, data=dict(data))

    async def get_data(self, key: StorageKey) -> dict[str, Any]:
        text_key = _key(key)
        remembered = _this_update.get()
        if remembered is not None and remembered[0] == text_key:
            return dict(remembered[2])
        _, data = await self._read(text_key)
        return dict(data)

    async def close(self) -> None:
        """The database belongs to the core, which closes it."""

    async def one_update(
        self, handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject, data: dict[str, Any],
    ) -> Any:
        """An outer middleware on the dispatcher's updates (inside aiogram's own FSM one): what
        was read for the update is forgotten when it has been handled."""
        try:
            return await handler(event, data)
        finally:
            _this_update.set(None)

    async def _read(self, text_key: str) -> tuple[str | None, dict[str, Any]]:
        async with self.db.read_one() as connection:
            row = (await connection.execute(_STATE, {"key": text_key})).first()
        state, data = (row.state, dict(row.data)) if row else (None, {})
        _this_update.set((text_key, state, data))
        return state, data

    async def _write(self, key: StorageKey, **values: Any) -> None:
        async with self.db.write() as session:
            row = await session.get(ChatState, _key(key))
            if row is None:
                row = ChatState(key=_key(key), state=None, data={})
                session.add(row)
            for name, value in values.items():
                setattr(row, name, value)
            row.updated_at = utcnow()
            if row.state is None and not row.data:
                await session.flush()
                await session.execute(delete(ChatState).where(ChatState.key == row.key))
            written = (row.key, row.state, dict(row.data))
        remembered = _this_update.get()
        if remembered is not None and remembered[0] == written[0]:
            _this_update.set(written)


class FsmFormState:
    """The core's `FormState` over an aiogram FSM context (any storage, any channel)."""

    def __init__(self, context: FSMContext) -> None:
        self.context = context

    async def get(self) -> dict[str, Any] | None:
        form = (await self.context.get_data()).get("form")
        return dict(form) if form else None

    async def set(self, data: dict[str, Any]) -> None:
        await self.context.set_data({"form": data})

    async def clear(self) -> None:
        await self.context.clear()


def chat_key(channel: Channel, address: str, part: str) -> StorageKey:
    """The storage key of one part of a WeCom or console chat. These chats have no Telegram
    ids: bot id 0, which no Telegram bot has, and the channel, address and part in the key's
    one text field."""
    return StorageKey(bot_id=0, chat_id=0, user_id=0, destiny=f"{channel}:{address}:{part}")


def chat_parts(storage: BaseStorage, channel: Channel) -> ChatParts:
    """The parts of WeCom's or the console's chats in `storage`, each part under a key of its
    own: the choices a message offers and the form change independently."""
    def part(address: str, name: str) -> FsmFormState:
        return FsmFormState(FSMContext(storage, chat_key(channel, address, name)))

    return part
