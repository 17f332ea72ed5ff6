"""What the SQL of `Tx` stands on (storage/sql_tx.py, storage/sql_numbers.py): the four
primitives a backend provides, the row as both drivers give it, and WHERE clauses with keyset
paging."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from callrec.storage.base import PageRequest, TimeRange

#: A recording that is live: captured now, or paused.
LIVE_RECORDING = "status IN ('in-progress', 'paused')"


class Row(Protocol):
    """A result row as both drivers give it: by column name or position, and iterable."""

    def __getitem__(self, key: str | int, /) -> Any: ...
    def __iter__(self) -> Any: ...


class Where:
    """Accumulates a WHERE clause and its parameters."""

    def __init__(self) -> None:
        self.clauses: list[str] = []
        self.params: list[Any] = []

    def add(self, clause: str, *params: Any) -> None:
        self.clauses.append(clause)
        self.params.extend(params)

    def add_range(self, column: str, span: TimeRange) -> None:
        if span.start is not None:
            self.add(f"{column} >= ?", span.start)
        if span.end is not None:
            self.add(f"{column} < ?", span.end)

    def add_page(self, page: PageRequest) -> str:
        """Add the keyset condition and return the ORDER/LIMIT/OFFSET tail (size + 1 rows, so
        the caller can tell whether another page follows)."""
        if page.after is not None:
            self.add("(created_at, id) < (?, ?)", page.after.created_at, page.after.row_id)
            offset = 0
        else:
            offset = page.offset
        return f" ORDER BY created_at DESC, id DESC LIMIT {page.size + 1} OFFSET {offset}"

    @property
    def sql(self) -> str:
        return " WHERE " + " AND ".join(self.clauses) if self.clauses else ""


class SqlPrimitives:
    """What a backend provides; everything else is written once above them."""

    async def _one(self, sql: str, *params: Any) -> Row | None:
        raise NotImplementedError

    async def _all(self, sql: str, *params: Any) -> Sequence[Row]:
        raise NotImplementedError

    async def _run(self, sql: str, *params: Any) -> None:
        raise NotImplementedError

    async def _insert(self, sql: str, *params: Any) -> int:
        """Run an INSERT of one row into a table with an `id` key; the new row's id."""
        raise NotImplementedError

    def _lock(self, clause: str) -> str:
        """`clause` (FOR UPDATE …) where units run side by side and rows must be locked."""
        return ""
