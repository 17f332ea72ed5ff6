"""Use cases of the Accounts v1 PublicKeys resource: an account's RSA public keys, for Voice
Recording Encryption (CONTRACT.md §12.1)."""

from __future__ import annotations

from dataclasses import replace

from callrec.domain.errors import NotFound
from callrec.domain.model import PublicKey
from callrec.encryption import normalized_public_key
from callrec.service.deps import Deps
from callrec.storage.base import PageRequest, Position, Tx


class PublicKeyService:
    def __init__(self, deps: Deps) -> None:
        self._deps = deps

    async def create(self, account_sid: str, pem: str, friendly_name: str) -> PublicKey:
        normalized = normalized_public_key(pem)  # InvalidPublicKey says why not
        now = self._deps.clock()
        key = PublicKey(self._deps.new_sid("CR"), account_sid, friendly_name, normalized, now, now)
        await self._deps.store.write(lambda tx: tx.insert_public_key(key))
        return key

    async def fetch(self, account_sid: str, sid: str) -> PublicKey:
        return await self._deps.store.read(lambda tx: _owned(tx, account_sid, sid))

    async def find(self, account_sid: str, page: PageRequest) -> list[tuple[Position, PublicKey]]:
        return await self._deps.store.read(lambda tx: tx.list_public_keys(account_sid, page))

    async def rename(self, account_sid: str, sid: str, friendly_name: str) -> PublicKey:
        async def rename(tx: Tx) -> PublicKey:
            key = await _owned(tx, account_sid, sid)
            renamed = replace(key, friendly_name=friendly_name, updated_at=self._deps.clock())
            await tx.update_public_key(renamed)
            return renamed

        return await self._deps.store.write(rename)

    async def delete(self, account_sid: str, sid: str) -> None:
        """Allowed while the account encrypts with it: later recordings then fall back to the
        account's newest key, or are not kept (CONTRACT.md §12.5)."""

        async def delete(tx: Tx) -> None:
            await _owned(tx, account_sid, sid)
            await tx.delete_public_key(sid)

        await self._deps.store.write(delete)


async def _owned(tx: Tx, account_sid: str, sid: str) -> PublicKey:
    key = await tx.public_key(sid)
    if key is None or key.account_sid != account_sid:
        raise NotFound()
    return key
