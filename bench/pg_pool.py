"""Benchmark: what lending a connection costs a unit of work — asyncpg's Pool against callrec's
ConnectionPool (storage/pg_pool.py).

Each unit borrows a connection, runs one statement (`SELECT 1`: the statement is the same for both,
only the lending differs) and gives the connection back. asyncpg's Pool is set up as callrec had it:
no reset query, its acquire under `asyncio.timeout`. Two loads: one unit at a time (the CPU of a
unit when nothing waits), and 50 units at once on 20 connections (the way a busy server uses it).
Client CPU is this process's (time.process_time) over the units run, pinned to CPU 0, the
throwaway cluster (tests/support/postgres.py) on CPU 1; uvloop. Rounds alternate the order.
Figures go to docs/BENCHMARKS.md.

    python bench/pg_pool.py [--units 20000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import asyncpg
import uvloop

from callrec.storage.pg_pool import ConnectionPool

sys.path[:0] = [str(Path(__file__).resolve().parent), str(Path(__file__).resolve().parent.parent)]
from tests.support.postgres import Cluster, cluster_processes  # noqa: E402
from update_recording import replace_section  # noqa: E402

HEADING = "## Lending a PostgreSQL connection: asyncpg's Pool against callrec's"
SIZE, WORKERS = 20, 50
Unit = Callable[[], Awaitable[object]]
Closer = Callable[[], Awaitable[None]]


async def _nothing(_: asyncpg.Connection) -> None:
    pass


async def asyncpg_pool(url: str) -> tuple[Unit, Closer]:
    pool = await asyncpg.create_pool(url, min_size=SIZE, max_size=SIZE, reset=_nothing)

    async def unit() -> object:
        async with asyncio.timeout(5):
            conn = await pool.acquire()
        try:
            return await conn.fetchval("SELECT 1")
        finally:
            await pool.release(conn)

    return unit, pool.close


async def callrec_pool(url: str) -> tuple[Unit, Closer]:
    pool = ConnectionPool(lambda: asyncpg.connect(url), SIZE, 5)
    await pool.fill(SIZE)

    async def unit() -> object:
        async with pool.connection() as conn:
            return await conn.fetchval("SELECT 1")

    return unit, pool.close


POOLS = {"asyncpg Pool": asyncpg_pool, "callrec ConnectionPool": callrec_pool}


async def measure(
    url: str, make: Callable[[str], Awaitable[tuple[Unit, Closer]]], units: int, workers: int
) -> float:
    """CPU µs a unit, with `workers` units at a time."""
    unit, close = await make(url)
    for _ in range(1000):  # warm: statements prepared on every connection
        await asyncio.gather(*(unit() for _ in range(workers)))
    each = units // workers
    cpu = time.process_time()

    async def worker() -> None:
        for _ in range(each):
            await unit()

    await asyncio.gather(*(worker() for _ in range(workers)))
    used = time.process_time() - cpu
    await close()
    return used / (each * workers) * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--units", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    os.sched_setaffinity(0, {0})
    figures: dict[tuple[str, int], list[float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        cluster = Cluster.start(Path(tmp))
        try:
            assert cluster.pid is not None
            for pid in cluster_processes(cluster.pid):
                os.sched_setaffinity(pid, {1})
            url = cluster.create_database()
            for number in range(args.rounds):
                names = list(POOLS) if number % 2 == 0 else list(reversed(POOLS))
                for name in names:
                    for workers in (1, WORKERS):
                        us = uvloop.run(measure(url, POOLS[name], args.units, workers))
                        figures.setdefault((name, workers), []).append(us)
                        print(
                            f"round {number + 1}: {name}, {workers} at once: {us:.1f} µs",
                            flush=True,
                        )
        finally:
            cluster.stop()
    rows = [
        "| pool | units at once | client CPU µs a unit (median) | every round |",
        "|---|---:|---:|---|",
    ]
    for (name, workers), values in figures.items():
        every = ", ".join(f"{v:.1f}" for v in values)
        rows.append(f"| {name} | {workers} | {statistics.median(values):.1f} | {every} |")
    stamp = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    section = "\n".join([
        f"{HEADING} — {stamp}",
        "",
        f"`python bench/pg_pool.py --units {args.units} --rounds {args.rounds}`: each unit"
        " borrows a connection, runs `SELECT 1` and gives it back; asyncpg's Pool as callrec had"
        f" it (no reset query, acquire under `asyncio.timeout`), {SIZE} connections; this"
        " process on CPU 0, the cluster on CPU 1, uvloop; rounds in alternating order. "
        f"x86_64, Python {platform.python_version()}.",
        "",
        *rows,
    ])  # fmt: skip
    print(section)
    replace_section(section, HEADING)


if __name__ == "__main__":
    main()
