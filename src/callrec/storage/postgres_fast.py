"""A pause, resume or stop by sid in one or two round trips instead of four, on PostgreSQL.

UpdateCallRecording's unit reads its recording and call (locked), decides, and writes the change,
perhaps a finalizer and a callback: BEGIN, the read, the write, COMMIT, each a round trip, and
round trips are what this path spends its CPU on (docs/BENCHMARKS.md). Tried first, optimistically:

1. the read without a lock or a transaction — or none at all, when this process remembers the
   recording as it last wrote it (`Known`: a call's recordings change in the process that owns
   the call, so the memory is usually right) — noting the recording's version (its last event's
   id) and its call's owner;
2. the unit decides as always; its writes are kept, not sent;
3. one statement locks the recording, checks it is still as read (its version, and its call's
   owner, which a live recording carries: migration 0008), and writes everything, or nothing if
   it changed; it is sent with those of the units beside it, one round trip and one commit for
   them all (storage/pg_group_commit.py).

Checking the recording alone is enough: the call cannot end without stopping its live recordings
(which changes their version), nor change hands without its live recordings changing owner,
each under the recording's lock. (The ordinary way locks the call as well.)

Units of one recording take turns in this process (`Turns`), as on SQLite: the next one decides
on what the last one wrote. Raced instead, all but one of those decided on the same version would
fail their check and be made again, each failure more work while the others waited, and under a
burst the work per update grew until the server fell behind for good (measured: at half SQLite's
rate, p50 0.3 to 5 s in some rounds; docs/BENCHMARKS.md).

If the recording changed, the attempt is made again on what the database says (an attempt on
remembered state counts only if its write lands); if the unit does anything else than this shape
(`Unsupported`), it runs the ordinary way (units are written to be run again). Nothing the unit
decides is different: it saw a state that was the committed one, and the write lands only if it
still is. Gates were decided inside the attempt; a decision taken again supersedes it
(service.gates).
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from callrec.domain.model import Recording, RecordingEvent
from callrec.storage.base import CallState, OutboxEntry
from callrec.storage.pg_group_commit import GroupedStatement, Params
from callrec.storage.pg_pool import ConnectionPool
from callrec.storage.sql_base import Row
from callrec.storage.sql_tx import (
    CALLBACK_COLUMNS,
    SELECT_RECORDING_AND_CALL_STATE,
    SqlTx,
    callback_values,
    event_values,
)

#: What this process last wrote of each recording: the recording, its call's state, and its
#: version (its last event's id). A hint only: the write checks it under lock.
Known = dict[str, tuple[Recording, CallState, int]]
MAX_KNOWN = 10_000


class Unsupported(Exception):
    """The unit does something else than a status change: run it the ordinary way."""


class Turns:
    """Each recording's units in this process one at a time, in the order they asked."""

    def __init__(self) -> None:
        #: Recordings whose turn is taken, and the units waiting for it.
        self._waiting: dict[str, deque[asyncio.Future[None]]] = {}

    async def take(self, sid: str) -> None:
        waiting = self._waiting.get(sid)
        if waiting is None:
            self._waiting[sid] = deque()  # free: the hot path, no await
            return
        turn = asyncio.get_running_loop().create_future()
        waiting.append(turn)
        try:
            await turn
        except BaseException:
            if turn.done() and not turn.cancelled():
                self.end(sid)  # handed over as this unit gave up: passed on
            raise

    def end(self, sid: str) -> None:
        waiting = self._waiting[sid]
        while waiting:
            turn = waiting.popleft()
            if not turn.done():
                turn.set_result(None)
                return
        del self._waiting[sid]


class Turn:
    """One unit's turn: taken as it first reads its recording, held until the unit ends."""

    __slots__ = ("_turns", "sid")

    def __init__(self, turns: Turns) -> None:
        self._turns = turns
        self.sid: str | None = None

    async def take(self, sid: str) -> None:
        if self.sid is None:
            await self._turns.take(sid)
            self.sid = sid
        elif sid != self.sid:
            raise Unsupported("another recording")

    def end(self) -> None:
        if self.sid is not None:
            self._turns.end(self.sid)
            self.sid = None


@dataclass
class _Read:
    sid: str
    version: int | None
    call: CallState


@dataclass
class _Writes:
    change: tuple[Recording, RecordingEvent] | None = None
    finalizer: int | None = None
    callbacks: list[OutboxEntry] = field(default_factory=list)


class FastStatusChange(SqlTx):
    """A `Tx` for one attempt: serves `lock_recording_and_call` unlocked, keeps the status
    change and what comes with it, refuses anything else."""

    def __init__(
        self, pool: ConnectionPool, writes: GroupedStatement, turn: Turn, known: Known | None
    ) -> None:
        self._pool = pool
        self._group = writes  # STATUS_CHANGE's executions
        self._turn = turn
        self._known = known  # None: read from the database
        self._read: _Read | None = None
        self._version: int | None = None
        self._writes = _Writes()
        #: The attempt decided on remembered state (it counts only if its write lands).
        self.remembered: str | None = None

    async def lock_recording_and_call(self, sid: str) -> tuple[Recording, CallState] | None:
        if self._read is not None:
            raise Unsupported("a second read")
        await self._turn.take(sid)
        hit = None if self._known is None else self._known.get(sid)
        if hit is not None:
            recording, state, version = hit
            self._read = _Read(sid, version, state)
            self.remembered = sid
            return recording, state
        found = await super().lock_recording_and_call(sid)
        if found is not None:
            self._read = _Read(sid, self._version, found[1])
        return found

    async def _one(self, sql: str, *params: Any) -> Row | None:
        if sql != SELECT_RECORDING_AND_CALL_STATE:
            raise Unsupported(sql[:40])
        async with self._pool.connection() as conn:
            row: Row | None = await conn.fetchrow(_READ, *params)
        self._version = None if row is None else row[-1]
        return row

    async def record_status_change(
        self, recording: Recording, events: Sequence[RecordingEvent]
    ) -> None:
        read = self._read
        if read is None or recording.sid != read.sid or len(events) != 1 or self._writes.change:
            raise Unsupported("a status change of another shape")
        self._writes.change = (recording, events[0])

    async def set_finalizer(self, sid: str, process_id: int | None) -> None:
        if self._read is None or sid != self._read.sid or process_id is None:
            raise Unsupported("another finalizer")
        self._writes.finalizer = process_id

    async def insert_callback(self, entry: OutboxEntry) -> None:
        if self._read is None or entry.subject_sid != self._read.sid:
            raise Unsupported("another recording's callback")
        self._writes.callbacks.append(entry)

    async def _all(self, sql: str, *params: Any) -> Sequence[Row]:
        raise Unsupported(sql[:40])

    async def _run(self, sql: str, *params: Any) -> None:
        raise Unsupported(sql[:40])

    async def _insert(self, sql: str, *params: Any) -> int:
        raise Unsupported(sql[:40])

    async def commit(self, known: Known) -> bool:
        """Write what the unit decided if nothing changed since it read, and remember it; whether
        it did. A unit that wrote nothing (a pause of a paused recording) has nothing to check,
        unless it decided on remembered state."""
        read, writes = self._read, self._writes
        if writes.change is None:
            if writes.finalizer is not None or writes.callbacks:
                raise Unsupported("writes without a status change")
            return self.remembered is None
        assert read is not None
        recording, event = writes.change
        if len(writes.callbacks) > 1:
            raise Unsupported("several callbacks")
        callback = callback_values(writes.callbacks[0]) if writes.callbacks else _NO_CALLBACK
        params: Params = (
            read.sid, read.version, read.call.owner,
            *event_values(event),
            recording.status, recording.updated_at, recording.pause_behavior, writes.finalizer,
            *callback,
        )  # fmt: skip
        version = (await self._group.run(params))[0]
        if version is None:
            known.pop(read.sid, None)
            return False
        if len(known) >= MAX_KNOWN:
            known.clear()
        known[read.sid] = (recording, read.call, version)
        return True


_READ = SELECT_RECORDING_AND_CALL_STATE.replace("?", "$1")  # the shared read, numbered
#: The write: $1 sid, $2 version read, $3 owner read; $4-$10 the event; $11 status, $12 updated_at,
#: $13 pause behaviour, $14 finalizer (NULL: unchanged); $15-$27 a callback (all NULL: none).
#: It answers one row, the new version (NULL: the recording changed since it was read, nothing
#: written), as a grouped statement must.
STATUS_CHANGE = (
    "WITH r AS (SELECT sid FROM recordings WHERE sid = $1"
    " AND last_event_id IS NOT DISTINCT FROM $2 AND owner IS NOT DISTINCT FROM $3 FOR UPDATE),"
    " e AS (INSERT INTO recording_events"
    " (recording_sid, kind, at, actor, pause_behavior, media_at, detail, prev_id)"
    " SELECT $4, $5, $6, $7, $8, $9, $10, $2 FROM r RETURNING id),"
    " u AS (UPDATE recordings SET status = $11, updated_at = $12, pause_behavior = $13,"
    " last_event_id = (SELECT id FROM e), finalizer = coalesce($14, finalizer)"
    " WHERE sid = (SELECT sid FROM r)),"
    f" b AS (INSERT INTO callbacks ({CALLBACK_COLUMNS})"
    " SELECT $15, $16, $17, $18, $19, $20, $21, $22, $23, $24, $25, $26, $27 FROM r"
    " WHERE $15::text IS NOT NULL)"
    " SELECT (SELECT id FROM e)"
)
_NO_CALLBACK = (None,) * len(CALLBACK_COLUMNS.split(","))


def status_change_order(params: Params) -> str:
    """Grouped writes lock their recordings in the order of their sids."""
    return str(params[0])
