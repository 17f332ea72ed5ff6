"""The PostgreSQL store's connection pool, against a real server: loans in order, a full pool
queues (and gives up in time), and a connection whose state is unknown is never lent again."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

import asyncpg
import pytest

from callrec.storage.pg_pool import ConnectionPool, PoolClosed
from tests.support.postgres import PostgresServer

Connect = Callable[[], Awaitable[asyncpg.Connection]]


@pytest.fixture(scope="module")
def connect(postgres: PostgresServer) -> Connect:
    url = postgres.create_database()
    return lambda: asyncpg.connect(url)


def _run(test: Callable[[], Coroutine[Any, Any, None]]) -> None:
    asyncio.run(test())


def test_a_connection_given_back_is_lent_again(connect: Connect) -> None:
    async def test() -> None:
        pool = ConnectionPool(connect, size=2, wait=1)
        async with pool.connection() as first:
            pass
        async with pool.connection() as again:
            assert again is first
            assert await again.fetchval("SELECT 1") == 1
        await pool.close()

    _run(test)


def test_a_full_pool_queues_in_order_and_gives_up_in_time(connect: Connect) -> None:
    async def test() -> None:
        pool = ConnectionPool(connect, size=1, wait=0.5)
        served: list[int] = []

        async def unit(number: int, seconds: float) -> None:
            async with pool.connection() as conn:
                served.append(number)
                await conn.execute(f"SELECT pg_sleep({seconds})")

        first = asyncio.create_task(unit(1, 0.2))
        await asyncio.sleep(0.05)
        waiting = [asyncio.create_task(unit(n, 0)) for n in (2, 3)]
        await asyncio.gather(first, *waiting)
        assert served == [1, 2, 3]

        hog = asyncio.create_task(unit(4, 1.0))
        await asyncio.sleep(0.05)
        with pytest.raises(TimeoutError):
            await unit(5, 0)  # waited 0.5 s for the one connection, then gave up
        await hog
        await unit(6, 0)  # nothing was lost to the unit that gave up
        assert served == [1, 2, 3, 4, 6]
        await pool.close()

    _run(test)


def test_a_connection_in_an_unknown_state_is_not_lent_again(connect: Connect) -> None:
    async def test() -> None:
        pool = ConnectionPool(connect, size=1, wait=1)
        cancelled: list[asyncpg.Connection] = []

        async def cut_short() -> None:
            async with pool.connection() as conn, asyncio.timeout(0.1):
                cancelled.append(conn)
                await conn.execute("SELECT pg_sleep(5)")

        with pytest.raises(TimeoutError):
            await cut_short()
        async with pool.connection() as conn:
            assert conn is not cancelled[0]
            assert cancelled[0].is_closed()
            assert await conn.fetchval("SELECT 1") == 1

        failed: list[asyncpg.Connection] = []

        async def divide() -> None:
            async with pool.connection() as conn, conn.transaction():
                failed.append(conn)
                await conn.execute("SELECT 1 / 0")

        with pytest.raises(asyncpg.DivisionByZeroError):
            await divide()
        async with pool.connection() as conn:
            assert conn is failed[0]  # PostgreSQL answered, the transaction rolled back: usable
        await pool.close()

    _run(test)


def test_a_connection_the_server_closed_is_replaced(connect: Connect) -> None:
    async def test() -> None:
        pool = ConnectionPool(connect, size=1, wait=1)
        async with pool.connection() as conn:
            pid = conn.get_server_pid()
        admin = await connect()
        try:
            await admin.execute("SELECT pg_terminate_backend($1)", pid)
        finally:
            await admin.close()
        for _ in range(50):  # the idle connection sees its socket close
            if conn.is_closed():
                break
            await asyncio.sleep(0.02)
        async with pool.connection() as fresh:
            assert fresh.get_server_pid() != pid
        await pool.close()

    _run(test)


def test_a_closed_pool_lends_nothing_and_its_waiters_hear_so(connect: Connect) -> None:
    async def test() -> None:
        pool = ConnectionPool(connect, size=1, wait=5)
        async with pool.connection():
            waiter = asyncio.create_task(pool.connection().__aenter__())
            await asyncio.sleep(0.05)
            await pool.close()
            with pytest.raises(PoolClosed):
                await waiter
        with pytest.raises(PoolClosed):
            async with pool.connection():
                pass

    _run(test)


def test_a_connection_handed_to_a_unit_as_it_gives_up_comes_back(connect: Connect) -> None:
    async def test() -> None:
        pool = ConnectionPool(connect, size=1, wait=5)
        loan = pool.connection()
        await loan.__aenter__()
        waiter = asyncio.create_task(pool.connection().__aenter__())
        await asyncio.sleep(0.05)  # waiting for the one connection
        await loan.__aexit__(None, None, None)  # handed to the waiter...
        waiter.cancel()  # ...which gives up before it runs again
        with pytest.raises(asyncio.CancelledError):
            await waiter
        async with asyncio.timeout(1), pool.connection() as conn:  # not lost
            assert await conn.fetchval("SELECT 1") == 1
        await pool.close()

    _run(test)
