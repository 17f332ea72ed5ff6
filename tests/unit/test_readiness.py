"""Readiness: a server is unready while it shuts down, or while its database does not answer."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from callrec.draining import Draining
from callrec.server import unready_because
from callrec.storage.base import StorageError, Store, Work
from callrec.storage.sqlite import SqliteStore


class _Unreachable(SqliteStore):
    async def read(self, work: Work[Any]) -> Any:
        raise StorageError("connection refused")


def _reason(store: Store, shutting_down: bool = False) -> str | None:
    async def check() -> str | None:
        draining = Draining()
        draining.bind()
        if shutting_down:
            draining.begin()
            await asyncio.sleep(0)  # begun from a signal handler: it lands on the loop
        return await unready_because(draining, store)

    return asyncio.run(check())


def test_ready_when_the_database_answers(tmp_path: Path) -> None:
    assert _reason(SqliteStore(tmp_path / "callrec.db")) is None


def testunready_because_without_the_database(tmp_path: Path) -> None:
    assert _reason(_Unreachable(tmp_path / "callrec.db")) == "the database does not answer"


def testunready_because_once_shutting_down(tmp_path: Path) -> None:
    assert _reason(SqliteStore(tmp_path / "callrec.db"), shutting_down=True) == "shutting down"
