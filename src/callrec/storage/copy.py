"""`callrec copy`: a deployment's database moved to another backend (SQLite <-> PostgreSQL), every
row of every table with its id, into an empty target, in one transaction.

The source is read in one snapshot and never written (SQLite: opened read-only, one read
transaction; PostgreSQL: a read-only REPEATABLE READ transaction). Neither side may have a
server running. The processes are copied too: live calls, stopped recordings and callbacks name
the process that was running them, and the first server on the target finds those processes
gone and takes their work over, as after a crash. The audio and the key are not in the
database: they stay in the data directory, which the target deployment shares."""

from __future__ import annotations

import contextlib
import fcntl
import sqlite3
from collections.abc import AsyncIterator, Iterator, Sequence
from pathlib import Path
from typing import Any, Protocol

import asyncpg

from callrec.storage import postgres as pg
from callrec.storage.base import StorageError
from callrec.storage.factory import DATABASE_FILE, is_postgres, open_store
from callrec.storage.sqlite import connect

Rows = list[tuple[Any, ...]]
Batch = tuple[Sequence[str], Rows]  # column names, rows
BATCH_ROWS = 1000

_ACCOUNTS_PARENTS_FIRST = (
    "WITH RECURSIVE tree (sid, depth) AS ("
    " SELECT sid, 0 FROM accounts WHERE parent_sid IS NULL"
    " UNION ALL"
    " SELECT a.sid, t.depth + 1 FROM accounts AS a JOIN tree AS t ON a.parent_sid = t.sid"
    ") SELECT accounts.* FROM accounts JOIN tree ON accounts.sid = tree.sid"
    " ORDER BY tree.depth, accounts.sid"
)
#: Every table but schema_migrations (the target's own migrations fill it), each read in an
#: order its foreign keys accept. Recordings go in without their last event (it is not there
#: yet) and are linked to it at the end; an event's previous one always has a smaller id.
PLAN = (
    ("processes", "SELECT * FROM processes ORDER BY id"),
    ("accounts", _ACCOUNTS_PARENTS_FIRST),
    ("credentials", "SELECT * FROM credentials ORDER BY sid"),
    ("public_keys", "SELECT * FROM public_keys ORDER BY id"),
    ("phone_numbers", "SELECT * FROM phone_numbers ORDER BY id"),
    ("calls", "SELECT * FROM calls ORDER BY id"),
    ("call_audio", "SELECT * FROM call_audio ORDER BY id"),
    ("recordings", "SELECT * FROM recordings ORDER BY id"),
    ("recording_events", "SELECT * FROM recording_events ORDER BY id"),
    ("callbacks", "SELECT * FROM callbacks ORDER BY id"),
)
HELD = [table for table, _ in PLAN if table != "processes"]  # what makes a target not empty
_MIGRATIONS = "SELECT name FROM schema_migrations"
_LINKS = "SELECT last_event_id, id FROM recordings WHERE last_event_id IS NOT NULL ORDER BY id"
_LINK = "UPDATE recordings SET last_event_id = ? WHERE id = ?"
#: Tables whose PostgreSQL identity must go past the ids copied, so that new rows do not collide.
IDENTITIES = (
    "processes", "public_keys", "phone_numbers", "calls", "call_audio", "recordings",
    "recording_events", "callbacks",
)  # fmt: skip
#: Running servers' presence locks in this database, as PostgresPresence takes them (objid 0 is
#: the migration lock, held for a moment by any process that starts).
_SERVERS = (
    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND classid = $1"
    " AND objsubid = 2 AND objid <> 0 AND granted"
    " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
)


class CannotCopy(Exception):
    """The copy was refused: nothing was copied."""


def copy_database(source: str, target: str) -> dict[str, int]:
    """Copy `source` into the empty `target` (each a postgresql:// URL or a data directory, whose
    SQLite database is made if missing); rows copied by table."""
    if _where(source) == _where(target):
        raise CannotCopy("--from and --to name the same database")
    if not is_postgres(source) and not (Path(source) / DATABASE_FILE).is_file():
        raise CannotCopy(f"no callrec database in {source}")
    try:
        return pg.run_sync(_copy_between(source, target))
    except (sqlite3.Error, *pg.DATABASE_ERRORS) as error:
        raise StorageError(f"copy failed, nothing was copied: {error}") from error


def _where(place: str) -> tuple[str | None, Path]:
    if is_postgres(place):
        return place, Path()
    if "://" in place:
        raise CannotCopy(f"{place.partition(':')[0]}: not a postgresql:// URL, nor a directory")
    return None, Path(place).resolve()


async def _copy_between(source: str, target: str) -> dict[str, int]:
    """The source in one read-only snapshot, the target in one write transaction."""
    reading, writing = (_postgres if is_postgres(at) else _sqlite for at in (source, target))
    async with reading(source, "source") as reader:
        open_store(*_where(target))  # made and migrated as a server would
        async with writing(target, "target") as writer:
            return await _copy(reader, writer)


async def _copy(source: _Side, target: _Side) -> dict[str, int]:
    theirs, ours = await _column(source, _MIGRATIONS), await _column(target, _MIGRATIONS)
    if set(theirs) != set(ours):
        older = set(theirs) < set(ours)
        how = "older: run `callrec migrate` on it first" if older else "newer than this callrec"
        raise CannotCopy(f"the source's schema is {how}")
    held = {table: (await _column(target, f"SELECT count(*) FROM {table}"))[0] for table in HELD}
    if any(held.values()):
        listed = ", ".join(f"{count} {table}" for table, count in held.items() if count)
        raise CannotCopy(f"the target already holds {listed}: copy only into an empty database")
    await target.run("DELETE FROM processes")  # the migrations' stand-in for what ran before
    copied = {}
    for table, query in PLAN:
        copied[table] = 0
        async for columns, rows in source.batches(query):
            if table == "recordings":
                at = list(columns).index("last_event_id")
                rows = [(*row[:at], None, *row[at + 1 :]) for row in rows]
            await target.insert(table, columns, rows)
            copied[table] += len(rows)
    async for _, links in source.batches(_LINKS):
        await target.run(_LINK, links)
    await target.finish()
    return copied


async def _column(side: _Side, query: str) -> list[Any]:
    return [row[0] async for _, rows in side.batches(query) for row in rows]


class _Side(Protocol):
    """One database, inside the copy's transaction on it."""

    def batches(self, query: str) -> AsyncIterator[Batch]: ...
    async def insert(self, table: str, columns: Sequence[str], rows: Rows) -> None: ...
    async def run(self, sql: str, rows: Rows | None = None) -> None: ...
    async def finish(self) -> None: ...


class _Sqlite:
    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    async def batches(self, query: str) -> AsyncIterator[Batch]:
        cursor = self._conn.execute(query)
        columns = [column[0] for column in cursor.description]
        while rows := cursor.fetchmany(BATCH_ROWS):
            yield columns, [tuple(row) for row in rows]

    async def insert(self, table: str, columns: Sequence[str], rows: Rows) -> None:
        marks = ", ".join("?" * len(columns))
        self._conn.executemany(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})", rows)

    async def run(self, sql: str, rows: Rows | None = None) -> None:
        self._conn.executemany(sql, rows or [()])

    async def finish(self) -> None:
        """Nothing: a new row's id is one more than the largest there."""


class _Postgres:
    def __init__(self, conn: asyncpg.Connection) -> None:
        self._conn = conn

    async def batches(self, query: str) -> AsyncIterator[Batch]:
        cursor = await self._conn.cursor(query)
        while rows := await cursor.fetch(BATCH_ROWS):
            yield list(rows[0].keys()), [tuple(row) for row in rows]

    async def insert(self, table: str, columns: Sequence[str], rows: Rows) -> None:
        await self._conn.copy_records_to_table(table, records=rows, columns=list(columns))

    async def run(self, sql: str, rows: Rows | None = None) -> None:
        await self._conn.executemany(pg.numbered(sql), rows or [()])

    async def finish(self) -> None:
        for table in IDENTITIES:  # setval(…, NULL) of an empty table changes nothing
            await self._conn.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), max(id)) FROM {table}"
            )


@contextlib.asynccontextmanager
async def _postgres(url: str, role: str) -> AsyncIterator[_Side]:
    conn = await asyncpg.connect(url, timeout=pg.CONNECT_TIMEOUT_SECONDS)
    try:
        if await conn.fetchval(_SERVERS, pg.LOCK_SPACE):
            raise CannotCopy(f"a callrec server is running on the {role}: stop it first")
        snapshot = conn.transaction(isolation="repeatable_read", readonly=True)
        async with snapshot if role == "source" else conn.transaction():
            yield _Postgres(conn)
    finally:
        await conn.close()


@contextlib.asynccontextmanager
async def _sqlite(data_dir: str, role: str) -> AsyncIterator[_Side]:
    database, writing = Path(data_dir) / DATABASE_FILE, role == "target"
    with _server_lock(database, role), contextlib.closing(_connect(database, writing)) as conn:
        conn.execute("BEGIN IMMEDIATE" if writing else "BEGIN")
        try:
            yield _Sqlite(conn)
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT" if writing else "ROLLBACK")


def _connect(database: Path, writing: bool) -> sqlite3.Connection:
    if writing:
        return connect(database)
    read_only = database.resolve().as_uri() + "?mode=ro"
    return sqlite3.connect(read_only, uri=True, isolation_level=None)


@contextlib.contextmanager
def _server_lock(database: Path, role: str) -> Iterator[None]:
    """The lock a server holds on its SQLite database (SqlitePresence), held for the copy so
    that none starts meanwhile; the source's only if a server has made it."""
    path = database.with_name(database.name + ".server-lock")
    if role == "source" and not path.exists():
        yield
        return
    with path.open("ab" if role == "target" else "rb") as file:
        try:
            fcntl.flock(file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise CannotCopy(f"a callrec server is running on the {role}: stop it first") from None
        yield
