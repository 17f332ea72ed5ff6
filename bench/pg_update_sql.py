"""Benchmark: what PostgreSQL spends on UpdateCallRecording's transaction, on callrec's schema
as migrated and with the schema changes that would make it cheaper.

The transaction is the one callrec sends for a pause or resume (seen with
log_min_duration_statement = 0): BEGIN; the recording and its call, locked; the event and the
recording's new status in one statement; COMMIT. pgbench runs it with prepared statements,
20 clients (callrec's pool), each on a recording of its own, on a database that callrec
migrated and filled (64 calls, each recording), for `--seconds`, on CPU 1; postgres on CPU 0.
Each transaction first reads its recording's sid from a small table (pgbench has no other way
to name one): the same fifth statement in every variant. Variants, each on a database of its own,
in alternating rounds:

- as migrated;
- without the timeline's foreign keys (recording_events.recording_sid and .prev_id,
  recordings.last_event_id): each is checked by a query that also locks the row it points to;
- HOT updates possible: no index depends on `recordings.status` (recordings_to_finalize does,
  through its predicate, so every status change writes every index of the table) and the table
  keeps room on its pages (fillfactor 50);
- both.

Figures go to docs/BENCHMARKS.md: PostgreSQL's CPU per transaction (from /proc) and the
transactions per second its one core gives.

    python bench/pg_update_sql.py [--seconds 8] [--rounds 2]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import asyncpg

sys.path.insert(0, str(Path(__file__).resolve().parent))
from deployment import ACCOUNT, TOKEN, Postgres, metered, serving, start_callrec
from update_recording import prepare_callrec, replace_section

HEADING = "## PostgreSQL's side of an UpdateCallRecording"
CLIENTS = 20
POSTGRES_CPUS, CLIENT_CPUS = {0}, {1}
TRANSACTION = """\\set n :client_id + 1
SELECT sid AS recording FROM bench_targets WHERE n = :n \\gset
BEGIN;
SELECT r.id, r.sid, r.account_sid, r.call_sid, r.status, r.source, r.options, r.created_at, \
r.updated_at, r.start_time, r.pause_behavior, r.duration, r.error_code, r.deleted_at, c.status, \
c.start_time, c.owner FROM calls AS c JOIN recordings AS r ON c.sid = r.call_sid \
WHERE r.sid = :recording FOR KEY SHARE OF c FOR UPDATE OF r;
WITH e AS (INSERT INTO recording_events (recording_sid, kind, at, actor, pause_behavior, \
media_at, detail, prev_id) VALUES (:recording, 'paused', 1, 'AC', 'skip', 1, NULL, \
(SELECT last_event_id FROM recordings WHERE sid = :recording)) RETURNING id) \
UPDATE recordings SET status = CASE status WHEN 'paused' THEN 'in-progress' ELSE 'paused' END, \
updated_at = 2, pause_behavior = 'skip', last_event_id = (SELECT id FROM e) \
WHERE sid = :recording;
COMMIT;
"""
NO_FOREIGN_KEYS = (
    "ALTER TABLE recording_events DROP CONSTRAINT recording_events_recording_sid_fkey",
    "ALTER TABLE recording_events DROP CONSTRAINT recording_events_prev_id_fkey",
    "ALTER TABLE recordings DROP CONSTRAINT recordings_last_event_id_fkey",
)
HOT = (
    "DROP INDEX recordings_to_finalize",
    "ALTER TABLE recordings SET (fillfactor = 50)",
    "VACUUM FULL recordings",
)
VARIANTS = {
    "as migrated": (),
    "without the timeline's foreign keys": NO_FOREIGN_KEYS,
    "HOT updates possible": HOT,
    "both": NO_FOREIGN_KEYS + HOT,
}


async def _execute(url: str, *statements: str) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(url)
    try:
        rows: list[asyncpg.Record] = []
        for statement in statements:
            rows = await conn.fetch(statement)
        return rows
    finally:
        await conn.close()


def prepare(pg: Postgres, tmp: Path, statements: tuple[str, ...]) -> str:
    """A database migrated and filled by callrec, then changed by `statements`."""
    url = pg.cluster.create_database()
    tmp.mkdir(parents=True)
    server = start_callrec(tmp / "callrec.log", tmp / "data", url, POSTGRES_CPUS)
    with serving(server):
        targets = prepare_callrec(server.base, ACCOUNT, TOKEN)
    rows = ", ".join(f"({n}, '{sid}')" for n, (_, sid) in enumerate(targets, start=1))
    asyncio.run(
        _execute(
            url,
            "CREATE TABLE bench_targets (n INTEGER PRIMARY KEY, sid TEXT NOT NULL)",
            f"INSERT INTO bench_targets VALUES {rows}",
            *statements,
        )
    )
    return url


def measure(pg: Postgres, url: str, script: Path, seconds: int) -> tuple[float, float, float]:
    """Transactions/s, PostgreSQL's CPU ms per transaction, share of HOT updates."""
    pgbench = pg.cluster.bindir / "pgbench"
    command = ["taskset", "-c", ",".join(map(str, CLIENT_CPUS)), str(pgbench), "-n", "-M",
               "prepared", "-c", str(CLIENTS), "-j", "1", "-T", str(seconds), "-f", str(script),
               url]  # fmt: skip
    hot = "SELECT n_tup_upd, n_tup_hot_upd FROM pg_stat_user_tables WHERE relname = 'recordings'"
    before = asyncio.run(_execute(url, hot))[0]
    pg.settle()
    with metered({"postgres": pg.cpu_seconds}) as usage:
        out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    after = asyncio.run(_execute(url, hot))[0]
    match = re.search(r"number of transactions actually processed: (\d+)", out)
    assert match is not None, out
    done = int(match.group(1))
    updates = after[0] - before[0]
    return (
        done / usage.wall,
        usage.groups["postgres"] * 1000 / done,
        (after[1] - before[1]) / updates if updates else 0.0,
    )


def report(results: dict[str, list[tuple[float, float, float]]], seconds: int) -> str:
    rows = [
        "| schema | tx/s, postgres on one core | postgres CPU ms / tx | HOT updates |",
        "|---|---:|---:|---:|",
    ]
    for name, rounds in results.items():
        rate = sum(r[0] for r in rounds) / len(rounds)
        cpu = sum(r[1] for r in rounds) / len(rounds)
        hot = sum(r[2] for r in rounds) / len(rounds)
        rows.append(f"| {name} | {rate:,.0f} | {cpu:.3f} | {hot:.0%} |")
    every = "; ".join(
        f"{name} " + ", ".join(f"{r[1]:.3f}" for r in rounds) for name, rounds in results.items()
    )
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    return "\n".join(
        [
            f"{HEADING} — {when}",
            "",
            f"`python bench/pg_update_sql.py --seconds {seconds} --rounds "
            f"{len(next(iter(results.values())))}`: the SQL of one pause or resume (BEGIN; the "
            "recording and its call locked; event and status in one statement; COMMIT) run by "
            f"pgbench, {CLIENTS} clients each on a recording of its own, on callrec's schema "
            "as migrated and changed; postgres on CPU 0, pgbench on CPU 1; durable commits. "
            "The mean of the rounds; each transaction also reads its recording's sid from a "
            "small table (the same in every variant).",
            "",
            *rows,
            "",
            f"- postgres CPU ms per transaction, every round: {every}",
            "",
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--no-write", action="store_true", help="print, leave the docs alone")
    args = parser.parse_args()
    os.sched_setaffinity(0, CLIENT_CPUS)
    results: dict[str, list[tuple[float, float, float]]] = {name: [] for name in VARIANTS}
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        script = tmp / "update.sql"
        script.write_text(TRANSACTION)
        pg = Postgres(tmp / "postgres")
        try:
            pg.pin(POSTGRES_CPUS)
            urls = {
                name: prepare(pg, tmp / f"variant-{i}", statements)
                for i, (name, statements) in enumerate(VARIANTS.items())
            }
            for number in range(args.rounds):
                order = list(urls) if number % 2 == 0 else list(reversed(urls))
                for name in order:
                    results[name].append(measure(pg, urls[name], script, args.seconds))
                    print(name, results[name][-1], flush=True)
        finally:
            pg.stop()
    section = report(results, args.seconds)
    print(section)
    if not args.no_write:
        replace_section(section, HEADING)


if __name__ == "__main__":
    main()
