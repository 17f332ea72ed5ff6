"""Both stores, through the one seam: a unit of work commits whole or not at all and alone;
reads see what was committed; a unique key written twice is a Conflict; the same migration
history, applied once even by processes that start together; presence, and who has ended."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable

import pytest

from callrec.domain.model import (
    Account,
    Call,
    CallbackMethod,
    CallStatus,
    EventKind,
    PauseBehavior,
    Recording,
    RecordingEvent,
    RecordingOptions,
    RecordingSource,
    RecordingStatus,
)
from callrec.storage.base import (
    Conflict,
    ConsoleSession,
    Custody,
    OutboxEntry,
    StorageError,
    Store,
    Tx,
    Work,
)
from callrec.storage.postgres import PostgresStore
from callrec.storage.schema import migrations

NewStore = Callable[[], Store]


def _account(n: int) -> Account:
    return Account(f"AC{n:032x}", f"account {n}", None, n)


def _live_recording(letter: str) -> Recording:
    """A recording in progress on a call of its own (`_with_call` writes both)."""
    call_sid = "CA" + letter * 32
    return Recording(
        "RE" + letter * 32, _account(1).sid, call_sid, RecordingStatus.IN_PROGRESS,
        RecordingSource.START_CALL_RECORDING_API, RecordingOptions(), 0, 0, 0,
    )  # fmt: skip


def _with_call(recording: Recording) -> Work[None]:
    """The account, the recording's call in progress, and the recording."""
    call = Call(
        recording.call_sid, recording.account_sid, "+1", "+2", CallStatus.IN_PROGRESS, 0, 0, 0, 0
    )

    async def setup(tx: Tx) -> None:
        await tx.insert_account(_account(1))
        await tx.insert_call(call, Custody(None))
        await tx.insert_recording(recording)

    return setup


def _toggle(recording_sid: str, at: int) -> Work[RecordingStatus]:
    """Pause the recording (silence) if it is in progress, resume it if paused, at `at`."""

    async def unit(tx: Tx) -> RecordingStatus:
        found = await tx.lock_recording_and_call(recording_sid)
        assert found is not None
        current = found[0]
        paused = current.status is RecordingStatus.PAUSED
        target = RecordingStatus.IN_PROGRESS if paused else RecordingStatus.PAUSED
        kind = EventKind.RESUMED if paused else EventKind.PAUSED
        behavior = None if paused else PauseBehavior.SILENCE
        changed = current.moved_to(target, at, behavior)
        event = RecordingEvent(recording_sid, kind, at, None, behavior, at)
        await tx.record_status_change(changed, [event])
        return target

    return unit


def _insert(n: int, fail: bool = False) -> Work[int]:
    async def work(tx: Tx) -> int:
        await tx.insert_account(_account(n))
        if fail:
            raise ValueError(n)  # after its write: the unit must be undone, and only it
        return n

    return work


def test_a_failing_unit_undoes_only_itself(new_store: NewStore) -> None:
    store = new_store()

    async def scenario() -> list[object]:
        await store.open()
        failing = {3, 50, 199}
        units = (store.write(_insert(n, n in failing)) for n in range(200))
        results: list[object] = await asyncio.gather(*units, return_exceptions=True)
        await store.close()
        return results

    results = asyncio.run(scenario())
    assert [type(r) for r in results].count(ValueError) == 3
    sids = {a.sid for a in new_store().run_now(lambda tx: tx.accounts())}
    assert sids == {_account(n).sid for n in range(200) if n not in {3, 50, 199}}


def test_reads_see_committed_writes(new_store: NewStore) -> None:
    store = new_store()

    async def scenario() -> Account | None:
        await store.open()
        await store.write(lambda tx: tx.insert_account(_account(1)))
        found = await store.read(lambda tx: tx.account(_account(1).sid))
        await store.close()
        return found

    assert asyncio.run(scenario()) == _account(1)


def test_a_key_written_twice_is_a_conflict_of_that_unit_alone(new_store: NewStore) -> None:
    store = new_store()

    async def scenario() -> None:
        await store.open()
        await store.write(lambda tx: tx.insert_account(_account(1)))
        with pytest.raises(Conflict):
            await store.write(lambda tx: tx.insert_account(_account(1)))
        await store.write(lambda tx: tx.insert_account(_account(2)))
        await store.close()

    asyncio.run(scenario())
    assert len(new_store().run_now(lambda tx: tx.accounts())) == 2
    with pytest.raises(Conflict):
        new_store().run_now(lambda tx: tx.insert_account(_account(2)))


def test_both_backends_have_one_migration_history() -> None:
    assert [name for name, _ in migrations("sqlite")] == [
        name for name, _ in migrations("postgresql")
    ]


def test_processes_starting_together_migrate_once(new_store: NewStore, backend: str) -> None:
    stores: list[Store] = []
    failures: list[BaseException] = []

    def open_one() -> None:
        try:
            stores.append(new_store())
        except BaseException as error:  # reported below
            failures.append(error)

    threads = [threading.Thread(target=open_one) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    # Every step applied exactly once, and the schema works.
    new_store().run_now(lambda tx: tx.insert_account(_account(9)))
    assert new_store().run_now(lambda tx: tx.account(_account(9).sid)) == _account(9)


def test_a_process_whose_presence_is_gone_has_ended(new_store: NewStore, backend: str) -> None:
    store, other = new_store(), new_store()

    async def scenario() -> tuple[set[int], bool, set[int], bool]:
        await store.open()
        first = await store.write(lambda tx: tx.insert_process("http://a", 1))
        second = await store.write(lambda tx: tx.insert_process("http://b", 2))
        mine, theirs = store.presence(), other.presence()
        await mine.join(first)
        await theirs.join(second)
        gone_while_up = await mine.gone([second])
        ended_while_up = await store.write(lambda tx: tx.end_process(second, 3))
        await theirs.close()  # the process dies: its session ends with it
        await asyncio.sleep(0.2)
        gone = await mine.gone([second])
        ended = await store.write(lambda tx: tx.end_process(second, 4))
        await mine.close()
        await store.close()
        return gone_while_up, ended_while_up, gone, ended

    if backend == "sqlite":
        # One server per SQLite database: a second one is refused, so every other process
        # that ever registered has ended.
        async def second_server() -> None:
            first, second = store.presence(), other.presence()
            await first.join(1)
            with pytest.raises(StorageError, match="another callrec server"):
                await second.join(2)
            await first.close()
            await second.join(2)  # the first one stopped: this one may start
            await second.close()

        asyncio.run(second_server())
        return
    gone_while_up, ended_while_up, gone, ended = asyncio.run(scenario())
    assert (gone_while_up, ended_while_up) == (set(), False)
    assert len(gone) == 1
    assert ended
    assert isinstance(store, PostgresStore)


def test_a_presence_renewed_while_it_looks_for_the_dead_answers_both(new_store: NewStore) -> None:
    """A process renews its presence and looks for dead processes in two loops of their own
    (one never waits for the other's takeovers); both ask the presence at the same moment."""
    store = new_store()

    async def scenario() -> tuple[bool, set[int], int]:
        await store.open()
        me = await store.write(lambda tx: tx.insert_process("http://a", 1))
        presence = store.presence()
        await presence.join(me)
        try:
            renewed, gone = await asyncio.gather(presence.renew(), presence.gone([me + 1]))
        finally:
            await presence.close()
            await store.close()
        return renewed, gone, me

    renewed, gone, me = asyncio.run(scenario())
    assert renewed
    assert gone == {me + 1}  # never joined: no presence


def test_a_status_change_that_lost_a_race_runs_again_on_what_won(
    new_store: NewStore, backend: str
) -> None:
    """PostgreSQL writes a status change in one statement after reading without a lock
    (storage/postgres_fast.py); if the recording changed in between, nothing is written and the
    unit runs again, the ordinary way, on what is committed now. No update is lost."""
    if backend != "postgresql":
        return  # SQLite runs units one at a time: there is no race to lose
    store, other = new_store(), new_store()
    recording = _live_recording("c")

    async def scenario() -> tuple[int, list[EventKind]]:
        await store.open()
        await other.open()
        await store.write(_with_call(recording))
        runs = 0
        meddled = asyncio.Event()

        async def pause(tx: Tx) -> RecordingStatus:
            nonlocal runs
            runs += 1
            found = await tx.lock_recording_and_call(recording.sid)
            assert found is not None
            current, _ = found
            if runs == 1:  # another process stops it meanwhile
                await asyncio.wait_for(meddled.wait(), 5)
            if current.status is not RecordingStatus.IN_PROGRESS:
                return current.status
            paused = current.moved_to(RecordingStatus.PAUSED, 1, PauseBehavior.SKIP)
            event = RecordingEvent(recording.sid, EventKind.PAUSED, 1, None, PauseBehavior.SKIP, 1)
            await tx.record_status_change(paused, [event])
            return paused.status

        async def stop(tx: Tx) -> None:
            found = await tx.lock_recording_and_call(recording.sid)
            assert found is not None
            stopped = found[0].moved_to(RecordingStatus.STOPPED, 2)
            await tx.record_status_change(
                stopped, [RecordingEvent(recording.sid, EventKind.STOPPED, 2, None, media_at=2)]
            )

        pausing = asyncio.create_task(store.write(pause))
        await asyncio.sleep(0.2)  # the pause has read the recording in progress
        await other.write(stop)
        meddled.set()
        assert await pausing == RecordingStatus.STOPPED  # it saw the stop the second time
        timeline = await store.read(lambda tx: tx.events(recording.sid))
        await store.close()
        await other.close()
        return runs, [event.kind for event in timeline]

    runs, kinds = asyncio.run(scenario())
    assert runs == 2
    assert kinds == [EventKind.STOPPED]


def test_a_status_change_on_remembered_state_that_is_old_reads_it_again(
    new_store: NewStore, backend: str
) -> None:
    """The fast path remembers what it wrote and decides the next change on it without reading;
    if another process changed the recording meanwhile, the write does not land and the unit is
    decided again on what the database says."""
    if backend != "postgresql":
        return  # one server per SQLite database: nothing changes behind its back
    store, other = new_store(), new_store()
    recording = _live_recording("d")

    async def scenario() -> tuple[list[RecordingStatus], list[EventKind]]:
        await store.open()
        await other.open()
        await store.write(_with_call(recording))
        seen = [await store.write(_toggle(recording.sid, 1))]  # paused, and remembered
        seen.append(await other.write(_toggle(recording.sid, 2)))  # another process resumes it
        # it remembers "paused": must pause, not resume
        seen.append(await store.write(_toggle(recording.sid, 3)))
        timeline = await store.read(lambda tx: tx.events(recording.sid))
        await store.close()
        await other.close()
        return seen, [event.kind for event in timeline]

    seen, kinds = asyncio.run(scenario())
    assert seen == [RecordingStatus.PAUSED, RecordingStatus.IN_PROGRESS, RecordingStatus.PAUSED]
    assert kinds == [EventKind.PAUSED, EventKind.RESUMED, EventKind.PAUSED]


def test_a_recordings_units_in_one_process_take_turns_and_decide_once(
    new_store: NewStore, backend: str
) -> None:
    """Units of one recording sent at once are decided one after the other, each on what the
    last wrote: none is decided on a state that is already old and run again (raced, all but one
    would be, and more work per update under a burst meant falling behind)."""
    store = new_store()
    recording = _live_recording("e")
    runs = 0

    async def toggle(tx: Tx) -> RecordingStatus:
        nonlocal runs
        runs += 1
        return await _toggle(recording.sid, runs)(tx)

    async def scenario() -> list[EventKind]:
        await store.open()
        await store.write(_with_call(recording))
        await asyncio.gather(*(store.write(toggle) for _ in range(20)))
        timeline = await store.read(lambda tx: tx.events(recording.sid))
        await store.close()
        return [event.kind for event in timeline]

    kinds = asyncio.run(scenario())
    assert runs == 20
    assert kinds == [EventKind.PAUSED, EventKind.RESUMED] * 10


def test_console_sessions_are_kept_found_ended_and_purged_once_expired(
    new_store: NewStore,
) -> None:
    def session(n: int, created: int, expires: int) -> ConsoleSession:
        return ConsoleSession(f"{n:064x}", _account(1).sid, _account(1).sid, "c", created, expires)

    store = new_store()
    first, second, third = session(1, 0, 10), session(2, 0, 100), session(3, 50, 150)

    async def scenario() -> list[ConsoleSession | None]:
        await store.open()
        await store.write(lambda tx: tx.insert_account(_account(1)))
        await store.write(lambda tx: tx.insert_console_session(first))
        await store.write(lambda tx: tx.insert_console_session(second))
        found = [await store.read(lambda tx: tx.console_session(first.token_hash))]
        await store.write(lambda tx: tx.insert_console_session(third))  # at 50: the first expired
        await store.write(lambda tx: tx.delete_console_session(second.token_hash))
        for kept in (first, second, third):

            async def lookup(tx: Tx, hashed: str = kept.token_hash) -> ConsoleSession | None:
                return await tx.console_session(hashed)

            found.append(await store.read(lookup))
        await store.close()
        return found

    assert asyncio.run(scenario()) == [first, None, None, third]


def test_a_calls_recordings_are_counted_and_its_callbacks_listed(new_store: NewStore) -> None:
    store = new_store()
    calls = [
        Call(f"CA{n:032x}", _account(1).sid, "+1", "+2", CallStatus.IN_PROGRESS, 0, 0, 0, 0)
        for n in range(3)
    ]

    def recording(n: int, call: Call, deleted: bool = False) -> Recording:
        return Recording(
            f"RE{n:032x}", call.account_sid, call.sid, RecordingStatus.COMPLETED,
            RecordingSource.START_CALL_RECORDING_API, RecordingOptions(), n, n, n,
            deleted_at=n if deleted else None,
        )  # fmt: skip

    recordings = [
        recording(1, calls[0]), recording(2, calls[0]), recording(3, calls[1]),
        recording(4, calls[1], deleted=True),
    ]  # fmt: skip
    callbacks = [
        OutboxEntry.due(_account(1).sid, recordings[0].sid, event, CallbackMethod.POST,
                        "http://app.test/cb", (), n, None)
        for n, event in enumerate(("in-progress", "completed"))
    ]  # fmt: skip

    async def scenario() -> tuple[dict[str, int], dict[str, int], list[str], list[str]]:
        await store.open()

        async def setup(tx: Tx) -> None:
            await tx.insert_account(_account(1))
            for call in calls:
                await tx.insert_call(call, Custody(None))
            for made in recordings:
                await tx.insert_recording(made)
            for entry in callbacks:
                await tx.insert_callback(entry)

        await store.write(setup)
        counts = await store.read(lambda tx: tx.count_recordings([c.sid for c in calls]))
        none = await store.read(lambda tx: tx.count_recordings([]))
        listed = await store.read(lambda tx: tx.callbacks_of(recordings[0].sid))
        other = await store.read(lambda tx: tx.callbacks_of(recordings[1].sid))
        await store.close()
        return counts, none, [e.event for e in listed], [e.event for e in other]

    counts, none, listed, other = asyncio.run(scenario())
    assert counts == {calls[0].sid: 2, calls[1].sid: 1}  # the deleted one not counted
    assert none == {}
    assert listed == ["in-progress", "completed"]
    assert other == []
