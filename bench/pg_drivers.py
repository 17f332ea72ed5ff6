"""Benchmark: asyncpg against psycopg 3 on the shape of our hot path (UpdateCallRecording).

One transaction (READ COMMITTED): lock the recording and its call and read them; then, in one
statement, append an event to the recording's chain and move the recording to it; COMMIT. The
Python code sees the SELECT's row before it sends the write, as the service must (it decides the
change from it). Each variant: a pool of 16 connections, 50 workers on one event loop (uvloop, as
uvicorn runs callrec; `--loop asyncio` for the stock loop), a 1 s warm-up, then 10 s measured, on
a fresh database (1,000 calls, 1,000 recordings) on a throwaway cluster (tests/support/postgres.py)
with durable commits (fsync, synchronous_commit). Latency runs from asking the pool for a
connection to the COMMIT's answer. The cluster is pinned to CPU 0, this process to CPU 1.
Client CPU is this process's (time.process_time); server CPU is the cluster's processes' (from
/proc). Round trips per transaction are by design, checked by counting the client's socket reads
with strace -c (sends overcount them in pipeline mode, which sends each statement as queued).

The machine is a shared VM whose speed drifts, so the variants run in rounds, in reverse order
every other round; each round's figures are printed, then their mean. Results go to
bench/pg_drivers.md.

    python bench/pg_drivers.py [--seconds 10] [--rounds 2] [--loop uvloop|asyncio]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import os
import platform
import random
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import psycopg
import psycopg_pool
import uvloop

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.support.postgres import Cluster, External, cluster_processes, open_server

RESULTS = Path(__file__).resolve().parent / "pg_drivers.md"
POOL_CONNECTIONS = 16
WORKERS = 50
CALLS = 1_000
WARM_UP_SECONDS = 1.0
SERVER_CPU, CLIENT_CPU = 0, 1
CLOCK_TICKS_PER_SECOND = os.sysconf("SC_CLK_TCK")

SCHEMA = f"""
CREATE TABLE calls (id bigserial PRIMARY KEY, sid text UNIQUE NOT NULL, status text NOT NULL,
    start_time bigint NOT NULL, owner bigint NOT NULL);
CREATE TABLE recordings (id bigserial PRIMARY KEY, sid text UNIQUE NOT NULL,
    call_sid text NOT NULL, status text NOT NULL, updated_at bigint NOT NULL,
    pause_behavior text, last_event_id bigint);
CREATE TABLE recording_events (id bigserial PRIMARY KEY, recording_sid text NOT NULL,
    kind text NOT NULL, at bigint NOT NULL, prev_id bigint);
INSERT INTO calls (sid, status, start_time, owner)
    SELECT 'CA' || md5(g::text), 'in-progress', 0, g % 10 FROM generate_series(1, {CALLS}) g;
INSERT INTO recordings (sid, call_sid, status, updated_at, pause_behavior)
    SELECT 'RE' || md5(g::text), 'CA' || md5(g::text), 'in-progress', 0, 'skip'
    FROM generate_series(1, {CALLS}) g;
"""
SELECT = """SELECT r.sid, r.status, r.last_event_id, c.status, c.owner
FROM calls c JOIN recordings r ON r.call_sid = c.sid
WHERE r.sid = {sid} FOR KEY SHARE OF c FOR UPDATE OF r"""
WRITE = """WITH e AS (
    INSERT INTO recording_events (recording_sid, kind, at, prev_id)
    VALUES ({sid}, {kind}, {at}, {prev}) RETURNING id
)
UPDATE recordings SET status = {status}, updated_at = {at}, last_event_id = (SELECT id FROM e)
WHERE sid = {sid}"""
NAMES = ("sid", "kind", "at", "prev", "status")
# The same statements in each driver's placeholders: asyncpg's $n, psycopg's %(name)s.
SELECT_ASYNCPG = SELECT.format(sid="$1")
WRITE_ASYNCPG = WRITE.format(**{name: f"${i}" for i, name in enumerate(NAMES, 1)})
SELECT_PSYCOPG = SELECT.format(sid="%(sid)s")
WRITE_PSYCOPG = WRITE.format(**{name: f"%({name})s" for name in NAMES})

Transaction = Callable[[str], Awaitable[None]]
Opener = Callable[[str], contextlib.AbstractAsyncContextManager[Transaction]]


def change(sid: str, row: tuple[Any, ...]) -> dict[str, Any]:
    """The write's parameters, decided from the locked rows: pause if recording, else resume."""
    _, status, last_event_id, call_status, _ = row
    assert call_status == "in-progress", call_status
    paused = status == "in-progress"
    return {
        "sid": sid,
        "kind": "paused" if paused else "resumed",
        "at": time.time_ns() // 1_000,  # µs, as the service stores times
        "prev": last_event_id,
        "status": "paused" if paused else "in-progress",
    }


def literal(value: object) -> str:
    """A SQL literal (standard_conforming_strings is on), for the one-round-trip write+COMMIT."""
    if value is None:
        return "NULL"
    if isinstance(value, int):
        return str(value)
    return "'" + str(value).replace("'", "''") + "'"


async def _no_reset(connection: asyncpg.Connection) -> None:
    """Skip asyncpg's reset query on release (an extra round trip); we leave no session state."""


@contextlib.asynccontextmanager
async def asyncpg_pool(
    url: str,
    reset: bool,
    init: Callable[[asyncpg.Connection], Coroutine[Any, Any, None]] | None = None,
) -> AsyncIterator[asyncpg.Pool]:
    pool = await asyncpg.create_pool(
        url,
        min_size=POOL_CONNECTIONS,
        max_size=POOL_CONNECTIONS,
        reset=None if reset else _no_reset,
        init=init,
    )
    try:
        yield pool
    finally:
        await pool.close()


def asyncpg_transaction(reset: bool) -> Opener:
    """(a) asyncpg, `async with conn.transaction()`: BEGIN, SELECT, write, COMMIT."""

    @contextlib.asynccontextmanager
    async def open_(url: str) -> AsyncIterator[Transaction]:
        async with asyncpg_pool(url, reset) as pool:

            async def transaction(sid: str) -> None:
                async with pool.acquire() as conn, conn.transaction():
                    row = await conn.fetchrow(SELECT_ASYNCPG, sid)
                    assert row is not None
                    params = change(sid, tuple(row))
                    await conn.execute(WRITE_ASYNCPG, *(params[name] for name in NAMES))

            yield transaction

    return open_


async def _prepare_write(connection: asyncpg.Connection) -> None:
    """A server-side prepared write, for EXECUTE in a simple-protocol message."""
    await connection.execute(
        f"PREPARE callrec_write(text, text, bigint, bigint, text) AS {WRITE_ASYNCPG}"
    )


def asyncpg_write_with_commit(prepared: bool) -> Opener:
    """(d) asyncpg: BEGIN; SELECT; then the write and COMMIT in one simple-protocol message,
    the write's values inlined as literals (the simple protocol takes no parameters)."""

    @contextlib.asynccontextmanager
    async def open_(url: str) -> AsyncIterator[Transaction]:
        init = _prepare_write if prepared else None
        async with asyncpg_pool(url, reset=False, init=init) as pool:

            async def transaction(sid: str) -> None:
                async with pool.acquire() as conn:
                    await conn.execute("BEGIN")
                    try:
                        row = await conn.fetchrow(SELECT_ASYNCPG, sid)
                        assert row is not None
                        params = {k: literal(v) for k, v in change(sid, tuple(row)).items()}
                        if prepared:
                            values = ", ".join(params[name] for name in NAMES)
                            write = f"EXECUTE callrec_write({values})"
                        else:
                            write = WRITE.format(**params)
                        await conn.execute(f"{write};\nCOMMIT")
                    except BaseException:
                        if conn.is_in_transaction():
                            await conn.execute("ROLLBACK")
                        raise

            yield transaction

    return open_


@contextlib.asynccontextmanager
async def psycopg_pool_of(
    url: str, autocommit: bool
) -> AsyncIterator[psycopg_pool.AsyncConnectionPool]:
    pool = psycopg_pool.AsyncConnectionPool(
        url,
        min_size=POOL_CONNECTIONS,
        max_size=POOL_CONNECTIONS,
        kwargs={"autocommit": autocommit},
        open=False,
    )
    await pool.open(wait=True)
    try:
        yield pool
    finally:
        await pool.close()


@contextlib.asynccontextmanager
async def psycopg_plain(url: str) -> AsyncIterator[Transaction]:
    """(b) psycopg, autocommit off, `conn.transaction()`: BEGIN, SELECT, write, COMMIT."""
    async with psycopg_pool_of(url, autocommit=False) as pool:

        async def transaction(sid: str) -> None:
            async with pool.connection() as conn, conn.transaction():
                cursor = await conn.execute(SELECT_PSYCOPG, {"sid": sid})
                row = await cursor.fetchone()
                assert row is not None
                await conn.execute(WRITE_PSYCOPG, change(sid, row))

        yield transaction


@contextlib.asynccontextmanager
async def psycopg_pipeline(url: str) -> AsyncIterator[Transaction]:
    """(c) psycopg pipeline mode: BEGIN+SELECT in one round trip, write+COMMIT in the next."""
    # Autocommit, with BEGIN and COMMIT as statements: `conn.transaction()` inside a pipeline
    # syncs on entering and leaving, which costs the round trips the pipeline is there to save.
    async with psycopg_pool_of(url, autocommit=True) as pool:

        async def transaction(sid: str) -> None:
            async with pool.connection() as conn, conn.pipeline() as pipeline:
                await conn.execute("BEGIN")
                cursor = await conn.execute(SELECT_PSYCOPG, {"sid": sid})
                await pipeline.sync()
                row = await cursor.fetchone()
                assert row is not None
                await conn.execute(WRITE_PSYCOPG, change(sid, row))
                await conn.execute("COMMIT")
                # Leaving the pipeline sends it all with a Sync and waits for the COMMIT's answer.

        yield transaction


@dataclass(frozen=True)
class Variant:
    name: str
    round_trips: int
    open: Opener


VARIANTS = [
    Variant("(a) asyncpg, conn.transaction(), default pool", 5, asyncpg_transaction(reset=True)),
    Variant("(b) psycopg, conn.transaction()", 4, psycopg_plain),
    Variant("(a') asyncpg, conn.transaction(), no reset query", 4, asyncpg_transaction(False)),
    Variant("(c) psycopg, pipeline mode", 2, psycopg_pipeline),
    Variant("(d) asyncpg, write+COMMIT in one message", 3, asyncpg_write_with_commit(False)),
    Variant("(d') asyncpg, EXECUTE prepared write+COMMIT", 3, asyncpg_write_with_commit(True)),
]


@dataclass(frozen=True)
class Result:
    variant: Variant
    round: int
    transactions: int
    per_second: float
    p50_ms: float
    p99_ms: float
    client_cpu_per_1k: float
    server_cpu_per_1k: float | None


def server_cpu_seconds(postmaster: int | None) -> float:
    """CPU used by the cluster: its live processes, and the children its postmaster reaped."""
    if postmaster is None:
        return 0.0
    ticks = 0
    for pid in cluster_processes(postmaster):
        with contextlib.suppress(OSError):
            fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
            ticks += int(fields[11]) + int(fields[12])  # utime, stime
            if pid == postmaster:
                ticks += int(fields[13]) + int(fields[14])  # cutime, cstime
    return ticks / CLOCK_TICKS_PER_SECOND


async def measure(variant: Variant, url: str, seconds: float, postmaster: int | None) -> Result:
    """Run the variant's loop with WORKERS workers; measure after the warm-up."""
    sids = await _recording_sids(url)
    latencies: list[float] = []
    done = 0
    stopping = measuring = False
    async with variant.open(url) as transaction:

        async def worker() -> None:
            nonlocal done
            while not stopping:
                sid = random.choice(sids)
                started = time.perf_counter()
                await transaction(sid)
                done += 1
                if measuring:
                    latencies.append(time.perf_counter() - started)

        workers = [asyncio.create_task(worker()) for _ in range(WORKERS)]
        await asyncio.sleep(WARM_UP_SECONDS)
        measuring = True
        began, cpu, server = (
            time.perf_counter(),
            time.process_time(),
            server_cpu_seconds(postmaster),
        )
        await asyncio.sleep(seconds)
        measuring = False
        elapsed = time.perf_counter() - began
        cpu, server = time.process_time() - cpu, server_cpu_seconds(postmaster) - server
        stopping = True
        await asyncio.gather(*workers)
    events = await _fetchval(url, "SELECT count(*) FROM recording_events")
    assert events == done, f"{variant.name}: {done} transactions, {events} events"
    latencies.sort()
    count = len(latencies)
    return Result(
        variant,
        0,
        count,
        count / elapsed,
        latencies[count // 2] * 1000,
        latencies[int(count * 0.99)] * 1000,
        cpu / count * 1000,
        server / count * 1000 if postmaster is not None else None,
    )


async def _fetchval(url: str, query: str) -> Any:
    connection = await asyncpg.connect(url)
    try:
        return await connection.fetchval(query)
    finally:
        await connection.close()


async def _recording_sids(url: str) -> list[str]:
    connection = await asyncpg.connect(url)
    try:
        return [row[0] for row in await connection.fetch("SELECT sid FROM recordings")]
    finally:
        await connection.close()


async def _prepare(maintenance_url: str, url: str) -> None:
    connection = await asyncpg.connect(url)
    try:
        await connection.execute(SCHEMA)
        await connection.execute("VACUUM ANALYZE")  # not in the script: its own transaction
    finally:
        await connection.close()
    # Every run starts just after a checkpoint: the same full-page writes for each.
    connection = await asyncpg.connect(maintenance_url)
    try:
        await connection.execute("CHECKPOINT")
    finally:
        await connection.close()


def pin(cluster_pid: int | None) -> bool:
    """The cluster on CPU 0 (its backends, forked later, inherit it), this process on CPU 1."""
    if len(os.sched_getaffinity(0)) < 2:
        return False
    os.sched_setaffinity(0, {CLIENT_CPU})
    for pid in cluster_processes(cluster_pid) if cluster_pid else []:
        os.sched_setaffinity(pid, {SERVER_CPU})
    return True


def table(results: list[Result]) -> str:
    lines = [
        "| variant | round | round trips | tx/s | p50 ms | p99 ms "
        "| client CPU s / 1k tx | server CPU s / 1k tx |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        server = "n/a" if r.server_cpu_per_1k is None else f"{r.server_cpu_per_1k:.3f}"
        lines.append(
            f"| {r.variant.name} | {r.round or 'mean'} | {r.variant.round_trips} "
            f"| {r.per_second:,.0f} | {r.p50_ms:.2f} | {r.p99_ms:.2f} "
            f"| {r.client_cpu_per_1k:.3f} | {server} |"
        )
    return "\n".join(lines)


def mean(variant: Variant, runs: list[Result]) -> Result:
    servers = [r.server_cpu_per_1k for r in runs if r.server_cpu_per_1k is not None]
    return Result(
        variant,
        0,
        sum(r.transactions for r in runs),
        statistics.fmean(r.per_second for r in runs),
        statistics.fmean(r.p50_ms for r in runs),
        statistics.fmean(r.p99_ms for r in runs),
        statistics.fmean(r.client_cpu_per_1k for r in runs),
        statistics.fmean(servers) if servers else None,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--loop", choices=["uvloop", "asyncio"], default="uvloop")
    args = parser.parse_args()
    loop_factory = uvloop.new_event_loop if args.loop == "uvloop" else None
    results: list[Result] = []
    with tempfile.TemporaryDirectory(prefix="pg-drivers-") as tmp:
        server = open_server(Path(tmp))
        try:
            postmaster = server.pid if isinstance(server, Cluster) else None
            pinned = pin(postmaster)
            for round_ in range(1, args.rounds + 1):
                order = VARIANTS if round_ % 2 else VARIANTS[::-1]
                for variant in order:
                    url = server.create_database()
                    run(_prepare(server.url("postgres"), url), None)
                    result = run(measure(variant, url, args.seconds, postmaster), loop_factory)
                    results.append(dataclasses.replace(result, round=round_))
                    print(table(results[-1:]).splitlines()[-1], flush=True)
        finally:
            server.stop()
    means = [mean(v, [r for r in results if r.variant is v]) for v in VARIANTS]
    where = "a throwaway cluster" if not isinstance(server, External) else "an external server"
    report = "\n\n".join(
        [
            "# asyncpg vs psycopg 3 on UpdateCallRecording's transaction",
            f"`python bench/pg_drivers.py --seconds {args.seconds:g} --rounds {args.rounds} "
            f"--loop {args.loop}` on {platform.python_implementation()} "
            f"{platform.python_version()}, asyncpg {asyncpg.__version__}, psycopg "
            f"{psycopg.__version__} ({psycopg.pq.__impl__}), psycopg_pool "
            f"{psycopg_pool.__version__}; PostgreSQL on {where} with fsync and "
            f"synchronous_commit on; {POOL_CONNECTIONS} pooled connections, {WORKERS} workers, "
            f"{'server on CPU 0 and client on CPU 1' if pinned else 'not pinned'}. CPU is "
            "per 1,000 transactions; round trips are per transaction.",
            "Mean of the rounds:\n\n" + table(means),
            "Each round:\n\n" + table(results),
        ]
    )
    RESULTS.write_text(report + "\n")
    print("\n" + report)


def run(coroutine: Coroutine[Any, Any, Any], loop_factory: Callable[[], Any] | None) -> Any:
    with asyncio.Runner(loop_factory=loop_factory) as runner:
        return runner.run(coroutine)


if __name__ == "__main__":
    main()
