"""The SQLite store: group commit isolates units, answers only after commit, survives reopening."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from pathlib import Path

import pytest

from callrec.domain.model import Account
from callrec.storage.base import Tx, Work
from callrec.storage.sqlite import SqliteStore


def _account(n: int) -> Account:
    return Account(f"AC{n:032x}", f"account {n}", None, n)


async def _write_many(store: SqliteStore, count: int, failing: set[int]) -> list[object]:
    def unit(n: int) -> Work[int]:
        async def work(tx: Tx) -> int:
            await tx.insert_account(_account(n))
            if n in failing:
                raise ValueError(n)  # after its write: the savepoint must undo it
            return n

        return work

    results: list[object] = await asyncio.gather(
        *(store.write(unit(n)) for n in range(count)), return_exceptions=True
    )
    return results


def test_a_failing_unit_undoes_only_itself(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "db.sqlite")

    async def scenario() -> list[object]:
        results = await _write_many(store, 200, failing={3, 50, 199})
        await store.close()
        return results

    results = asyncio.run(scenario())
    assert [type(r) for r in results].count(ValueError) == 3
    reopened = SqliteStore(tmp_path / "db.sqlite")
    sids = {a.sid for a in reopened.run_now(lambda tx: tx.accounts())}
    assert sids == {_account(n).sid for n in range(200) if n not in {3, 50, 199}}


def test_reads_see_committed_writes(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "db.sqlite")

    async def scenario() -> Account | None:
        await store.write(lambda tx: tx.insert_account(_account(1)))
        found = await store.read(lambda tx: tx.account(_account(1).sid))
        await store.close()
        return found

    assert asyncio.run(scenario()) == _account(1)


def test_a_constraint_violation_is_the_unit_s_own_error(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "db.sqlite")

    async def scenario() -> None:
        await store.write(lambda tx: tx.insert_account(_account(1)))
        with pytest.raises(sqlite3.IntegrityError):
            await store.write(lambda tx: tx.insert_account(_account(1)))
        await store.write(lambda tx: tx.insert_account(_account(2)))
        await store.close()

    asyncio.run(scenario())
    assert len(SqliteStore(tmp_path / "db.sqlite").run_now(lambda tx: tx.accounts())) == 2


def test_migrations_apply_once(tmp_path: Path) -> None:
    SqliteStore(tmp_path / "db.sqlite")
    SqliteStore(tmp_path / "db.sqlite")
    with contextlib.closing(sqlite3.connect(tmp_path / "db.sqlite")) as conn:
        names = [row[0] for row in conn.execute("SELECT name FROM schema_migrations")]
    assert names == [
        "0001_initial.sql",
        "0002_media.sql",
        "0003_callbacks.sql",
        "0004_timeline_chain.sql",
        "0005_pending_callbacks.sql",
        "0006_processes.sql",
    ]


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
