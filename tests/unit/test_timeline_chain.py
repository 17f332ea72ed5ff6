"""Timelines are chains through one append-only log (migration 0004): whatever the interleaving
of recordings, in one unit or many, each recording reads back exactly its own events, in order,
on either store; and a SQLite database made before the chain existed is linked up by the
migration."""

from __future__ import annotations

import contextlib
import secrets
import sqlite3
from collections.abc import Callable
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from callrec.domain.model import (
    Account,
    EventKind,
    PauseBehavior,
    Recording,
    RecordingEvent,
    RecordingOptions,
    RecordingSource,
    RecordingStatus,
)
from callrec.storage.base import Store, Tx
from callrec.storage.schema import migrations
from callrec.storage.sqlite import SqliteStore, connect

ACCOUNT = Account("AC" + "a" * 32, "test", None, 0)
RECORDINGS = [f"RE{n:032x}" for n in range(4)]


def _recording(sid: str) -> Recording:
    return Recording(
        sid, ACCOUNT.sid, "CA" + sid[2:], RecordingStatus.IN_PROGRESS,
        RecordingSource.START_CALL_RECORDING_API, RecordingOptions(), 1, 1, 1,
    )  # fmt: skip


def _event(sid: str, n: int) -> RecordingEvent:
    kind = EventKind.PAUSED if n % 2 else EventKind.RESUMED
    behavior = PauseBehavior.SKIP if n % 2 else None
    return RecordingEvent(sid, kind, n, "SK" + "b" * 32, behavior, n * 20_000)


def _with_recordings(store: Store) -> list[str]:
    """New recordings in the store (its account made if missing): their sids."""
    sids = [f"RE{secrets.token_hex(16)}" for _ in range(4)]

    async def setup(tx: Tx) -> None:
        if await tx.account(ACCOUNT.sid) is None:
            await tx.insert_account(ACCOUNT)
        for sid in sids:
            await tx.insert_recording(_recording(sid))

    store.run_now(setup)
    return sids


def _timeline(store: Store, sid: str) -> list[RecordingEvent]:
    return store.run_now(lambda tx: tx.events(sid))


def _status(store: Store, sid: str) -> Recording | None:
    return store.run_now(lambda tx: tx.recording(sid))


def _append(store: Store, events: list[RecordingEvent]) -> None:
    store.run_now(lambda tx: tx.append_events(events))


# Each batch is the events one unit appends: (recording index) per event, in order. A batch of
# one recording's events may come as a status change, which writes them with the row.
batches = st.lists(st.lists(st.integers(0, 3), max_size=5), max_size=25)


def _change(store: Store, events: list[RecordingEvent], n: int, sid: str) -> Recording:
    """Write `events` as a status change of their recording (`sid` if there are none); the
    recording as it should now be."""
    status = RecordingStatus.PAUSED if n % 2 else RecordingStatus.IN_PROGRESS
    changed = _recording(events[0].recording_sid if events else sid).moved_to(status, n)
    store.run_now(lambda tx: tx.record_status_change(changed, events))
    return changed


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(batches=batches)
def test_each_recording_reads_back_its_own_events_in_order(
    new_store: Callable[[], Store], batches: list[list[int]]
) -> None:
    store = new_store()
    recordings = _with_recordings(store)
    expected: dict[str, list[RecordingEvent]] = {sid: [] for sid in recordings}
    n = 0
    for batch in batches:
        events = []
        for index in batch:
            n += 1
            events.append(_event(recordings[index], n))
            expected[recordings[index]].append(events[-1])
        if events and len(set(batch)) == 1 and n % 3:
            changed = _change(store, events, n, events[0].recording_sid)
            assert _status(store, changed.sid) == changed
        else:
            _append(store, events)
    for sid in recordings:
        assert _timeline(store, sid) == expected[sid]


def test_a_status_change_without_events_keeps_the_timeline(new_store: Callable[[], Store]) -> None:
    store = new_store()
    sid = _with_recordings(store)[0]
    first = _event(sid, 1)
    _append(store, [first])
    _change(store, [], 2, sid)  # e.g. a pause of a paused recording: nothing to append
    _append(store, [later := _event(sid, 3)])
    assert _timeline(store, sid) == [first, later]


def _apply_migrations_before_the_chain(path: Path) -> None:
    with contextlib.closing(connect(path)) as conn:
        conn.execute("CREATE TABLE schema_migrations (name TEXT PRIMARY KEY)")
        for name, statements in migrations("sqlite"):
            if name >= "0004":
                break
            for statement in statements:
                conn.execute(statement)
            conn.execute("INSERT INTO schema_migrations (name) VALUES (?)", (name,))


def test_the_migration_links_timelines_written_before_it(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite"
    _apply_migrations_before_the_chain(path)
    old = [_event(RECORDINGS[n % 3], n) for n in range(12)]
    with contextlib.closing(sqlite3.connect(path)) as conn:
        conn.execute(
            "INSERT INTO accounts (sid, friendly_name, parent_sid, created_at) VALUES (?, ?, ?, ?)",
            (ACCOUNT.sid, ACCOUNT.friendly_name, None, 0),
        )
        for sid in RECORDINGS:
            conn.execute(
                "INSERT INTO recordings (sid, account_sid, call_sid, status, source, options,"
                " created_at, updated_at, start_time) VALUES (?, ?, ?, 'in-progress',"
                " 'StartCallRecordingAPI', ?, 1, 1, 1)",
                (sid, ACCOUNT.sid, "CA" + sid[2:], '{"channels": "mono", "track": "both",'
                 ' "trim": "do-not-trim", "callback_url": null, "callback_method": "POST",'
                 ' "callback_events": ["completed"]}'),
            )  # fmt: skip
        conn.executemany(
            "INSERT INTO recording_events (recording_sid, kind, at, actor, pause_behavior,"
            " media_at) VALUES (?, ?, ?, ?, ?, ?)",
            [(e.recording_sid, e.kind, e.at, e.actor, e.pause_behavior, e.media_at) for e in old],
        )
        conn.commit()

    store = SqliteStore(path)  # applies 0004
    later = _event(RECORDINGS[0], 100)
    _append(store, [later])

    assert _timeline(store, RECORDINGS[0]) == [
        *(e for e in old if e.recording_sid == RECORDINGS[0]),
        later,
    ]
    for sid in RECORDINGS[1:]:
        assert _timeline(store, sid) == [e for e in old if e.recording_sid == sid]
