"""The SQL of accounts' public keys (migration 0016), for Voice Recording Encryption."""

from __future__ import annotations

from callrec.domain.model import PublicKey
from callrec.storage.base import PageRequest, Position
from callrec.storage.sql_base import Row, SqlPrimitives, Where

_COLUMNS = "id, sid, account_sid, friendly_name, pem, created_at, updated_at"


def _key(row: Row) -> PublicKey:
    return PublicKey(*tuple(row)[1:7])


class PublicKeysSql(SqlPrimitives):
    async def insert_public_key(self, key: PublicKey) -> None:
        await self._insert(
            "INSERT INTO public_keys (sid, account_sid, friendly_name, pem, created_at,"
            " updated_at) VALUES (?, ?, ?, ?, ?, ?)",
            key.sid, key.account_sid, key.friendly_name, key.pem, key.created_at,
            key.updated_at,
        )  # fmt: skip

    async def public_key(self, sid: str) -> PublicKey | None:
        row = await self._one(f"SELECT {_COLUMNS} FROM public_keys WHERE sid = ?", sid)
        return _key(row) if row else None

    async def newest_public_key(self, account_sid: str) -> PublicKey | None:
        row = await self._one(
            f"SELECT {_COLUMNS} FROM public_keys WHERE account_sid = ?"
            " ORDER BY created_at DESC, id DESC LIMIT 1",
            account_sid,
        )
        return _key(row) if row else None

    async def list_public_keys(
        self, account_sid: str, page: PageRequest
    ) -> list[tuple[Position, PublicKey]]:
        clause = Where()
        clause.add("account_sid = ?", account_sid)
        tail = clause.add_page(page)
        rows = await self._all(
            f"SELECT {_COLUMNS} FROM public_keys{clause.sql}{tail}", *clause.params
        )
        return [(Position(row["created_at"], row["id"]), _key(row)) for row in rows]

    async def update_public_key(self, key: PublicKey) -> None:
        await self._run(
            "UPDATE public_keys SET friendly_name = ?, updated_at = ? WHERE sid = ?",
            key.friendly_name, key.updated_at, key.sid,
        )  # fmt: skip

    async def delete_public_key(self, sid: str) -> None:
        await self._run("DELETE FROM public_keys WHERE sid = ?", sid)
