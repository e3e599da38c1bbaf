"""Conversation state kept in the database for channels that keep none of their own (WeCom,
the console): the half-filled form and the numbered choices last offered, per chat."""

from __future__ import annotations

from typing import Any

from storage.db import Database
from storage.models import ChatState


class ChatStore:
    """One chat's state in `chat_states`, in named parts ("form", "choices")."""

    def __init__(self, db: Database, key: str) -> None:
        self.db = db
        self.key = key

    async def get(self, part: str) -> Any:
        async with self.db.read() as session:
            row = await session.get(ChatState, self.key)
            return row.data.get(part) if row else None

    async def put(self, part: str, value: Any) -> None:
        """Set a part, or remove it with `None`; a chat with nothing left has no row."""
        async with self.db.write() as session:
            row = await session.get(ChatState, self.key)
            data = dict(row.data) if row else {}
            if value is None:
                data.pop(part, None)
            else:
                data[part] = value
            if row is None and data:
                session.add(ChatState(key=self.key, state=None, data=data))
            elif row is not None and data:
                row.data = data
            elif row is not None:
                await session.delete(row)


class StoredFormState:
    """The core's `FormState` over a `ChatStore`."""

    def __init__(self, store: ChatStore) -> None:
        self.store = store

    async def get(self) -> dict[str, Any] | None:
        form = await self.store.get("form")
        return dict(form) if form else None

    async def set(self, data: dict[str, Any]) -> None:
        await self.store.put("form", data)

    async def clear(self) -> None:
        await self.store.put("form", None)
