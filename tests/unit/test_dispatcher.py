"""The dispatcher against a real SQLite outbox and a real HTTP receiver: one recording's
callbacks are sent by one drain at a time, however often it is woken."""

from __future__ import annotations

import asyncio
from pathlib import Path

from callrec.callbacks.dispatcher import Dispatcher
from callrec.domain.model import CallbackEvent, CallbackMethod
from callrec.ids import system_clock
from callrec.storage.base import OutboxEntry, OutboxState, Tx
from callrec.storage.sqlite import SqliteStore
from tests.support.receiver import Receiver

RECORDING = "RE" + "1" * 32


def _entry(url: str, event: CallbackEvent) -> OutboxEntry:
    now = system_clock()
    return OutboxEntry(
        id=None, account_sid="AC" + "1" * 32, recording_sid=RECORDING, event=event,
        method=CallbackMethod.POST, url=url, params=(("CallrecEvent", event.value),),
        state=OutboxState.PENDING, attempts=0, next_attempt_at=now, created_at=now,
        updated_at=now,
    )  # fmt: skip


def test_wakes_in_one_turn_start_one_drain(tmp_path: Path) -> None:
    """Two changes committed together wake their recording twice before its drain has run:
    each callback must still go out once."""
    receiver = Receiver().start()
    store = SqliteStore(tmp_path / "db.sqlite")

    async def token(_: str) -> str:
        return "token"

    async def scenario() -> None:
        dispatcher = Dispatcher(store, system_clock, token)
        events = (CallbackEvent.PAUSED, CallbackEvent.RESUMED)
        entries = [_entry(receiver.base, event) for event in events]

        async def insert(tx: Tx) -> None:
            for entry in entries:
                await tx.insert_callback(entry)

        await store.write(insert)
        dispatcher.wake([RECORDING])
        dispatcher.wake([RECORDING])  # the same loop turn, as two answered updates do
        await asyncio.sleep(1.0)  # enough for both, and for a duplicate to arrive
        await dispatcher.close()
        await store.close()

    try:
        asyncio.run(scenario())
    finally:
        receiver.stop()
    assert [r.params["CallrecEvent"] for r in receiver.requests] == ["paused", "resumed"]
