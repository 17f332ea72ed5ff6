"""SQLite store: one writer thread that group-commits, a small pool of reader threads.

Writes: every unit of work goes to the single writer thread. The writer takes all the units
waiting, runs them in one transaction, each inside its own SAVEPOINT, and commits once: one
fsync for the whole group. A unit that raises rolls back to its savepoint only, so one request's
failure never undoes another's update; every caller is answered only after the COMMIT that made
its change durable (WAL with synchronous=FULL). Units run one at a time, so read-check-write
inside a unit cannot race another writer.

Reads: a thread pool, one connection per thread, seeing the last committed state.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import sqlite3
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

from callrec.storage.base import StorageError, Tx
from callrec.storage.sqlite_tx import SqliteTx

T = TypeVar("T")
log = logging.getLogger(__name__)

#: Units of work committed together at most; bounds the latency one fsync adds to a group.
MAX_GROUP = 512
BUSY_TIMEOUT_MS = 10_000
READ_THREADS = 2


def connect(path: Path, same_thread: bool = True) -> sqlite3.Connection:
    # isolation_level=None: we issue BEGIN/COMMIT ourselves.
    conn = sqlite3.connect(
        path,
        isolation_level=None,
        timeout=BUSY_TIMEOUT_MS / 1000,
        check_same_thread=same_thread,
    )
    conn.row_factory = sqlite3.Row
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = FULL")
    conn.execute("PRAGMA foreign_keys = ON")
    conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    return conn


def migrate(conn: sqlite3.Connection) -> None:
    """Apply, in order and each once, the migrations not yet applied."""
    scripts = sorted(
        (entry.name, entry.read_text("utf-8"))
        for entry in resources.files("callrec.storage").joinpath("migrations/sqlite").iterdir()
        if entry.name.endswith(".sql")
    )
    conn.execute("BEGIN IMMEDIATE")
    try:
        conn.execute("CREATE TABLE IF NOT EXISTS schema_migrations (name TEXT PRIMARY KEY)")
        done = {row[0] for row in conn.execute("SELECT name FROM schema_migrations")}
        for name, script in scripts:
            if name in done:
                continue
            log.info("applying migration %s", name)
            for statement in script.split(";\n"):
                if statement.strip():
                    conn.execute(statement)
            conn.execute("INSERT INTO schema_migrations (name) VALUES (?)", (name,))
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


@dataclass(slots=True)
class _Job:
    work: Callable[[Tx], Any]
    future: asyncio.Future[Any]
    loop: asyncio.AbstractEventLoop
    outcome: tuple[bool, Any] = (False, None)  # (ok, result or exception)


def _settle(jobs: list[_Job]) -> None:
    for job in jobs:
        if job.future.done():  # the caller went away; the work is done all the same
            continue
        ok, value = job.outcome
        if ok:
            job.future.set_result(value)
        else:
            job.future.set_exception(value)


class SqliteStore:
    """`Store` on one SQLite file."""

    def __init__(self, path: Path) -> None:
        self._path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        with contextlib.closing(connect(path)) as conn:
            migrate(conn)
        self._queue: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        # Started on the first write, so that a CLI using only run_now() starts no thread.
        self._writer = threading.Thread(target=self._write_loop, name="sqlite-writer", daemon=True)
        self._writer_started = False
        self._local = threading.local()
        self._readers = ThreadPoolExecutor(READ_THREADS, thread_name_prefix="sqlite-reader")
        self._reader_conns: list[sqlite3.Connection] = []
        self._closed = False

    async def write(self, work: Callable[[Tx], T]) -> T:
        if self._closed:
            raise StorageError("the store is closed")
        if not self._writer_started:
            self._writer_started = True
            self._writer.start()
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._queue.put(_Job(work, future, loop))
        return await future

    async def read(self, work: Callable[[Tx], T]) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._readers, self._read_now, work)

    def run_now(self, work: Callable[[Tx], T]) -> T:
        with contextlib.closing(connect(self._path)) as conn, _transaction(conn):
            return work(SqliteTx(conn))

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._writer_started:
            self._queue.put(None)
            await asyncio.get_running_loop().run_in_executor(None, self._writer.join)
        self._readers.shutdown(wait=True)
        for conn in self._reader_conns:
            conn.close()

    def _read_now(self, work: Callable[[Tx], T]) -> T:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            # Used by this reader thread only; closed by close() once the pool has stopped.
            conn = connect(self._path, same_thread=False)
            conn.execute("PRAGMA query_only = ON")
            self._local.conn = conn
            self._reader_conns.append(conn)
        conn.execute("BEGIN")
        try:
            return work(SqliteTx(conn))
        finally:
            conn.execute("ROLLBACK")

    def _write_loop(self) -> None:
        conn = connect(self._path)
        tx = SqliteTx(conn)
        try:
            while True:
                first = self._queue.get()
                if first is None:
                    return
                jobs, stop = _drain(self._queue, first)
                self._commit_group(conn, tx, jobs)
                if stop:
                    return
        finally:
            conn.close()

    def _commit_group(self, conn: sqlite3.Connection, tx: SqliteTx, jobs: list[_Job]) -> None:
        try:
            conn.execute("BEGIN IMMEDIATE")
            for job in jobs:
                conn.execute("SAVEPOINT unit")
                try:
                    job.outcome = (True, job.work(tx))
                    conn.execute("RELEASE unit")
                except Exception as exc:  # the unit's own failure: undo it alone
                    conn.execute("ROLLBACK TO unit")
                    conn.execute("RELEASE unit")
                    job.outcome = (False, exc)
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            log.exception("group commit failed")
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            failure = StorageError(str(exc))
            for job in jobs:
                job.outcome = (False, failure)
        by_loop: dict[asyncio.AbstractEventLoop, list[_Job]] = {}
        for job in jobs:
            by_loop.setdefault(job.loop, []).append(job)
        for loop, settled in by_loop.items():
            with contextlib.suppress(RuntimeError):  # the loop closed while we worked
                loop.call_soon_threadsafe(_settle, settled)


def _drain(jobs_queue: queue.SimpleQueue[_Job | None], first: _Job) -> tuple[list[_Job], bool]:
    jobs = [first]
    while len(jobs) < MAX_GROUP:
        try:
            job = jobs_queue.get_nowait()
        except queue.Empty:
            break
        if job is None:
            return jobs, True
        jobs.append(job)
    return jobs, False


@contextlib.contextmanager
def _transaction(conn: sqlite3.Connection) -> Iterator[None]:
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
