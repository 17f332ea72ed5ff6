"""Timelines are chains through one append-only log (migration 0004): whatever the interleaving
of recordings, in one unit or many, each recording reads back exactly its own events, in order;
and a database made before the chain existed is linked up by the migration."""

from __future__ import annotations

import contextlib
import sqlite3
from importlib import resources
from pathlib import Path

import pytest
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
from callrec.storage.base import Tx
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


def _new_database(path: Path) -> None:
    async def setup(tx: Tx) -> None:
        await tx.insert_account(ACCOUNT)
        for sid in RECORDINGS:
            await tx.insert_recording(_recording(sid))

    SqliteStore(path).run_now(setup)


def _timeline(store: SqliteStore, sid: str) -> list[RecordingEvent]:
    return store.run_now(lambda tx: tx.events(sid))


def _status(store: SqliteStore, sid: str) -> Recording | None:
    return store.run_now(lambda tx: tx.recording(sid))


def _append(store: SqliteStore, events: list[RecordingEvent]) -> None:
    store.run_now(lambda tx: tx.append_events(events))


# Each batch is the events one unit appends: (recording index) per event, in order. A batch of
# one recording's events may come as a status change, which writes them with the row.
batches = st.lists(st.lists(st.integers(0, len(RECORDINGS) - 1), max_size=5), max_size=25)


def _change(
    store: SqliteStore, events: list[RecordingEvent], n: int, sid: str = RECORDINGS[0]
) -> Recording:
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
    tmp_path_factory: pytest.TempPathFactory, batches: list[list[int]]
) -> None:
    path = tmp_path_factory.mktemp("chain") / "db.sqlite"
    _new_database(path)
    store = SqliteStore(path)
    expected: dict[str, list[RecordingEvent]] = {sid: [] for sid in RECORDINGS}
    n = 0
    for batch in batches:
        events = []
        for index in batch:
            n += 1
            events.append(_event(RECORDINGS[index], n))
            expected[RECORDINGS[index]].append(events[-1])
        if events and len(set(batch)) == 1 and n % 3:
            changed = _change(store, events, n)
            assert _status(store, changed.sid) == changed
        else:
            _append(store, events)
    for sid in RECORDINGS:
        assert _timeline(store, sid) == expected[sid]


def test_a_status_change_without_events_keeps_the_timeline(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite"
    _new_database(path)
    store = SqliteStore(path)
    first = _event(RECORDINGS[0], 1)
    _append(store, [first])
    _change(store, [], 2)  # e.g. a pause of a paused recording: nothing to append
    _append(store, [later := _event(RECORDINGS[0], 3)])
    assert _timeline(store, RECORDINGS[0]) == [first, later]


def _apply_migrations_before_the_chain(path: Path) -> None:
    scripts = sorted(
        (entry.name, entry.read_text("utf-8"))
        for entry in resources.files("callrec.storage").joinpath("migrations/sqlite").iterdir()
        if entry.name.endswith(".sql") and entry.name < "0004"
    )
    with contextlib.closing(connect(path)) as conn:
        conn.execute("CREATE TABLE schema_migrations (name TEXT PRIMARY KEY)")
        for name, script in scripts:
            for statement in script.split(";\n"):
                if statement.strip():
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
