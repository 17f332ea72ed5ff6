"""`Tx` on one SQLite connection: the shared SQL (sql_tx), run through one cursor.

Nothing here suspends: a unit of work on SQLite runs to its end in one step (see
group_commit.run_to_end), so no row locks are taken either."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Any

from callrec.storage.sql_base import Row
from callrec.storage.sql_tx import SqlTx


class SqliteTx(SqlTx):
    """`Tx` over one SQLite connection; the transaction is the caller's."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        # One cursor for every statement: Connection.execute makes a new one each time.
        self._cursor = conn.cursor()

    async def _one(self, sql: str, *params: Any) -> Row | None:
        row: sqlite3.Row | None = self._cursor.execute(sql, params).fetchone()
        return row

    async def _all(self, sql: str, *params: Any) -> Sequence[Row]:
        return self._cursor.execute(sql, params).fetchall()

    async def _run(self, sql: str, *params: Any) -> None:
        self._cursor.execute(sql, params)

    async def _insert(self, sql: str, *params: Any) -> int:
        row_id = self._cursor.execute(sql, params).lastrowid
        assert row_id is not None
        return row_id
