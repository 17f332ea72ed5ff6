"""SQLite store: group-committed writes, a small pool of reader threads, migrations.

Writes: `group_commit.GroupCommitter` runs units of work one at a time, many to a transaction,
each in its own savepoint, and answers each after the COMMIT that made it durable. Units run one
at a time, so a read-check-write inside a unit cannot race another write.

Reads: a thread pool, one connection per thread, seeing the last committed state.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import BinaryIO, TypeVar

from callrec.storage.base import CommitObserver, StorageError, Work, ignore_commit
from callrec.storage.group_commit import GroupCommitter, conflict, run_to_end
from callrec.storage.schema import migrations
from callrec.storage.sqlite_tx import SqliteTx

T = TypeVar("T")
log = logging.getLogger(__name__)

BUSY_TIMEOUT_MS = 10_000
READ_THREADS = 2


def _use_wal(conn: sqlite3.Connection) -> None:
    """Switch the database to WAL (a no-op once it is). Switching a new database takes a lock
    that SQLite does not wait for (no busy handler), so processes that create it together
    retry: seen as "database is locked" when four opened one new file at once."""
    deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            conn.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as error:
            if "locked" not in str(error) or time.monotonic() > deadline:
                raise
            time.sleep(0.01)


def connect(path: Path, same_thread: bool = True) -> sqlite3.Connection:
    # isolation_level=None: we issue BEGIN/COMMIT ourselves.
    conn = sqlite3.connect(
        path,
        isolation_level=None,
        timeout=BUSY_TIMEOUT_MS / 1000,
        check_same_thread=same_thread,
    )
    conn.row_factory = sqlite3.Row
    _use_wal(conn)
    conn.execute("PRAGMA synchronous = FULL")
    conn.execute("PRAGMA foreign_keys = ON")
    conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    return conn


def migrate(conn: sqlite3.Connection) -> None:
    """Apply, in order and each once, the migrations not yet applied."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        conn.execute("CREATE TABLE IF NOT EXISTS schema_migrations (name TEXT PRIMARY KEY)")
        done = {row[0] for row in conn.execute("SELECT name FROM schema_migrations")}
        for name, statements in migrations("sqlite"):
            if name in done:
                continue
            log.info("applying migration %s", name)
            for statement in statements:
                conn.execute(statement)
            conn.execute("INSERT INTO schema_migrations (name) VALUES (?)", (name,))
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


class SqlitePresence:
    """One server per SQLite database: an exclusive lock on a file beside it, held while the
    server runs (the kernel lets go of it when the process dies). Every other process that
    registered with this database has therefore ended. Several processes need PostgreSQL."""

    alone = True

    def __init__(self, database: Path) -> None:
        self._path = database.with_name(database.name + ".server-lock")
        self._file: BinaryIO | None = None

    async def join(self, process_id: int) -> None:
        file = self._path.open("wb")
        try:
            fcntl.flock(file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            file.close()
            raise StorageError(
                f"another callrec server is using {self._path.parent}: one server per SQLite"
                " database (several processes need --database postgresql://...)"
            ) from None
        self._file = file

    async def renew(self) -> bool:
        return self._file is not None

    async def gone(self, process_ids: Sequence[int]) -> set[int]:
        return set(process_ids)

    async def close(self) -> None:
        if self._file is not None:
            self._file.close()  # releases the lock
            self._file = None


class SqliteStore:
    """`Store` on one SQLite file."""

    def __init__(self, path: Path) -> None:
        self._path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        with contextlib.closing(connect(path)) as conn:
            migrate(conn)
        self.on_commit: CommitObserver = ignore_commit
        self._writer = GroupCommitter(
            lambda: connect(path, same_thread=False),
            lambda seconds, units: self.on_commit(seconds, units),
        )
        self._local = threading.local()
        self._readers = ThreadPoolExecutor(READ_THREADS, thread_name_prefix="sqlite-reader")
        self._reader_conns: list[sqlite3.Connection] = []
        self._closed = False

    async def open(self) -> None:
        """Nothing to do: the file was opened and migrated when the store was made."""

    async def write(self, work: Work[T]) -> T:
        if self._closed:
            raise StorageError("the store is closed")
        return await self._writer.submit(work)

    async def read(self, work: Work[T]) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._readers, self._read_now, work)

    def presence(self) -> SqlitePresence:
        return SqlitePresence(self._path)

    def run_now(self, work: Work[T]) -> T:
        try:
            with contextlib.closing(connect(self._path)) as conn, _transaction(conn):
                return run_to_end(work(SqliteTx(conn)))
        except sqlite3.IntegrityError as error:
            raise conflict(error) from error

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        await self._writer.close()
        self._readers.shutdown(wait=True)
        for conn in self._reader_conns:
            conn.close()

    def _read_now(self, work: Work[T]) -> T:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            # Used by this reader thread only; closed by close() once the pool has stopped.
            conn = connect(self._path, same_thread=False)
            conn.execute("PRAGMA query_only = ON")
            self._local.conn = conn
            self._reader_conns.append(conn)
        conn.execute("BEGIN")
        try:
            return run_to_end(work(SqliteTx(conn)))
        finally:
            conn.execute("ROLLBACK")


@contextlib.contextmanager
def _transaction(conn: sqlite3.Connection) -> Iterator[None]:
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
