"""The SQL of `Tx` for SQLite: rows in, value types out. Kept portable to PostgreSQL's dialect
where it costs nothing (row values, partial indexes, no SQLite-only functions).

Enum members are bound as they are: they are `StrEnum`s, so sqlite3 stores their value."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

from callrec.domain.model import (
    Account,
    Call,
    CallbackEvent,
    CallbackMethod,
    CallStatus,
    EventKind,
    Micros,
    PauseBehavior,
    Recording,
    RecordingChannels,
    RecordingEvent,
    RecordingOptions,
    RecordingSource,
    RecordingStatus,
    RecordingTrack,
    Trim,
)
from callrec.storage.base import (
    CallFilter,
    CallState,
    Credential,
    OutboxEntry,
    OutboxState,
    PageRequest,
    Position,
    RecordingFilter,
    TimeRange,
)

_CALL_COLUMNS = (
    "id, sid, account_sid, to_number, from_number, status, created_at, updated_at, answer_at,"
    " start_time, end_time, record, recording_options, stream_media_at"
)
# The timeline is a chain (migration 0004): a new event points at its recording's last one,
# then becomes it; reading walks the chain back from the recording.
_INSERT_EVENT = (
    "INSERT INTO recording_events"
    " (recording_sid, kind, at, actor, pause_behavior, media_at, prev_id)"
    " VALUES (?, ?, ?, ?, ?, ?, (SELECT last_event_id FROM recordings WHERE sid = ?))"
)
_INSERT_NEXT_EVENT = (  # after another of the same recording in the same call: prev_id known
    "INSERT INTO recording_events"
    " (recording_sid, kind, at, actor, pause_behavior, media_at, prev_id)"
    " VALUES (?, ?, ?, ?, ?, ?, ?)"
)
_LINK_EVENT = "UPDATE recordings SET last_event_id = ? WHERE sid = ?"
_SELECT_TIMELINE = (
    "WITH RECURSIVE chain (id) AS ("
    " SELECT last_event_id FROM recordings WHERE sid = ?"
    " UNION ALL"
    " SELECT e.prev_id FROM recording_events AS e JOIN chain ON e.id = chain.id"
    " WHERE e.prev_id IS NOT NULL"
    ") SELECT e.recording_sid, e.kind, e.at, e.actor, e.pause_behavior, e.media_at"
    " FROM recording_events AS e JOIN chain ON e.id = chain.id ORDER BY e.id"
)
_RECORDING_COLUMNS = (
    "id, sid, account_sid, call_sid, status, source, options, created_at, updated_at,"
    " start_time, pause_behavior, duration, error_code, deleted_at"
)


# Rows to enum members by a dict lookup: a tenth of the cost of calling the enum class.
_RECORDING_STATUS = {member.value: member for member in RecordingStatus}
_RECORDING_SOURCE = {member.value: member for member in RecordingSource}
_PAUSE_BEHAVIOR = {member.value: member for member in PauseBehavior}
_CALL_STATUS = {member.value: member for member in CallStatus}

_SELECT_CALL = f"SELECT {_CALL_COLUMNS} FROM calls WHERE sid = ?"
_SELECT_RECORDING = f"SELECT {_RECORDING_COLUMNS} FROM recordings WHERE sid = ?"
_SELECT_RECORDING_AND_CALL_STATUS = (
    "SELECT "
    + ", ".join(f"r.{name.strip()}" for name in _RECORDING_COLUMNS.split(","))
    + ", c.status, c.start_time FROM recordings AS r JOIN calls AS c ON c.sid = r.call_sid"
    " WHERE r.sid = ?"
)
_UPDATE_RECORDING = (
    "UPDATE recordings SET status = ?, updated_at = ?, pause_behavior = ?, duration = ?,"
    " error_code = ?, deleted_at = ? WHERE sid = ?"
)
_UPDATE_RECORDING_STATUS = (  # with no new event, the last one stays the last
    "UPDATE recordings SET status = ?, updated_at = ?, pause_behavior = ?,"
    " last_event_id = coalesce(?, last_event_id) WHERE sid = ?"
)


def encode_options(options: RecordingOptions) -> str:
    return json.dumps(
        {
            "channels": options.channels,
            "track": options.track,
            "trim": options.trim,
            "callback_url": options.callback_url,
            "callback_method": options.callback_method,
            "callback_events": list(options.callback_events),
        }
    )


@lru_cache(maxsize=1024)  # few distinct option sets exist; decoding is on every row read
def decode_options(text: str) -> RecordingOptions:
    raw = json.loads(text)
    return RecordingOptions(
        channels=RecordingChannels(raw["channels"]),
        track=RecordingTrack(raw["track"]),
        trim=Trim(raw["trim"]),
        callback_url=raw["callback_url"],
        callback_method=CallbackMethod(raw["callback_method"]),
        callback_events=tuple(CallbackEvent(event) for event in raw["callback_events"]),
    )


def _call(row: sqlite3.Row) -> Call:
    return Call(
        sid=row["sid"],
        account_sid=row["account_sid"],
        to=row["to_number"],
        from_=row["from_number"],
        status=CallStatus(row["status"]),
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        answer_at=row["answer_at"],
        start_time=row["start_time"],
        end_time=row["end_time"],
        record=bool(row["record"]),
        recording_options=decode_options(row["recording_options"]),
        stream_media_at=row["stream_media_at"],
    )


def _recording(row: sqlite3.Row) -> Recording:
    """A recording from the first columns of `row`, in `_RECORDING_COLUMNS` order."""
    (
        _,
        sid,
        account_sid,
        call_sid,
        status,
        source,
        options,
        created_at,
        updated_at,
        start_time,
        behavior,
        duration,
        error_code,
        deleted_at,
    ) = tuple(row)[:14]
    return Recording(
        sid=sid,
        account_sid=account_sid,
        call_sid=call_sid,
        status=_RECORDING_STATUS[status],
        source=_RECORDING_SOURCE[source],
        options=decode_options(options),
        created_at=created_at,
        updated_at=updated_at,
        start_time=start_time,
        pause_behavior=_PAUSE_BEHAVIOR[behavior] if behavior else None,
        duration=duration,
        error_code=error_code,
        deleted_at=deleted_at,
    )


def _account(row: sqlite3.Row) -> Account:
    return Account(row["sid"], row["friendly_name"], row["parent_sid"], row["created_at"])


class _Where:
    """Accumulates a WHERE clause and its parameters."""

    def __init__(self) -> None:
        self.clauses: list[str] = []
        self.params: list[Any] = []

    def add(self, clause: str, *params: Any) -> None:
        self.clauses.append(clause)
        self.params.extend(params)

    def add_range(self, column: str, span: TimeRange) -> None:
        if span.start is not None:
            self.add(f"{column} >= ?", span.start)
        if span.end is not None:
            self.add(f"{column} < ?", span.end)

    def add_page(self, page: PageRequest) -> str:
        """Add the keyset condition and return the ORDER/LIMIT/OFFSET tail (size + 1 rows, so
        the caller can tell whether another page follows)."""
        if page.after is not None:
            self.add("(created_at, id) < (?, ?)", page.after.created_at, page.after.row_id)
            offset = 0
        else:
            offset = page.offset
        return f" ORDER BY created_at DESC, id DESC LIMIT {page.size + 1} OFFSET {offset}"

    @property
    def sql(self) -> str:
        return " WHERE " + " AND ".join(self.clauses) if self.clauses else ""


class SqliteTx:
    """`Tx` over one SQLite connection; the transaction is the caller's."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        # One cursor for every statement: Connection.execute makes a new one each time.
        self._cursor = conn.cursor()

    def _one(self, sql: str, *params: Any) -> sqlite3.Row | None:
        row: sqlite3.Row | None = self._cursor.execute(sql, params).fetchone()
        return row

    def _all(self, sql: str, *params: Any) -> list[sqlite3.Row]:
        return self._cursor.execute(sql, params).fetchall()

    # accounts and credentials

    async def account(self, sid: str) -> Account | None:
        row = self._one("SELECT * FROM accounts WHERE sid = ?", sid)
        return _account(row) if row else None

    async def accounts(self) -> Sequence[Account]:
        return [_account(row) for row in self._all("SELECT * FROM accounts ORDER BY created_at")]

    async def insert_account(self, account: Account) -> None:
        self._cursor.execute(
            "INSERT INTO accounts (sid, friendly_name, parent_sid, created_at) VALUES (?, ?, ?, ?)",
            (account.sid, account.friendly_name, account.parent_sid, account.created_at),
        )

    async def credential(self, sid: str) -> Credential | None:
        row = self._one("SELECT * FROM credentials WHERE sid = ?", sid)
        if row is None:
            return None
        return Credential(
            row["sid"],
            row["account_sid"],
            row["friendly_name"],
            row["secret_hash"],
            row["secret_sealed"],
            row["created_at"],
        )

    async def insert_credential(self, credential: Credential) -> None:
        self._cursor.execute(
            "INSERT INTO credentials (sid, account_sid, friendly_name, secret_hash, secret_sealed,"
            " created_at) VALUES (?, ?, ?, ?, ?, ?)",
            (
                credential.sid,
                credential.account_sid,
                credential.friendly_name,
                credential.secret_hash,
                credential.secret_sealed,
                credential.created_at,
            ),
        )

    # calls

    async def call(self, sid: str) -> Call | None:
        row = self._one(_SELECT_CALL, sid)
        return _call(row) if row else None

    async def insert_call(self, call: Call) -> None:
        self._cursor.execute(
            f"INSERT INTO calls ({_CALL_COLUMNS})"
            " VALUES (NULL, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                call.sid,
                call.account_sid,
                call.to,
                call.from_,
                call.status,
                call.created_at,
                call.updated_at,
                call.answer_at,
                call.start_time,
                call.end_time,
                int(call.record),
                encode_options(call.recording_options),
                call.stream_media_at,
            ),
        )

    async def update_call(self, call: Call) -> None:
        self._cursor.execute(
            "UPDATE calls SET status = ?, updated_at = ?, start_time = ?, end_time = ?,"
            " stream_media_at = ? WHERE sid = ?",
            (
                call.status,
                call.updated_at,
                call.start_time,
                call.end_time,
                call.stream_media_at,
                call.sid,
            ),
        )

    async def delete_call(self, sid: str) -> None:
        self._cursor.execute("DELETE FROM calls WHERE sid = ?", (sid,))

    async def streamed_live_calls(self) -> Sequence[Call]:
        rows = self._all(
            f"SELECT {_CALL_COLUMNS} FROM calls"
            " WHERE status = 'in-progress' AND stream_media_at IS NOT NULL"
        )
        return [_call(row) for row in rows]

    async def pending_calls(self) -> Sequence[Call]:
        rows = self._all(f"SELECT {_CALL_COLUMNS} FROM calls WHERE status IN ('queued', 'ringing')")
        return [_call(row) for row in rows]

    async def list_calls(self, where: CallFilter, page: PageRequest) -> list[tuple[Position, Call]]:
        clause = _Where()
        clause.add("account_sid = ?", where.account_sid)
        if where.to is not None:
            clause.add("to_number = ?", where.to)
        if where.from_ is not None:
            clause.add("from_number = ?", where.from_)
        if where.status is not None:
            clause.add("status = ?", where.status)
        clause.add_range("start_time", where.start_time)
        clause.add_range("end_time", where.end_time)
        tail = clause.add_page(page)
        rows = self._all(f"SELECT {_CALL_COLUMNS} FROM calls{clause.sql}{tail}", *clause.params)
        return [(Position(row["created_at"], row["id"]), _call(row)) for row in rows]

    # recordings

    async def recording(self, sid: str) -> Recording | None:
        row = self._one(_SELECT_RECORDING, sid)
        return _recording(row) if row else None

    async def recording_and_call_state(self, sid: str) -> tuple[Recording, CallState] | None:
        row = self._one(_SELECT_RECORDING_AND_CALL_STATUS, sid)
        return (_recording(row), CallState(_CALL_STATUS[row[-2]], row[-1])) if row else None

    async def recordings_of_call(self, call_sid: str) -> Sequence[Recording]:
        rows = self._all(
            f"SELECT {_RECORDING_COLUMNS} FROM recordings WHERE call_sid = ?"
            " ORDER BY created_at DESC, id DESC",
            call_sid,
        )
        return [_recording(row) for row in rows]

    async def recordings_in(self, statuses: Sequence[RecordingStatus]) -> Sequence[Recording]:
        marks = ", ".join("?" for _ in statuses)
        rows = self._all(
            f"SELECT {_RECORDING_COLUMNS} FROM recordings WHERE status IN ({marks})",
            *statuses,
        )
        return [_recording(row) for row in rows]

    async def insert_recording(self, recording: Recording) -> None:
        self._cursor.execute(
            f"INSERT INTO recordings ({_RECORDING_COLUMNS})"
            " VALUES (NULL, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                recording.sid,
                recording.account_sid,
                recording.call_sid,
                recording.status,
                recording.source,
                encode_options(recording.options),
                recording.created_at,
                recording.updated_at,
                recording.start_time,
                recording.pause_behavior,
                recording.duration,
                recording.error_code,
                recording.deleted_at,
            ),
        )

    async def update_recording(self, recording: Recording) -> None:
        self._cursor.execute(
            _UPDATE_RECORDING,
            (
                recording.status,
                recording.updated_at,
                recording.pause_behavior,
                recording.duration,
                recording.error_code,
                recording.deleted_at,
                recording.sid,
            ),
        )

    async def record_status_change(
        self, recording: Recording, events: Sequence[RecordingEvent]
    ) -> None:
        last = self._insert_chain(recording.sid, events)
        self._cursor.execute(
            _UPDATE_RECORDING_STATUS,
            (
                recording.status,
                recording.updated_at,
                recording.pause_behavior,
                last,
                recording.sid,
            ),
        )

    async def list_recordings(
        self, where: RecordingFilter, page: PageRequest
    ) -> list[tuple[Position, Recording]]:
        clause = _Where()
        clause.add("account_sid = ?", where.account_sid)
        if where.call_sid is not None:
            clause.add("call_sid = ?", where.call_sid)
        if not where.include_deleted:
            clause.add("deleted_at IS NULL")
        elif where.deleted_since is not None:
            clause.add("(deleted_at IS NULL OR deleted_at >= ?)", where.deleted_since)
        clause.add_range("created_at", where.date_created)
        tail = clause.add_page(page)
        rows = self._all(
            f"SELECT {_RECORDING_COLUMNS} FROM recordings{clause.sql}{tail}", *clause.params
        )
        return [(Position(row["created_at"], row["id"]), _recording(row)) for row in rows]

    # the timeline

    async def append_events(self, events: Sequence[RecordingEvent]) -> None:
        for event in events:
            last = self._insert_chain(event.recording_sid, [event])
            self._cursor.execute(_LINK_EVENT, (last, event.recording_sid))

    def _insert_chain(self, recording_sid: str, events: Sequence[RecordingEvent]) -> int | None:
        """Insert one recording's new events, each pointing at the one before; the last one's
        id (the recording's last_event_id is the caller's to set)."""
        last: int | None = None
        for event in events:
            assert event.recording_sid == recording_sid
            if last is None:
                self._cursor.execute(_INSERT_EVENT, (*_event_row(event), recording_sid))
            else:
                self._cursor.execute(_INSERT_NEXT_EVENT, (*_event_row(event), last))
            last = self._cursor.lastrowid
        return last

    async def events(self, recording_sid: str) -> list[RecordingEvent]:
        return [
            RecordingEvent(
                sid,
                EventKind(kind),
                at,
                actor,
                PauseBehavior(behavior) if behavior else None,
                media_at,
            )
            for sid, kind, at, actor, behavior, media_at in self._all(
                _SELECT_TIMELINE, recording_sid
            )
        ]

    # the callback outbox

    async def insert_callback(self, entry: OutboxEntry) -> None:
        self._cursor.execute(
            "INSERT INTO callbacks (account_sid, recording_sid, event, method, url, params, state,"
            " attempts, next_attempt_at, last_error, created_at, updated_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                entry.account_sid,
                entry.recording_sid,
                entry.event,
                entry.method,
                entry.url,
                json.dumps(entry.params),
                entry.state,
                entry.attempts,
                entry.next_attempt_at,
                entry.last_error,
                entry.created_at,
                entry.updated_at,
            ),
        )

    async def update_callback(self, entry: OutboxEntry) -> None:
        self._cursor.execute(
            "UPDATE callbacks SET state = ?, attempts = ?, next_attempt_at = ?, last_error = ?,"
            " updated_at = ? WHERE id = ?",
            (
                entry.state,
                entry.attempts,
                entry.next_attempt_at,
                entry.last_error,
                entry.updated_at,
                entry.id,
            ),
        )

    async def callback(self, entry_id: int) -> OutboxEntry | None:
        row = self._one("SELECT * FROM callbacks WHERE id = ?", entry_id)
        return _outbox_entry(row) if row else None

    async def due_callbacks(self, now: Micros, limit: int) -> list[OutboxEntry]:
        rows = self._all(
            "SELECT * FROM callbacks AS c WHERE c.state = 'pending' AND c.next_attempt_at <= ?"
            " AND NOT EXISTS (SELECT 1 FROM callbacks AS e WHERE e.recording_sid = c.recording_sid"
            " AND e.state = 'pending' AND e.id < c.id)"
            " ORDER BY c.next_attempt_at LIMIT ?",
            now,
            limit,
        )
        return [_outbox_entry(row) for row in rows]

    async def head_callback(self, recording_sid: str) -> OutboxEntry | None:
        row = self._one(
            "SELECT * FROM callbacks WHERE recording_sid = ? AND state = 'pending'"
            " ORDER BY id LIMIT 1",
            recording_sid,
        )
        return _outbox_entry(row) if row else None

    async def next_callback_after(self, now: Micros) -> Micros | None:
        row = self._one(
            "SELECT min(next_attempt_at) FROM callbacks"
            " WHERE state = 'pending' AND next_attempt_at > ?",
            now,
        )
        return row[0] if row else None

    async def dead_callbacks(self, account_sid: str) -> list[OutboxEntry]:
        rows = self._all(
            "SELECT * FROM callbacks WHERE account_sid = ? AND state = 'dead' ORDER BY id",
            account_sid,
        )
        return [_outbox_entry(row) for row in rows]


def _event_row(event: RecordingEvent) -> tuple[object, ...]:
    return (
        event.recording_sid,
        event.kind,
        event.at,
        event.actor,
        event.pause_behavior,
        event.media_at,
    )


def _outbox_entry(row: sqlite3.Row) -> OutboxEntry:
    return OutboxEntry(
        id=row["id"],
        account_sid=row["account_sid"],
        recording_sid=row["recording_sid"],
        event=CallbackEvent(row["event"]),
        method=CallbackMethod(row["method"]),
        url=row["url"],
        params=tuple((name, value) for name, value in json.loads(row["params"])),
        state=OutboxState(row["state"]),
        attempts=row["attempts"],
        next_attempt_at=row["next_attempt_at"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        last_error=row["last_error"],
    )
