"""What is SQLite's own (test_store.py has what both stores promise): the migrations, and a
write waiting for another process's lock without blocking the loop."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from pathlib import Path

from callrec.domain.model import Account
from callrec.storage.schema import migrations
from callrec.storage.sqlite import SqliteStore


def _account(n: int) -> Account:
    return Account(f"AC{n:032x}", f"account {n}", None, n)


def test_migrations_apply_once(tmp_path: Path) -> None:
    SqliteStore(tmp_path / "db.sqlite")
    SqliteStore(tmp_path / "db.sqlite")
    with contextlib.closing(sqlite3.connect(tmp_path / "db.sqlite")) as conn:
        names = [row[0] for row in conn.execute("SELECT name FROM schema_migrations")]
    assert names == [name for name, _ in migrations("sqlite")]  # each once, in order


def test_a_write_waits_for_another_process_lock_without_blocking_the_loop(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "db.sqlite")
    other = sqlite3.connect(tmp_path / "db.sqlite", isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # as `callrec accounts create` would, from another process

    async def scenario() -> int:
        ticks = 0

        async def ticker() -> None:
            nonlocal ticks
            while True:
                ticks += 1
                await asyncio.sleep(0.01)

        beat = asyncio.create_task(ticker())
        write = asyncio.create_task(store.write(lambda tx: tx.insert_account(_account(7))))
        await asyncio.sleep(0.3)
        assert not write.done()
        other.execute("COMMIT")
        await write
        beat.cancel()
        await store.close()
        return ticks

    try:
        assert asyncio.run(scenario()) >= 10  # the loop kept running while the write waited
    finally:
        other.close()
    assert SqliteStore(tmp_path / "db.sqlite").run_now(lambda tx: tx.account(_account(7).sid))
