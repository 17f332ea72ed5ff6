"""PostgreSQL store: units of work side by side on a pool of connections, each in a transaction
of its own; presence by session advisory locks; migrations under an advisory lock.

Concurrency: READ COMMITTED, and a unit locks the rows it is going to change (`lock_*` in
sql_tx, call before recordings before callbacks), so read-check-write never races another
unit, in this process or another. A unit that still deadlocks, or loses a serialization race, is
run again from the start (units are written to be run again: see GateDecisions).

Failure: every database failure is a StorageError (the API answers 503/20503), and fast: a
connection is given CONNECT_TIMEOUT_SECONDS, a statement COMMAND_TIMEOUT_SECONDS. A full pool
queues requests (ACQUIRE_TIMEOUT_SECONDS at most). Broken connections are replaced by the pool
(storage/pg_pool.py), so the store recovers by itself when the database is back.

Why asyncpg: measured against psycopg 3 on this hot path (docs/ARCHITECTURE.md, bench/).
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Awaitable, Coroutine, Sequence
from functools import lru_cache
from typing import Any, TypeVar

import asyncpg

from callrec.domain.model import Recording, RecordingEvent
from callrec.storage.base import (
    CommitObserver,
    Conflict,
    StorageError,
    Work,
    ignore_commit,
)
from callrec.storage.pg_group_commit import GroupedStatement
from callrec.storage.pg_pool import ConnectionPool
from callrec.storage.postgres_fast import (
    STATUS_CHANGE,
    FastStatusChange,
    Known,
    Turn,
    Turns,
    Unsupported,
    status_change_order,
)
from callrec.storage.schema import migrations
from callrec.storage.sql_base import Row
from callrec.storage.sql_tx import INSERT_EVENT, SqlTx, event_values

T = TypeVar("T")
log = logging.getLogger(__name__)

POOL_MIN = 2
#: Connections per process. Several processes share the server's max_connections (100 by
#: default): 20 leaves room for five of them and the tools.
POOL_MAX = 20
CONNECT_TIMEOUT_SECONDS = 3.0
COMMAND_TIMEOUT_SECONDS = 5.0
ACQUIRE_TIMEOUT_SECONDS = 5.0
#: Times a unit is run again after a deadlock or a serialization failure.
RETRIES = 5
#: The first key of callrec's advisory locks ("call"); the second names what is locked.
LOCK_SPACE = 0x63616C6C
MIGRATION_LOCK = 0  # processes are numbered from 1
#: Presence locks held in this database (advisory locks are per database: one server may hold
#: several deployments, whose process ids overlap).
_THIS_DATABASE_LOCKS = (
    f"locktype = 'advisory' AND classid = {LOCK_SPACE} AND objsubid = 2 AND granted"
    " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
)
DATABASE_ERRORS = (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, TimeoutError)
RETRIED = (asyncpg.DeadlockDetectedError, asyncpg.SerializationError)


@lru_cache(maxsize=512)
def numbered(sql: str) -> str:
    """The shared SQL's `?` placeholders as PostgreSQL's `$1, $2, …` (none sits in a literal)."""
    parts = sql.split("?")
    return parts[0] + "".join(f"${n}{part}" for n, part in enumerate(parts[1:], start=1))


#: A status change's event and row update in one statement (the event's 8 parameters first).
_STATUS_CHANGE = (
    f"WITH e AS ({numbered(INSERT_EVENT)} RETURNING id) UPDATE recordings SET status = $9,"
    " updated_at = $10, pause_behavior = $11, last_event_id = (SELECT id FROM e) WHERE sid = $12"
)


class PostgresTx(SqlTx):
    """`Tx` over one asyncpg connection; the transaction (if any) is the caller's."""

    def __init__(
        self,
        conn: asyncpg.Connection,
        locking: bool,
        known: Known | None = None,
    ) -> None:
        self._conn = conn
        self._locking = locking
        self._known = known

    def _forget(self, recording_sid: str) -> None:
        """The recording changes the ordinary way: what the fast path remembers of it is old."""
        if self._known is not None:
            self._known.pop(recording_sid, None)

    async def update_recording(self, recording: Recording) -> None:
        self._forget(recording.sid)
        await super().update_recording(recording)

    async def append_events(self, events: Sequence[RecordingEvent]) -> None:
        for event in events:
            self._forget(event.recording_sid)
        await super().append_events(events)

    async def _one(self, sql: str, *params: Any) -> Row | None:
        row: Row | None = await self._conn.fetchrow(numbered(sql), *params)
        return row

    async def _all(self, sql: str, *params: Any) -> Sequence[Row]:
        rows: Sequence[Row] = await self._conn.fetch(numbered(sql), *params)
        return rows

    async def _run(self, sql: str, *params: Any) -> None:
        await self._conn.execute(numbered(sql), *params)

    async def _insert(self, sql: str, *params: Any) -> int:
        row_id: int = await self._conn.fetchval(numbered(sql + " RETURNING id"), *params)
        return row_id

    def _lock(self, clause: str) -> str:
        return clause if self._locking else ""

    async def record_status_change(
        self, recording: Recording, events: Sequence[RecordingEvent]
    ) -> None:
        """A pause or resume (one event) in one statement, not two: every UpdateCallRecording
        makes it, and a statement is a round trip to the server."""
        self._forget(recording.sid)
        if len(events) != 1:
            await super().record_status_change(recording, events)
            return
        await self._conn.execute(
            _STATUS_CHANGE,
            *event_values(events[0]), recording.sid,
            recording.status, recording.updated_at, recording.pause_behavior, recording.sid,
        )  # fmt: skip

    def _presence_gone(self) -> str:
        return (
            f" AND NOT EXISTS (SELECT 1 FROM pg_locks WHERE {_THIS_DATABASE_LOCKS}"
            " AND objid::bigint = processes.id)"
        )


class PostgresPresence:
    """A process is present while it holds its advisory lock (LOCK_SPACE, its id) on a session
    of its own: PostgreSQL lets go of it the moment that session ends, when the process dies or
    loses the server."""

    alone = False

    def __init__(self, url: str) -> None:
        self._url = url
        self._conn: asyncpg.Connection | None = None
        self._id = 0
        #: One operation at a time on the session: a process renews its presence and looks for
        #: the dead in two loops of their own, and a connection runs one query at a time.
        self._in_use = asyncio.Lock()

    async def join(self, process_id: int) -> None:
        self._id = process_id
        async with self._in_use:
            if not await self._connect():
                raise StorageError(f"the presence of process {process_id} is held already")

    async def renew(self) -> bool:
        async with self._in_use:
            return await self._renew()

    async def _renew(self) -> bool:
        try:
            if self._conn is None or self._conn.is_closed():
                await self._close()
                if not await self._connect():
                    return False
            assert self._conn is not None
            live = await self._conn.fetchval(
                "SELECT ended_at IS NULL FROM processes WHERE id = $1",
                self._id,
                timeout=COMMAND_TIMEOUT_SECONDS,
            )
        except DATABASE_ERRORS as error:
            await self._close()
            raise StorageError(f"presence: {error!r}") from error
        return bool(live)

    async def gone(self, process_ids: Sequence[int]) -> set[int]:
        async with self._in_use:
            if self._conn is None or self._conn.is_closed():
                raise StorageError("presence: not connected")
            try:
                held = await self._conn.fetch(
                    f"SELECT objid::bigint AS id FROM pg_locks WHERE {_THIS_DATABASE_LOCKS}",
                    timeout=COMMAND_TIMEOUT_SECONDS,
                )
            except DATABASE_ERRORS as error:
                raise StorageError(f"presence: {error!r}") from error
        return set(process_ids) - {row["id"] for row in held}

    async def close(self) -> None:
        await self._close()

    async def _connect(self) -> bool:
        """Connect and take the lock; False if it is held (by this process's former session,
        which the server has not seen end yet: the next renewal tries again)."""
        conn = await asyncpg.connect(self._url, timeout=CONNECT_TIMEOUT_SECONDS)
        locked = await conn.fetchval(
            "SELECT pg_try_advisory_lock($1, $2)", LOCK_SPACE, self._id, timeout=5
        )
        if not locked:
            await conn.close()
            return False
        self._conn = conn
        return True

    async def _close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None and not conn.is_closed():
            conn.terminate()


class PostgresStore:
    """`Store` on a PostgreSQL database; migrated when made."""

    def __init__(self, url: str, pool_max: int = POOL_MAX) -> None:
        self._url = url
        self._pool_max = pool_max
        self._pool: ConnectionPool | None = None
        self._status_changes: GroupedStatement | None = None  # with the pool
        self._known: Known = {}
        self._turns = Turns()
        self.on_commit: CommitObserver = ignore_commit
        run_sync(self._migrate())

    async def open(self) -> None:
        pool = ConnectionPool(self._connect, self._pool_max, ACQUIRE_TIMEOUT_SECONDS)
        try:
            await pool.fill(POOL_MIN)
        except DATABASE_ERRORS as error:
            pool.terminate()
            raise StorageError(f"cannot reach the database: {error!r}") from error
        self._pool = pool
        self._status_changes = GroupedStatement(
            pool,
            STATUS_CHANGE,
            status_change_order,
            lambda seconds, units: self.on_commit(seconds, units),
        )

    async def write(self, work: Work[T]) -> T:
        pool = self._ready()
        turn = Turn(self._turns)
        try:
            return await self._fast_or_ordinary(pool, turn, work)
        finally:
            turn.end()

    async def _fast_or_ordinary(self, pool: ConnectionPool, turn: Turn, work: Work[T]) -> T:
        try:
            if done := await self._fast(pool, turn, work):
                return done[0]
        except asyncpg.UniqueViolationError as error:
            raise Conflict(str(error)) from error
        except DATABASE_ERRORS as error:
            raise StorageError(f"database: {error!r}") from error
        for attempt_number in range(RETRIES + 1):
            try:
                began = time.perf_counter()
                async with pool.connection() as conn, conn.transaction():
                    result = await work(PostgresTx(conn, locking=True, known=self._known))
                self.on_commit(time.perf_counter() - began, 1)
                return result
            except RETRIED as error:
                if attempt_number == RETRIES:
                    raise StorageError(f"gave up after {RETRIES} retries: {error}") from error
                log.info("unit of work retried after %s", type(error).__name__)
            except asyncpg.UniqueViolationError as error:
                raise Conflict(str(error)) from error
            except DATABASE_ERRORS as error:
                raise StorageError(f"database: {error!r}") from error
        raise AssertionError("unreachable")

    async def _fast(self, pool: ConnectionPool, turn: Turn, work: Work[T]) -> list[T]:
        """The unit as a status change in two round trips (one, on remembered state), in its
        recording's turn: its result, if it was one (storage/postgres_fast.py); nothing if not."""
        assert self._status_changes is not None
        for known in (self._known, None):
            attempt = FastStatusChange(pool, self._status_changes, turn, known)
            try:
                result = await work(attempt)
                if await attempt.commit(self._known):
                    return [result]
            except (Unsupported, *RETRIED):
                return []  # not a status change (or it lost a race)
            except Exception:
                if attempt.remembered is None:
                    raise  # the unit's own answer, on what the database says
            if attempt.remembered is None:
                return []  # it changed since the read: the ordinary way
            self._known.pop(attempt.remembered, None)  # remembered wrong: read it
        return []

    async def read(self, work: Work[T]) -> T:
        pool = self._ready()
        try:
            async with pool.connection() as conn:
                return await work(PostgresTx(conn, locking=False))
        except DATABASE_ERRORS as error:
            raise StorageError(f"database: {error!r}") from error

    def presence(self) -> PostgresPresence:
        return PostgresPresence(self._url)

    def run_now(self, work: Work[T]) -> T:
        async def once() -> T:
            conn = await self._connect()
            try:
                async with conn.transaction():
                    return await work(PostgresTx(conn, locking=True))
            finally:
                await conn.close()

        return run_sync(_storage_errors(once()))

    async def close(self) -> None:
        pool, self._pool = self._pool, None
        if pool is None:
            return
        try:
            await asyncio.wait_for(pool.close(), COMMAND_TIMEOUT_SECONDS)
        except (TimeoutError, *DATABASE_ERRORS):
            pool.terminate()

    def _ready(self) -> ConnectionPool:
        if self._pool is None:
            raise StorageError("the store is not open")
        return self._pool

    async def _connect(self) -> asyncpg.Connection:
        conn: asyncpg.Connection = await asyncpg.connect(
            self._url, timeout=CONNECT_TIMEOUT_SECONDS, command_timeout=COMMAND_TIMEOUT_SECONDS
        )
        return conn

    async def _migrate(self) -> None:
        """Apply, in order and each once, the migrations not yet applied; processes that start
        together wait for each other on an advisory lock."""
        try:
            conn = await self._connect()
        except DATABASE_ERRORS as error:
            raise StorageError(f"cannot reach the database: {error!r}") from error
        try:
            await conn.execute("SELECT pg_advisory_lock($1, $2)", LOCK_SPACE, MIGRATION_LOCK)
            await conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations (name TEXT PRIMARY KEY)"
            )
            done = {row["name"] for row in await conn.fetch("SELECT name FROM schema_migrations")}
            for name, statements in migrations("postgresql"):
                if name in done:
                    continue
                log.info("applying migration %s", name)
                async with conn.transaction():
                    for statement in statements:
                        await conn.execute(statement)
                    await conn.execute("INSERT INTO schema_migrations (name) VALUES ($1)", name)
        except DATABASE_ERRORS as error:
            raise StorageError(f"migrating the database: {error!r}") from error
        finally:
            await conn.close()  # and with the session, the lock


async def _storage_errors(work: Awaitable[T]) -> T:
    try:
        return await work
    except asyncpg.UniqueViolationError as error:
        raise Conflict(str(error)) from error
    except DATABASE_ERRORS as error:
        raise StorageError(f"database: {error!r}") from error


def run_sync(work: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to its end from synchronous code (the CLI, start-up), in a thread of its
    own if this one already runs an event loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(work)
    outcome: list[T] = []
    failure: list[BaseException] = []

    def run() -> None:
        try:
            outcome.append(asyncio.run(work))
        except BaseException as error:  # handed to the caller's thread
            failure.append(error)

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    if failure:
        raise failure[0]
    return outcome[0]
