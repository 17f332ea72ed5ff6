"""The SQL of what running a deployment reads and sets beyond the API: what a process runs now
(its metrics), retention, and the key an account's recordings are encrypted with."""

from __future__ import annotations

from callrec.domain.model import Micros
from callrec.storage.base import LiveCounts
from callrec.storage.sql_base import LIVE_RECORDING, SqlPrimitives


class OperationsSql(SqlPrimitives):
    async def set_retention(self, account_sid: str, retention: Micros | None) -> None:
        await self._run("UPDATE accounts SET retention = ? WHERE sid = ?", retention, account_sid)

    async def set_encryption_key(self, account_sid: str, key_sid: str | None) -> None:
        await self._run(
            "UPDATE accounts SET encryption_key_sid = ? WHERE sid = ?", key_sid, account_sid
        )

    async def set_completed(self, recording_sid: str, at: Micros) -> None:
        await self._run("UPDATE recordings SET completed_at = ? WHERE sid = ?", at, recording_sid)

    async def expired_recordings(
        self, now: Micros, default: Micros | None, shortest: Micros, limit: int
    ) -> list[str]:
        # `shortest` (the shortest period of any account, or the default) bounds the index's
        # range; each recording is then held to its own account's period.
        rows = await self._all(
            "SELECT r.sid FROM recordings AS r JOIN accounts AS a ON a.sid = r.account_sid"
            " WHERE r.completed_at IS NOT NULL AND r.deleted_at IS NULL AND r.completed_at < ?"
            " AND r.completed_at < ? - COALESCE(a.retention, ?)"
            f" ORDER BY r.completed_at LIMIT {int(limit)}",
            now - shortest, now, default,
        )  # fmt: skip
        return [row[0] for row in rows]

    async def live_counts(self, process_id: int) -> LiveCounts:
        calls = await self._all(
            "SELECT status, COUNT(*) FROM calls WHERE owner = ?"
            " AND status IN ('queued', 'ringing', 'in-progress') GROUP BY status",
            process_id,
        )
        recordings = await self._all(
            f"SELECT status, COUNT(*) FROM recordings WHERE owner = ? AND {LIVE_RECORDING}"
            " GROUP BY status",
            process_id,
        )
        pending = await self._one(
            "SELECT COUNT(*) FROM callbacks WHERE state = 'pending' AND claimed_by = ?",
            process_id,
        )
        return LiveCounts(
            {row[0]: row[1] for row in calls},
            {row[0]: row[1] for row in recordings},
            pending[0] if pending else 0,
        )
