"""The dispatcher against a real outbox (both stores) and a real HTTP receiver: one recording's
callbacks are sent by one drain at a time, however often it is woken; and in a deployment of
several processes, by the process that claimed them, until it dies."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator

import pytest

from callrec.callbacks.dispatcher import Dispatcher
from callrec.domain.model import CallbackEvent, CallbackMethod
from callrec.ids import ProcessIdentity, system_clock
from callrec.storage.base import OutboxEntry, OutboxState, Store, Tx
from tests.support.receiver import Receiver

RECORDING = "RE" + "1" * 32
NewStore = Callable[[], Store]


def _entry(url: str, event: CallbackEvent, claimed_by: int | None = None) -> OutboxEntry:
    now = system_clock()
    return OutboxEntry(
        id=None, account_sid="AC" + "1" * 32, subject_sid=RECORDING, event=event,
        method=CallbackMethod.POST, url=url, params=(("CallrecEvent", event.value),),
        state=OutboxState.PENDING, attempts=0, next_attempt_at=now, created_at=now,
        updated_at=now, claimed_by=claimed_by,
    )  # fmt: skip


async def _token(_: str) -> str:
    return "token"


async def _insert(store: Store, entries: list[OutboxEntry]) -> None:
    async def insert(tx: Tx) -> None:
        for entry in entries:
            await tx.insert_callback(entry)

    await store.write(insert)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    started = Receiver().start()
    yield started
    started.stop()


def _sent(receiver: Receiver) -> list[str]:
    return [r.params["CallrecEvent"] for r in receiver.requests]


def test_wakes_in_one_turn_start_one_drain(new_store: NewStore, receiver: Receiver) -> None:
    """Two changes committed together wake their recording twice before its drain has run:
    each callback must still go out once."""
    store = new_store()

    async def scenario() -> None:
        await store.open()
        dispatcher = Dispatcher(store, system_clock, _token)
        events = (CallbackEvent.PAUSED, CallbackEvent.RESUMED)
        await _insert(store, [_entry(receiver.base, event) for event in events])
        dispatcher.wake([RECORDING])
        dispatcher.wake([RECORDING])  # the same loop turn, as two answered updates do
        await asyncio.sleep(1.0)  # enough for both, and for a duplicate to arrive
        await dispatcher.close()
        await store.close()

    asyncio.run(scenario())
    assert _sent(receiver) == ["paused", "resumed"]


def test_a_process_sends_only_what_it_claimed_until_the_claimer_dies(
    new_store: NewStore, receiver: Receiver
) -> None:
    store = new_store()

    async def scenario() -> tuple[list[str], list[str]]:
        await store.open()
        a, b = ProcessIdentity(1), ProcessIdentity(2)
        for_b = Dispatcher(store, system_clock, _token, me=b)
        events = (CallbackEvent.PAUSED, CallbackEvent.RESUMED)
        await _insert(store, [_entry(receiver.base, event, claimed_by=a.id) for event in events])
        for_b.start()
        for_b.wake([RECORDING])
        await asyncio.sleep(1.5)  # b's drain and its poll both leave a's callbacks alone
        before = _sent(receiver)
        await store.write(lambda tx: tx.release_callbacks(a.id))  # a died: b took it over
        for_b.poke()
        await asyncio.sleep(1.0)
        await for_b.close()
        await store.close()
        return before, _sent(receiver)

    before, after = asyncio.run(scenario())
    assert before == []
    assert after == ["paused", "resumed"]
