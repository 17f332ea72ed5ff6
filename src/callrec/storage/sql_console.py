"""The SQL of the web console's sign-ins (migration 0014)."""

from __future__ import annotations

from callrec.storage.base import ConsoleSession
from callrec.storage.sql_base import SqlPrimitives

_COLUMNS = "token_hash, credential_sid, account_sid, csrf_token, created_at, expires_at"


class ConsoleSql(SqlPrimitives):
    async def insert_console_session(self, session: ConsoleSession) -> None:
        await self._run("DELETE FROM console_sessions WHERE expires_at < ?", session.created_at)
        await self._run(
            f"INSERT INTO console_sessions ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?)",
            session.token_hash, session.credential_sid, session.account_sid,
            session.csrf_token, session.created_at, session.expires_at,
        )  # fmt: skip

    async def console_session(self, token_hash: str) -> ConsoleSession | None:
        row = await self._one(
            f"SELECT {_COLUMNS} FROM console_sessions WHERE token_hash = ?", token_hash
        )
        return ConsoleSession(*row) if row else None

    async def delete_console_session(self, token_hash: str) -> None:
        await self._run("DELETE FROM console_sessions WHERE token_hash = ?", token_hash)
