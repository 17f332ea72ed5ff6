"""The SQL of `Tx`, once for both backends: rows in, value types out.

Statements are written in the dialect SQLite and PostgreSQL share (row values, partial indexes,
recursive CTEs, `?` placeholders that the PostgreSQL side numbers). What differs is below the
four primitives a backend provides (`_one`, `_all`, `_run`, `_insert`) and the row locks, which
only PostgreSQL takes (`_lock`): on SQLite units run one at a time, so there is nothing to lock.

Enum members are bound as they are: they are `StrEnum`s, so both drivers store their value."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict
from functools import lru_cache

from callrec.domain.model import (
    Account,
    Call,
    CallbackEvent,
    CallbackMethod,
    CallCallbacks,
    CallDirection,
    CallEvent,
    CallFlow,
    CallStatus,
    EncryptionDetails,
    EventKind,
    FlowPosition,
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
    Custody,
    OutboxEntry,
    OutboxState,
    PageRequest,
    Position,
    ProcessInfo,
    RecordingFilter,
)
from callrec.storage.sql_base import LIVE_RECORDING, Row, Where
from callrec.storage.sql_console import ConsoleSql
from callrec.storage.sql_keys import PublicKeysSql
from callrec.storage.sql_numbers import NumbersSql
from callrec.storage.sql_operations import OperationsSql

_CALL_COLUMNS = (
    "id, sid, account_sid, to_number, from_number, status, created_at, updated_at, answer_at,"
    " start_time, end_time, record, recording_options, stream_media_at, flow, status_callback,"
    " direction, parent_call_sid"
)
_CALL_INSERT_COLUMNS = _CALL_COLUMNS.removeprefix("id, ") + ", owner, streaming"
# The timeline is a chain (migration 0004): a new event points at its recording's last one,
# then becomes it; reading walks the chain back from the recording.
_EVENT_COLUMNS = "recording_sid, kind, at, actor, pause_behavior, media_at, detail"
INSERT_EVENT = (
    f"INSERT INTO recording_events ({_EVENT_COLUMNS}, prev_id)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, (SELECT last_event_id FROM recordings WHERE sid = ?))"
)
_INSERT_NEXT_EVENT = (  # after another of the same recording in the same call: prev_id known
    f"INSERT INTO recording_events ({_EVENT_COLUMNS}, prev_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
)
_LINK_EVENT = "UPDATE recordings SET last_event_id = ? WHERE sid = ?"
_SELECT_TIMELINE = (
    "WITH RECURSIVE chain (id) AS ("
    " SELECT last_event_id FROM recordings WHERE sid = ?"
    " UNION ALL"
    " SELECT e.prev_id FROM recording_events AS e JOIN chain ON e.id = chain.id"
    " WHERE e.prev_id IS NOT NULL"
    f") SELECT {_EVENT_COLUMNS}"
    " FROM recording_events AS e JOIN chain ON e.id = chain.id ORDER BY e.id"
)
_RECORDING_COLUMNS = (
    "id, sid, account_sid, call_sid, status, source, options, created_at, updated_at,"
    " start_time, pause_behavior, duration, error_code, deleted_at, encryption"
)
_RECORDING_INSERT_COLUMNS = _RECORDING_COLUMNS.removeprefix("id, ")


# Rows to enum members by a dict lookup: a tenth of the cost of calling the enum class.
_RECORDING_STATUS = {member.value: member for member in RecordingStatus}
_RECORDING_SOURCE = {member.value: member for member in RecordingSource}
_PAUSE_BEHAVIOR = {member.value: member for member in PauseBehavior}
_CALL_STATUS = {member.value: member for member in CallStatus}
_EVENT_KIND = {member.value: member for member in EventKind}
_LIVE_CALL = "status IN ('queued', 'ringing', 'in-progress')"
_FINALIZING = "status IN ('stopped', 'processing')"

_SELECT_CALL = f"SELECT {_CALL_COLUMNS} FROM calls WHERE sid = ?"
_SELECT_CALL_AND_CUSTODY = f"SELECT {_CALL_COLUMNS}, owner, streaming FROM calls WHERE sid = ?"
_SELECT_RECORDING = f"SELECT {_RECORDING_COLUMNS} FROM recordings WHERE sid = ?"
#: A recording, its call's status, start and owner, and the recording's last event (its version).
SELECT_RECORDING_AND_CALL_STATE = (
    "SELECT "
    + ", ".join(f"r.{name.strip()}" for name in _RECORDING_COLUMNS.split(","))
    + ", c.status, c.start_time, c.owner, r.last_event_id FROM calls AS c JOIN recordings AS r"
    " ON c.sid = r.call_sid WHERE r.sid = ?"
)
_UPDATE_RECORDING = (
    "UPDATE recordings SET status = ?, updated_at = ?, pause_behavior = ?, duration = ?,"
    " error_code = ?, deleted_at = ?, encryption = ? WHERE sid = ?"
)
_UPDATE_RECORDING_STATUS = (  # with no new event, the last one stays the last
    "UPDATE recordings SET status = ?, updated_at = ?, pause_behavior = ?,"
    " last_event_id = coalesce(?, last_event_id) WHERE sid = ?"
)
_DUE_HEADS = (
    "SELECT * FROM callbacks AS c WHERE c.state = 'pending' AND c.next_attempt_at <= ?"
    " AND (c.claimed_by IS NULL OR c.claimed_by = ?)"
    " AND NOT EXISTS (SELECT 1 FROM callbacks AS e WHERE e.subject_sid = c.subject_sid"
    " AND e.state = 'pending' AND e.id < c.id)"
    " ORDER BY c.next_attempt_at LIMIT ?"
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
            "sealed": options.sealed,
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
        sealed=raw.get("sealed", False),  # written before migration 0016: never sealed
    )


def encode_encryption(details: EncryptionDetails | None) -> str | None:
    return None if details is None else json.dumps(asdict(details))


def decode_encryption(text: str | None) -> EncryptionDetails | None:
    return None if text is None else EncryptionDetails(**json.loads(text))


def encode_flow(flow: CallFlow | None) -> str | None:
    if flow is None:
        return None
    return json.dumps({
        "url": flow.url, "method": flow.method, "fallback_url": flow.fallback_url,
        "fallback_method": flow.fallback_method, "twiml": flow.twiml,
    })  # fmt: skip


@lru_cache(maxsize=1024)  # a call row is read on every Twilio.CURRENT update: decode once
def decode_flow(text: str | None) -> CallFlow | None:
    if text is None:
        return None
    raw = json.loads(text)
    return CallFlow(
        url=raw["url"],
        method=CallbackMethod(raw["method"]),
        fallback_url=raw["fallback_url"],
        fallback_method=CallbackMethod(raw["fallback_method"]),
        twiml=raw["twiml"],
    )


def encode_call_callbacks(callbacks: CallCallbacks | None) -> str | None:
    if callbacks is None:
        return None
    return json.dumps(
        {"url": callbacks.url, "method": callbacks.method, "events": list(callbacks.events)}
    )


@lru_cache(maxsize=1024)
def decode_call_callbacks(text: str | None) -> CallCallbacks | None:
    if text is None:
        return None
    raw = json.loads(text)
    events = tuple(CallEvent(event) for event in raw["events"])
    return CallCallbacks(raw["url"], CallbackMethod(raw["method"]), events)


def _call(row: Row) -> Call:
    return Call(
        sid=row["sid"],
        account_sid=row["account_sid"],
        to=row["to_number"],
        from_=row["from_number"],
        status=_CALL_STATUS[row["status"]],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        answer_at=row["answer_at"],
        start_time=row["start_time"],
        end_time=row["end_time"],
        record=bool(row["record"]),
        recording_options=decode_options(row["recording_options"]),
        stream_media_at=row["stream_media_at"],
        flow=decode_flow(row["flow"]),
        status_callback=decode_call_callbacks(row["status_callback"]),
        direction=CallDirection(row["direction"]),
        parent_call_sid=row["parent_call_sid"],
    )


def _custody(row: Row) -> Custody:
    return Custody(row["owner"], bool(row["streaming"]))


def _recording(row: Row) -> Recording:
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
        encryption,
    ) = tuple(row)[:15]
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
        encryption=decode_encryption(encryption),
    )


def _account(row: Row) -> Account:
    return Account(
        row["sid"], row["friendly_name"], row["parent_sid"], row["created_at"], row["retention"],
        row["encryption_key_sid"],
    )  # fmt: skip


def _event(row: Row) -> RecordingEvent:
    sid, kind, at, actor, behavior, media_at, detail = row
    return RecordingEvent(
        sid, _EVENT_KIND[kind], at, actor, _PAUSE_BEHAVIOR[behavior] if behavior else None,
        media_at, detail,
    )  # fmt: skip


def _outbox_entry(row: Row) -> OutboxEntry:
    return OutboxEntry(
        id=row["id"],
        account_sid=row["account_sid"],
        subject_sid=row["subject_sid"],
        event=row["event"],
        method=CallbackMethod(row["method"]),
        url=row["url"],
        params=tuple((name, value) for name, value in json.loads(row["params"])),
        state=OutboxState(row["state"]),
        attempts=row["attempts"],
        next_attempt_at=row["next_attempt_at"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        last_error=row["last_error"],
        claimed_by=row["claimed_by"],
    )


CALLBACK_COLUMNS = (
    "account_sid, subject_sid, event, method, url, params, state, attempts, next_attempt_at,"
    " last_error, created_at, updated_at, claimed_by"
)


def callback_values(entry: OutboxEntry) -> tuple[object, ...]:
    return (
        entry.account_sid,
        entry.subject_sid,
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
        entry.claimed_by,
    )


def event_values(event: RecordingEvent) -> tuple[object, ...]:
    return (
        event.recording_sid,
        event.kind,
        event.at,
        event.actor,
        event.pause_behavior,
        event.media_at,
        event.detail,
    )


class SqlTx(NumbersSql, ConsoleSql, PublicKeysSql, OperationsSql):
    """`Tx` in SQL; a backend runs the statements (the transaction is its caller's)."""

    # accounts and credentials

    async def account(self, sid: str) -> Account | None:
        row = await self._one("SELECT * FROM accounts WHERE sid = ?", sid)
        return _account(row) if row else None

    async def accounts(self) -> Sequence[Account]:
        rows = await self._all("SELECT * FROM accounts ORDER BY created_at")
        return [_account(row) for row in rows]

    async def insert_account(self, account: Account) -> None:
        await self._run(
            "INSERT INTO accounts (sid, friendly_name, parent_sid, created_at, retention)"
            " VALUES (?, ?, ?, ?, ?)",
            account.sid, account.friendly_name, account.parent_sid, account.created_at,
            account.retention,
        )  # fmt: skip

    async def credential(self, sid: str) -> Credential | None:
        row = await self._one("SELECT * FROM credentials WHERE sid = ?", sid)
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
        await self._run(
            "INSERT INTO credentials (sid, account_sid, friendly_name, secret_hash, secret_sealed,"
            " created_at) VALUES (?, ?, ?, ?, ?, ?)",
            credential.sid,
            credential.account_sid,
            credential.friendly_name,
            credential.secret_hash,
            credential.secret_sealed,
            credential.created_at,
        )

    # calls

    async def call(self, sid: str) -> Call | None:
        row = await self._one(_SELECT_CALL, sid)
        return _call(row) if row else None

    async def lock_call(self, sid: str) -> tuple[Call, Custody] | None:
        row = await self._one(_SELECT_CALL_AND_CUSTODY + self._lock(" FOR UPDATE"), sid)
        return (_call(row), _custody(row)) if row else None

    async def insert_call(self, call: Call, custody: Custody) -> None:
        await self._run(
            f"INSERT INTO calls ({_CALL_INSERT_COLUMNS})"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
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
            encode_flow(call.flow),
            encode_call_callbacks(call.status_callback),
            call.direction,
            call.parent_call_sid,
            custody.owner,
            int(custody.streaming),
        )

    async def update_call(self, call: Call) -> None:
        await self._run(
            "UPDATE calls SET status = ?, updated_at = ?, start_time = ?, end_time = ?,"
            " stream_media_at = ?, flow = ? WHERE sid = ?",
            call.status, call.updated_at, call.start_time, call.end_time, call.stream_media_at,
            encode_flow(call.flow), call.sid,
        )  # fmt: skip

    async def set_custody(self, sid: str, custody: Custody) -> None:
        await self._run(
            "UPDATE calls SET owner = ?, streaming = ? WHERE sid = ?",
            custody.owner, int(custody.streaming), sid,
        )  # fmt: skip
        await self._carry_owner(sid, custody.owner)

    async def _carry_owner(self, call_sid: str, owner: int | None) -> None:
        """The call's live recordings carry its owner (migration 0008); rows already right are
        left alone."""
        await self._run(
            f"UPDATE recordings SET owner = ? WHERE call_sid = ? AND {LIVE_RECORDING}"
            " AND (owner IS NULL OR owner <> ?)",
            owner, call_sid, owner,
        )  # fmt: skip

    async def flow_position(self, call_sid: str) -> FlowPosition | None:
        row = await self._one("SELECT flow_position FROM calls WHERE sid = ?", call_sid)
        if row is None or row[0] is None:
            return None
        return FlowPosition(**json.loads(row[0]))

    async def set_flow_position(self, call_sid: str, position: FlowPosition | None) -> None:
        text = None if position is None else json.dumps(asdict(position))
        await self._run("UPDATE calls SET flow_position = ? WHERE sid = ?", text, call_sid)

    async def delete_call(self, sid: str) -> None:
        await self._run("DELETE FROM calls WHERE sid = ?", sid)

    async def list_calls(self, where: CallFilter, page: PageRequest) -> list[tuple[Position, Call]]:
        clause = Where()
        clause.add("account_sid = ?", where.account_sid)
        if where.to is not None:
            clause.add("to_number = ?", where.to)
        if where.from_ is not None:
            clause.add("from_number = ?", where.from_)
        if where.status is not None:
            clause.add("status = ?", where.status)
        if where.parent_call_sid is not None:
            clause.add("parent_call_sid = ?", where.parent_call_sid)
        clause.add_range("start_time", where.start_time)
        clause.add_range("end_time", where.end_time)
        tail = clause.add_page(page)
        rows = await self._all(
            f"SELECT {_CALL_COLUMNS} FROM calls{clause.sql}{tail}", *clause.params
        )
        return [(Position(row["created_at"], row["id"]), _call(row)) for row in rows]

    # recordings

    async def recording(self, sid: str) -> Recording | None:
        row = await self._one(_SELECT_RECORDING, sid)
        return _recording(row) if row else None

    async def lock_recording(self, sid: str) -> Recording | None:
        row = await self._one(_SELECT_RECORDING + self._lock(" FOR UPDATE"), sid)
        return _recording(row) if row else None

    async def lock_recording_and_call(self, sid: str) -> tuple[Recording, CallState] | None:
        # The call first (FOR KEY SHARE: it keeps the call from changing hands, and other
        # updates of its recordings are not held up), then the recording.
        lock = self._lock(" FOR KEY SHARE OF c FOR UPDATE OF r")
        row = await self._one(SELECT_RECORDING_AND_CALL_STATE + lock, sid)
        if row is None:
            return None
        state = CallState(_CALL_STATUS[row[-4]], row[-3], row[-2])
        return _recording(row), state

    async def lock_live_recordings_of_call(self, call_sid: str) -> Sequence[Recording]:
        rows = await self._all(
            f"SELECT {_RECORDING_COLUMNS} FROM recordings WHERE call_sid = ? AND {LIVE_RECORDING}"
            " ORDER BY created_at DESC, id DESC" + self._lock(" FOR UPDATE"),
            call_sid,
        )
        return [_recording(row) for row in rows]

    async def insert_recording(self, recording: Recording) -> None:
        await self._run(
            f"INSERT INTO recordings ({_RECORDING_INSERT_COLUMNS}, owner)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?,"
            " (SELECT owner FROM calls WHERE sid = ?))",
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
            encode_encryption(recording.encryption),
            recording.call_sid,
        )

    async def update_recording(self, recording: Recording) -> None:
        await self._run(
            _UPDATE_RECORDING,
            recording.status,
            recording.updated_at,
            recording.pause_behavior,
            recording.duration,
            recording.error_code,
            recording.deleted_at,
            encode_encryption(recording.encryption),
            recording.sid,
        )

    async def record_status_change(
        self, recording: Recording, events: Sequence[RecordingEvent]
    ) -> None:
        last = await self._insert_chain(recording.sid, events)
        await self._run(
            _UPDATE_RECORDING_STATUS,
            recording.status, recording.updated_at, recording.pause_behavior, last, recording.sid,
        )  # fmt: skip

    async def set_finalizer(self, sid: str, process_id: int | None) -> None:
        await self._run("UPDATE recordings SET finalizer = ? WHERE sid = ?", process_id, sid)

    async def finalizer(self, sid: str) -> int | None:
        row = await self._one("SELECT finalizer FROM recordings WHERE sid = ?", sid)
        return None if row is None else row[0]

    async def list_recordings(
        self, where: RecordingFilter, page: PageRequest
    ) -> list[tuple[Position, Recording]]:
        clause = Where()
        clause.add("account_sid = ?", where.account_sid)
        if where.call_sid is not None:
            clause.add("call_sid = ?", where.call_sid)
        if not where.include_deleted:
            clause.add("deleted_at IS NULL")
        elif where.deleted_since is not None:
            clause.add("(deleted_at IS NULL OR deleted_at >= ?)", where.deleted_since)
        clause.add_range("created_at", where.date_created)
        tail = clause.add_page(page)
        rows = await self._all(
            f"SELECT {_RECORDING_COLUMNS} FROM recordings{clause.sql}{tail}", *clause.params
        )
        return [(Position(row["created_at"], row["id"]), _recording(row)) for row in rows]

    # the timeline

    async def count_recordings(self, call_sids: Sequence[str]) -> dict[str, int]:
        if not call_sids:
            return {}
        marks = ", ".join("?" * len(call_sids))
        rows = await self._all(
            f"SELECT call_sid, COUNT(*) FROM recordings WHERE call_sid IN ({marks})"
            " AND deleted_at IS NULL GROUP BY call_sid",
            *call_sids,
        )
        return {row[0]: row[1] for row in rows}

    async def append_events(self, events: Sequence[RecordingEvent]) -> None:
        for event in events:
            last = await self._insert_chain(event.recording_sid, [event])
            await self._run(_LINK_EVENT, last, event.recording_sid)

    async def _insert_chain(
        self, recording_sid: str, events: Sequence[RecordingEvent]
    ) -> int | None:
        """Insert one recording's new events, each pointing at the one before; the last one's
        id (the recording's last_event_id is the caller's to set)."""
        last: int | None = None
        for event in events:
            assert event.recording_sid == recording_sid
            if last is None:
                last = await self._insert(INSERT_EVENT, *event_values(event), recording_sid)
            else:
                last = await self._insert(_INSERT_NEXT_EVENT, *event_values(event), last)
        return last

    async def events(self, recording_sid: str) -> list[RecordingEvent]:
        return [_event(row) for row in await self._all(_SELECT_TIMELINE, recording_sid)]

    # the callback outbox

    async def insert_callback(self, entry: OutboxEntry) -> None:
        await self._run(
            f"INSERT INTO callbacks ({CALLBACK_COLUMNS})"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            *callback_values(entry),
        )

    async def update_callback(self, entry: OutboxEntry) -> None:
        await self._run(
            "UPDATE callbacks SET state = ?, attempts = ?, next_attempt_at = ?, last_error = ?,"
            " updated_at = ?, claimed_by = ? WHERE id = ?",
            entry.state,
            entry.attempts,
            entry.next_attempt_at,
            entry.last_error,
            entry.updated_at,
            entry.claimed_by,
            entry.id,
        )

    async def callback(self, entry_id: int) -> OutboxEntry | None:
        row = await self._one("SELECT * FROM callbacks WHERE id = ?" + self._lock(" FOR UPDATE"),
                              entry_id)  # fmt: skip
        return _outbox_entry(row) if row else None

    async def claim_callback(self, entry_id: int, process_id: int) -> bool:
        row = await self._one(
            "UPDATE callbacks SET claimed_by = ? WHERE id = ? AND state = 'pending'"
            " AND (claimed_by IS NULL OR claimed_by = ?) RETURNING id",
            process_id, entry_id, process_id,
        )  # fmt: skip
        return row is not None

    async def due_callbacks(self, now: Micros, limit: int, process_id: int) -> list[OutboxEntry]:
        return [_outbox_entry(row) for row in await self._all(_DUE_HEADS, now, process_id, limit)]

    async def count_callbacks(self, subject_sid: str) -> int:
        row = await self._one("SELECT count(*) FROM callbacks WHERE subject_sid = ?", subject_sid)
        return int(row[0]) if row else 0

    async def head_callback(self, subject_sid: str) -> OutboxEntry | None:
        row = await self._one(
            "SELECT * FROM callbacks WHERE subject_sid = ? AND state = 'pending'"
            " ORDER BY id LIMIT 1",
            subject_sid,
        )
        return _outbox_entry(row) if row else None

    async def next_callback_after(self, now: Micros) -> Micros | None:
        row = await self._one(
            "SELECT min(next_attempt_at) FROM callbacks"
            " WHERE state = 'pending' AND next_attempt_at > ?",
            now,
        )
        return row[0] if row else None

    async def dead_callbacks(self, account_sid: str) -> list[OutboxEntry]:
        rows = await self._all(
            "SELECT * FROM callbacks WHERE account_sid = ? AND state = 'dead' ORDER BY id",
            account_sid,
        )
        return [_outbox_entry(row) for row in rows]

    async def callbacks_of(self, subject_sid: str) -> list[OutboxEntry]:
        rows = await self._all(
            "SELECT * FROM callbacks WHERE subject_sid = ? ORDER BY id", subject_sid
        )
        return [_outbox_entry(row) for row in rows]

    # the processes of a deployment

    async def insert_process(self, address: str, now: Micros) -> int:
        return await self._insert(
            "INSERT INTO processes (address, started_at) VALUES (?, ?)", address, now
        )

    async def processes(self) -> list[ProcessInfo]:
        rows = await self._all(
            "SELECT id, address, started_at FROM processes WHERE ended_at IS NULL ORDER BY id"
        )
        return [ProcessInfo(row["id"], row["address"], row["started_at"]) for row in rows]

    async def end_process(self, process_id: int, now: Micros) -> bool:
        row = await self._one(
            "UPDATE processes SET ended_at = ? WHERE id = ? AND ended_at IS NULL"
            + self._presence_gone()
            + " RETURNING id",
            now, process_id,
        )  # fmt: skip
        return row is not None

    def _presence_gone(self) -> str:
        """A condition on `processes` that holds when the process's presence is gone (the
        backend's own proof of it); none where one server owns the database alone."""
        return ""

    async def adopt_calls(self, dead: int, adopter: int) -> list[tuple[Call, Custody]]:
        rows = await self._all(
            f"SELECT {_CALL_COLUMNS}, owner, streaming FROM calls WHERE {_LIVE_CALL} AND owner = ?"
            + self._lock(" FOR UPDATE"),
            dead,
        )
        if rows:
            await self._run(
                f"UPDATE calls SET owner = ? WHERE {_LIVE_CALL} AND owner = ?", adopter, dead
            )
        for row in rows:
            await self._carry_owner(row["sid"], adopter)
        return [(_call(row), _custody(row)) for row in rows]

    async def adopt_finalizing(self, dead: int, adopter: int) -> list[str]:
        rows = await self._all(
            f"UPDATE recordings SET finalizer = ? WHERE {_FINALIZING} AND finalizer = ?"
            " RETURNING sid",
            adopter, dead,
        )  # fmt: skip
        return [row["sid"] for row in rows]

    async def release_callbacks(self, dead: int) -> None:
        await self._run(
            "UPDATE callbacks SET claimed_by = NULL WHERE state = 'pending' AND claimed_by = ?",
            dead,
        )
