"""The PostgreSQL store's connections: opened on demand up to a limit, lent to one unit of work at
a time, on the event loop's thread.

Not asyncpg's Pool: lending and taking back a connection there cost ~18 µs of CPU (a task for
every release, `asyncio.shield`; a proxy object for every loan; a queue of holders), so that a
one-statement unit took 42 to 44 µs of client CPU against 24 here (50 at once; bench/pg_pool.py,
docs/BENCHMARKS.md). Here a loan is a deque's pop when a connection is idle, and a future in a
queue when none is and no more may be opened. What a pool must also do, it does:

- A connection comes back usable only if its unit ended cleanly (or with an error PostgreSQL
  answered, after which its transaction was rolled back): a closed one, one still in a
  transaction, or one whose unit was cancelled or lost the connection (its state unknown) is
  terminated, and another is opened when next needed — so the store recovers by itself when the
  database is back.
- Waiters are served in order; one that gave up (its deadline) is skipped, and a connection
  handed to it as it gave up comes back.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable
from types import TracebackType

import asyncpg

from callrec.storage.base import StorageError

#: Errors after which a connection's state is unknown: it is not lent again.
_UNKNOWN_STATE = (asyncio.CancelledError, TimeoutError, asyncpg.InterfaceError, OSError)


class PoolClosed(StorageError):
    """The pool was closed while a unit waited for a connection."""


class ConnectionPool:
    """Up to `size` connections made by `connect`; a unit waits `wait` seconds at most for one."""

    def __init__(
        self, connect: Callable[[], Awaitable[asyncpg.Connection]], size: int, wait: float
    ) -> None:
        self._connect = connect
        self._size = size
        self._wait = wait  # seconds a unit waits for a connection when all are lent
        self._idle: deque[asyncpg.Connection] = deque()
        #: Units waiting: each is handed a connection, or None (room to open one).
        self._waiters: deque[asyncio.Future[asyncpg.Connection | None]] = deque()
        self._opened = 0  # open, lent or being opened
        self._closed = False

    async def fill(self, count: int) -> None:
        """Open `count` connections now (a store that cannot reach its database fails at start)."""
        for _ in range(count):
            self._release(await self._open(), reusable=True)

    def connection(self) -> Loan:
        """`async with pool.connection() as conn:` a connection, given back after."""
        return Loan(self)

    async def close(self) -> None:
        self._closed = True
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_exception(PoolClosed("the store is closing"))
        idle, self._idle = self._idle, deque()
        self._opened -= len(idle)
        await asyncio.gather(*(conn.close() for conn in idle), return_exceptions=True)

    def terminate(self) -> None:
        for conn in self._idle:
            conn.terminate()
        self._opened -= len(self._idle)
        self._idle.clear()

    async def _acquire(self) -> asyncpg.Connection:
        if self._closed:
            raise PoolClosed("the store is closed")
        conn = self._idle_one()
        if conn is not None:
            return conn  # the hot path: no await, no timer
        async with asyncio.timeout(self._wait):
            while True:
                if self._opened < self._size:
                    return await self._open()
                handed = await self._waiter()
                if handed is not None:
                    return handed

    def _idle_one(self) -> asyncpg.Connection | None:
        while self._idle:
            conn = self._idle.popleft()
            if not conn.is_closed():
                return conn
            self._opened -= 1  # the server closed it while it was idle
        return None

    async def _open(self) -> asyncpg.Connection:
        self._opened += 1
        try:
            return await self._connect()
        except BaseException:
            self._opened -= 1
            self._hand_on(None)  # a waiter may try instead
            raise

    async def _waiter(self) -> asyncpg.Connection | None:
        waiter: asyncio.Future[asyncpg.Connection | None]
        waiter = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            return await waiter
        except BaseException:
            if waiter.done() and not waiter.cancelled() and waiter.exception() is None:
                handed = waiter.result()  # handed over as this unit gave up: not lost
                if handed is not None:
                    self._release(handed, reusable=True)
                else:
                    self._hand_on(None)
            raise

    def _release(self, conn: asyncpg.Connection, reusable: bool) -> None:
        if self._closed or not reusable or conn.is_closed() or conn.is_in_transaction():
            conn.terminate()
            self._opened -= 1
            self._hand_on(None)
        else:
            self._hand_on(conn)

    def _hand_on(self, conn: asyncpg.Connection | None) -> None:
        """To the first unit still waiting: the connection, or room to open one (None); an
        unwanted connection goes idle."""
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(conn)
                return
        if conn is not None:
            self._idle.append(conn)


class Loan:
    """One unit's use of a connection (a class, not a generator-based context manager: this is
    every unit of work's path)."""

    __slots__ = ("_conn", "_pool")

    def __init__(self, pool: ConnectionPool) -> None:
        self._pool = pool
        self._conn: asyncpg.Connection | None = None

    async def __aenter__(self) -> asyncpg.Connection:
        self._conn = await self._pool._acquire()
        return self._conn

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        conn, self._conn = self._conn, None
        assert conn is not None
        self._pool._release(conn, reusable=not isinstance(error, _UNKNOWN_STATE))
