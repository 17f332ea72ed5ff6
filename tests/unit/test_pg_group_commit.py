"""Group commit on PostgreSQL (storage/pg_group_commit.py), against a real server: executions
asked for together are one transaction, each answered its own row; while groups are out the next
ones gather; a refused group gives each unit the answer it would have had alone; a lost
connection fails its group's units and no other."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from typing import Any

import asyncpg
import pytest

from callrec.storage.pg_group_commit import GroupedStatement, Params
from callrec.storage.pg_pool import ConnectionPool
from tests.support.postgres import PostgresServer

Connect = Callable[[], Awaitable[asyncpg.Connection]]
#: Each execution answers the transaction it ran in and its own order in the whole run.
NOTE = (
    "INSERT INTO notes (key, n) VALUES ($1, $2)"
    " RETURNING txid_current() AS tx, nextval('seen') AS seen, n"
)


@pytest.fixture
def connect(postgres: PostgresServer) -> Connect:
    url = postgres.create_database()

    async def create() -> None:
        conn = await asyncpg.connect(url)
        await conn.execute("CREATE TABLE notes (key TEXT PRIMARY KEY, n INTEGER)")
        await conn.execute("CREATE SEQUENCE seen")
        await conn.close()

    asyncio.run(create())
    return lambda: asyncpg.connect(url)


def _run(test: Callable[[], Coroutine[Any, Any, None]]) -> None:
    asyncio.run(test())


def _by_key(params: Params) -> str:
    return str(params[0])


def _notes(
    pool: ConnectionPool, in_flight: int = 2, commits: list[int] | None = None
) -> GroupedStatement:
    """The statement, grouped; each commit's number of executions added to `commits`."""

    def committed(_: float, executions: int) -> None:
        if commits is not None:
            commits.append(executions)

    return GroupedStatement(pool, NOTE, _by_key, committed, in_flight)


async def _stored(connect: Connect) -> dict[str, int]:
    conn = await connect()
    rows = await conn.fetch("SELECT key, n FROM notes")
    await conn.close()
    return {row["key"]: row["n"] for row in rows}


@contextlib.asynccontextmanager
async def _locked(connect: Connect) -> AsyncIterator[asyncpg.Connection]:
    """Another session holding the notes table until it commits: groups wait at the server."""
    blocker = await connect()
    try:
        await blocker.execute("BEGIN; LOCK TABLE notes")
        yield blocker
    finally:
        await blocker.close()


def test_executions_asked_for_together_are_one_commit_each_answered_its_own_row(
    connect: Connect,
) -> None:
    async def test() -> None:
        pool = ConnectionPool(connect, size=4, wait=1)
        commits: list[int] = []
        notes = _notes(pool, commits=commits)
        rows = await asyncio.gather(*(notes.run((f"k{n:02}", n)) for n in range(30)))
        assert [row["n"] for row in rows] == list(range(30))
        assert len({row["tx"] for row in rows}) == 1  # one transaction, one commit
        assert commits == [30]  # as the metrics have it
        assert await _stored(connect) == {f"k{n:02}": n for n in range(30)}
        await pool.close()

    _run(test)


def test_a_group_runs_in_its_keys_order_whatever_the_order_asked(connect: Connect) -> None:
    """Every group locks its rows in one order, so two groups never wait on each other in a
    circle (one process's, or two processes')."""

    async def test() -> None:
        pool = ConnectionPool(connect, size=2, wait=1)
        notes = _notes(pool)
        rows = await asyncio.gather(*(notes.run((key, 0)) for key in ("c", "a", "d", "b")))
        seen = {key: row["seen"] for key, row in zip("cadb", rows, strict=True)}
        assert sorted(seen, key=seen.__getitem__) == ["a", "b", "c", "d"]
        await pool.close()

    _run(test)


def test_while_groups_are_out_the_next_executions_gather_and_leave_together(
    connect: Connect,
) -> None:
    async def test() -> None:
        pool = ConnectionPool(connect, size=4, wait=1)
        notes = _notes(pool, in_flight=1)
        async with _locked(connect) as blocker:  # the first group waits at the server
            first = asyncio.create_task(notes.run(("first", 0)))
            await asyncio.sleep(0.2)
            later = [asyncio.create_task(notes.run((f"later{n}", n))) for n in range(5)]
            for n in range(5, 10):  # asked for over several turns of the loop
                await asyncio.sleep(0.01)
                later.append(asyncio.create_task(notes.run((f"later{n}", n))))
            await asyncio.sleep(0.1)
            assert not first.done()
            assert not any(task.done() for task in later)
            await blocker.execute("COMMIT")
        first_row, *later_rows = await asyncio.gather(first, *later)
        assert len({row["tx"] for row in later_rows}) == 1
        assert first_row["tx"] != later_rows[0]["tx"]
        assert [row["n"] for row in later_rows] == list(range(10))
        await pool.close()

    _run(test)


def test_a_unit_that_gave_up_before_its_group_left_is_not_executed(connect: Connect) -> None:
    async def test() -> None:
        pool = ConnectionPool(connect, size=2, wait=1)
        notes = _notes(pool, in_flight=1)
        async with _locked(connect) as blocker:
            first = asyncio.create_task(notes.run(("first", 0)))
            await asyncio.sleep(0.1)
            gone = asyncio.create_task(notes.run(("gone", 1)))
            kept = asyncio.create_task(notes.run(("kept", 2)))
            await asyncio.sleep(0.1)
            gone.cancel()
            await blocker.execute("COMMIT")
        await asyncio.gather(first, kept)
        assert await _stored(connect) == {"first": 0, "kept": 2}
        await pool.close()

    _run(test)


def test_a_refused_group_gives_each_unit_the_answer_it_would_have_had_alone(
    connect: Connect,
) -> None:
    async def test() -> None:
        pool = ConnectionPool(connect, size=2, wait=1)
        commits: list[int] = []
        notes = _notes(pool, commits=commits)
        await notes.run(("taken", 0))
        answers = await asyncio.gather(
            *(notes.run((key, n)) for n, key in enumerate(["a", "taken", "b", "c"], start=1)),
            return_exceptions=True,
        )
        assert isinstance(answers[1], asyncpg.UniqueViolationError)
        assert [answer["n"] for answer in answers if isinstance(answer, asyncpg.Record)] == [
            1,
            3,
            4,
        ]
        assert await _stored(connect) == {"taken": 0, "a": 1, "b": 3, "c": 4}
        assert commits == [1, 1, 1, 1]  # "taken" first, then a, b and c each alone
        await pool.close()

    _run(test)


def test_a_group_whose_connection_is_lost_fails_its_units_and_the_next_one_succeeds(
    connect: Connect,
) -> None:
    async def test() -> None:
        pool = ConnectionPool(connect, size=2, wait=1)
        notes = _notes(pool, in_flight=1)
        async with _locked(connect) as blocker:
            lost = [asyncio.create_task(notes.run((f"lost{n}", n))) for n in range(3)]
            waiting = await _waiting_backend(connect)
            assert await blocker.fetchval("SELECT pg_terminate_backend($1)", waiting)
            for task in lost:
                with pytest.raises((asyncpg.PostgresError, asyncpg.InterfaceError)):
                    await task
            await blocker.execute("COMMIT")
        assert (await notes.run(("after", 7)))["n"] == 7  # on a new connection
        assert await _stored(connect) == {"after": 7}
        await pool.close()

    _run(test)


async def _waiting_backend(connect: Connect) -> int:
    """The backend waiting for a lock (the group), once it is."""
    conn = await connect()
    try:
        for _ in range(100):
            pid = await conn.fetchval(
                "SELECT pid FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
                " AND datname = current_database()"
            )
            if pid is not None:
                return int(pid)
            await asyncio.sleep(0.02)
        raise AssertionError("no group waited for the lock")
    finally:
        await conn.close()
