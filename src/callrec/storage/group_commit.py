"""Group commit on SQLite without a writer thread to hand every request to.

Units of work run on the event loop's own thread, as many as are waiting, each inside its own
SAVEPOINT of one transaction; only the COMMIT — the fsync — goes to a helper thread, so the loop
never waits on the disk. While one group commits, the next gathers. A unit that raises is rolled
back to its savepoint alone: one request's failure never undoes another's change. Callers are
answered only after the COMMIT that made their change durable (WAL, synchronous=FULL).

Why not a writer thread: measured, handing each request across threads (a queue put that wakes
the writer, then a GIL hand-off back) cost more CPU than the SQL itself. Units are short and
their pages are in memory, so running them on the loop blocks it for microseconds.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from callrec.storage.base import Conflict, StorageError, Work
from callrec.storage.sqlite_tx import SqliteTx

T = TypeVar("T")
log = logging.getLogger(__name__)

#: Units committed together at most; bounds the time one group holds the loop.
MAX_GROUP = 256
#: How long a group waits for another process (the CLI) to release the write lock.
LOCK_WAIT_SECONDS = 10.0
LOCK_RETRY_SECONDS = 0.005

Job = tuple[Work[Any], "asyncio.Future[Any]"]


class GroupCommitter:
    def __init__(
        self,
        connect: Callable[[], sqlite3.Connection],
        on_commit: Callable[[float, int], None] = lambda seconds, units: None,
    ) -> None:
        self._connect = connect
        self._on_commit = on_commit
        self._conn: sqlite3.Connection | None = None
        self._pending: list[Job] = []
        self._drainer: asyncio.Task[None] | None = None
        self._committer = ThreadPoolExecutor(1, thread_name_prefix="sqlite-commit")

    async def submit(self, work: Work[T]) -> T:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._pending.append((work, future))
        if self._drainer is None:
            self._drainer = loop.create_task(self._drain())
        return await future

    async def close(self) -> None:
        if self._drainer is not None:
            await self._drainer
        self._committer.shutdown(wait=True)
        if self._conn is not None:
            self._conn.close()

    async def _drain(self) -> None:
        try:
            while self._pending:
                jobs = self._pending[:MAX_GROUP]
                del self._pending[:MAX_GROUP]
                await self._commit_group(jobs)
        finally:
            self._drainer = None

    async def _commit_group(self, jobs: list[Job]) -> None:
        if self._conn is None:
            self._conn = self._connect()
            self._conn.execute("PRAGMA busy_timeout = 0")  # never block the loop on a lock
        conn = self._conn
        outcomes: list[tuple[bool, Any]] = []
        try:
            await _begin(conn)
            tx = SqliteTx(conn)
            cursor = conn.cursor()
            outcomes = [_run_unit(cursor, tx, work) for work, _ in jobs]
            loop = asyncio.get_running_loop()
            began = time.perf_counter()
            await loop.run_in_executor(self._committer, conn.execute, "COMMIT")
            self._on_commit(time.perf_counter() - began, len(jobs))
        except sqlite3.Error as exc:
            log.exception("group commit failed")
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            outcomes = [(False, StorageError(str(exc)))] * len(jobs)
        for (_, future), (ok, value) in zip(jobs, outcomes, strict=True):
            if future.done():  # the caller went away; the work is done all the same
                continue
            if ok:
                future.set_result(value)
            else:
                future.set_exception(value)


async def _begin(conn: sqlite3.Connection) -> None:
    """BEGIN IMMEDIATE, waiting without blocking while another process holds the write lock."""
    deadline = time.monotonic() + LOCK_WAIT_SECONDS
    while True:
        try:
            conn.execute("BEGIN IMMEDIATE")
            return
        except sqlite3.OperationalError as exc:
            if exc.sqlite_errorcode != sqlite3.SQLITE_BUSY or time.monotonic() > deadline:
                raise
        await asyncio.sleep(LOCK_RETRY_SECONDS)


def conflict(error: Exception) -> Exception:
    """A unique key written twice is a Conflict, on SQLite as on PostgreSQL."""
    if isinstance(error, sqlite3.IntegrityError) and "UNIQUE" in str(error):
        return Conflict(str(error))
    return error


def run_to_end(awaitable: Awaitable[T]) -> T:
    """Run a unit of work on SQLite to its end, here and now.

    Units are coroutines because a networked store must wait on its server; SqliteTx never
    suspends, so the coroutine finishes in one step, on the calling thread, with nothing else
    running in between: units stay serialized as when they were plain functions. A unit that
    does suspend (it awaited something other than its Tx) is a bug, refused."""
    steps = awaitable.__await__()
    try:
        steps.send(None)
    except StopIteration as finished:
        result: T = finished.value
        return result
    steps.close()
    raise RuntimeError("a unit of work on SQLite awaited something other than its Tx")


def _run_unit(cursor: sqlite3.Cursor, tx: SqliteTx, work: Work[Any]) -> tuple[bool, Any]:
    cursor.execute("SAVEPOINT unit")
    try:
        result = run_to_end(work(tx))
    except Exception as exc:  # the unit's own failure: undo it alone
        cursor.execute("ROLLBACK TO unit")
        cursor.execute("RELEASE unit")
        return False, conflict(exc)
    cursor.execute("RELEASE unit")
    return True, result
