"""The dead-letter list: callbacks that could not be delivered, to look at and to replay."""

from __future__ import annotations

from collections.abc import Callable

from callrec.callbacks.dispatcher import replay
from callrec.domain.errors import NotFound
from callrec.ids import Clock
from callrec.storage.base import OutboxEntry, Store


class CallbackService:
    def __init__(self, store: Store, clock: Clock, wake: Callable[[], None]) -> None:
        self._store = store
        self._clock = clock
        self._wake = wake

    async def dead_letters(self, account_sid: str) -> list[OutboxEntry]:
        return await self._store.read(lambda tx: tx.dead_callbacks(account_sid))

    async def replay(self, account_sid: str, entry_id: int) -> OutboxEntry:
        """Send a dead letter again, from its first attempt."""
        entry = await self._store.write(lambda tx: replay(tx, entry_id, account_sid, self._clock()))
        if entry is None:
            raise NotFound()
        self._wake()
        return entry
