"""Group commit on PostgreSQL: one statement's executions, asked for by units side by side, sent
together — one round trip, one transaction, one commit (one WAL flush) for the lot.

The fast path's status change (storage/postgres_fast.py) is one statement. Sent alone, a
transaction by itself, at thousands of updates a second a round trip and a commit each were much
of what it cost on both sides (docs/BENCHMARKS.md, "UpdateCallRecording on PostgreSQL"). So the
units' executions wait while `IN_FLIGHT` groups are at the server, then leave together (asyncpg's
`fetchmany`: the extended protocol's Bind/Execute for each, then one Sync). When fewer are in
flight, a unit's execution leaves at the loop's next turn, with whatever was asked for in the same
turn: an idle server gets no wait added.

A group is atomic. If PostgreSQL refuses it (a deadlock, a serialization failure, a unique key),
every execution in it is run again by itself, so that each unit gets its own answer — exactly what
it would have got alone. If the connection fails, every unit in the group gets that failure (as
each would have alone). Executions go in the order of the rows they lock (`order`), as every
group does, so that two groups never wait on each other in a circle.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence

import asyncpg

from callrec.storage.pg_pool import ConnectionPool

#: Groups at the server at once: a unit waits for one of them to come back only when this many
#: are out (one, two and four measured: docs/BENCHMARKS.md, "UpdateCallRecording on PostgreSQL").
IN_FLIGHT = 2
#: Executions in one group at most.
MOST = 128

Params = Sequence[object]


class GroupedStatement:
    """Executions of `sql` (each answers one row), gathered into groups sent on `pool`'s
    connections."""

    def __init__(
        self,
        pool: ConnectionPool,
        sql: str,
        order: Callable[[Params], str],
        on_commit: Callable[[float, int], None] = lambda seconds, units: None,
        in_flight: int = IN_FLIGHT,
    ) -> None:
        self._pool = pool
        self._sql = sql
        self._order = order
        self._on_commit = on_commit  # a commit's seconds and its executions
        self._in_flight = in_flight
        self._asked: list[tuple[Params, asyncio.Future[asyncpg.Record]]] = []
        self._out = 0  # groups at the server
        self._leaving = False  # a group leaves at the loop's next turn
        self._groups: set[asyncio.Task[None]] = set()  # kept from the collector while out

    async def run(self, params: Params) -> asyncpg.Record:
        """Execute with `params`, in a group; the row it answers."""
        answer: asyncio.Future[asyncpg.Record] = asyncio.get_running_loop().create_future()
        self._asked.append((params, answer))
        if self._out < self._in_flight and not self._leaving:
            self._leaving = True
            asyncio.get_running_loop().call_soon(self._send)
        return await answer

    def _send(self) -> None:
        self._leaving = False
        if not self._asked or self._out >= self._in_flight:
            return
        group, self._asked = self._asked[:MOST], self._asked[MOST:]
        group = [asked for asked in group if not asked[1].done()]  # not those given up
        if not group:
            return self._send()
        group.sort(key=lambda asked: self._order(asked[0]))  # stable: one row's in asked order
        self._out += 1
        task = asyncio.get_running_loop().create_task(self._execute(group))
        self._groups.add(task)
        task.add_done_callback(self._groups.discard)

    async def _execute(self, group: list[tuple[Params, asyncio.Future[asyncpg.Record]]]) -> None:
        try:
            async with self._pool.connection() as conn:
                began = time.perf_counter()
                try:
                    rows = await conn.fetchmany(self._sql, [params for params, _ in group])
                except asyncpg.PostgresError:  # refused, rolled back: each by itself
                    for params, answer in group:
                        began = time.perf_counter()
                        if await _answer(answer, conn.fetchrow(self._sql, *params)):
                            self._on_commit(time.perf_counter() - began, 1)
                    return
                self._on_commit(time.perf_counter() - began, len(group))
            for (_, answer), row in zip(group, rows, strict=True):
                if not answer.done():
                    answer.set_result(row)
        except Exception as error:  # the connection: every unit of the group is told
            for _, answer in group:
                if not answer.done():
                    answer.set_exception(error)
        except BaseException:  # cancelled (the loop is closing): so are its units
            for _, answer in group:
                answer.cancel()
            raise
        finally:
            self._out -= 1
            if self._asked:
                self._send()


async def _answer(
    answer: asyncio.Future[asyncpg.Record], execution: Awaitable[asyncpg.Record | None]
) -> bool:
    """One execution's row or PostgreSQL's refusal, to its unit; whether it committed."""
    try:
        row = await execution
    except asyncpg.PostgresError as refusal:
        if not answer.done():
            answer.set_exception(refusal)
        return False
    if not answer.done():
        assert row is not None, "a grouped statement answers one row"
        answer.set_result(row)
    return True
