"""Accounts, subaccounts, API keys, and checking who a request comes from (CONTRACT.md §9)."""

from __future__ import annotations

import asyncio
import secrets
import time
from dataclasses import dataclass

from callrec.background import BackgroundTasks
from callrec.credentials import (
    Sealer,
    fingerprint,
    hash_secret,
    new_secret,
    parse_basic,
    verify_secret,
)
from callrec.domain.errors import InvalidParameter, NotFound
from callrec.domain.model import Account, Micros
from callrec.ids import ACCOUNT_SID, Clock, SidFactory, is_sid
from callrec.storage.base import Conflict, Credential, Store, Tx

#: How long a verified secret is trusted without another scrypt check. Bounds how long a
#: deleted credential keeps working in a running server.
VERIFIED_TTL_SECONDS = 60.0
#: How long before it expires a verified secret is checked again, while still trusted.
REFRESH_AHEAD_SECONDS = 10.0
#: scrypt checks running at once; a flood of wrong passwords queues here instead of eating
#: every core and 16 MiB of memory per check.
CONCURRENT_CHECKS = 2
#: Verified credentials remembered at most; past it the memory starts afresh.
MAX_VERIFIED = 10_000


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is asking: the credential used and the account it belongs to."""

    credential_sid: str
    account_sid: str


@dataclass(frozen=True, slots=True)
class _Verified:
    principal: Principal
    expires: float


class AccountService:
    def __init__(self, store: Store, clock: Clock, new_sid: SidFactory, sealer: Sealer) -> None:
        self._store = store
        self._clock = clock
        self._new_sid = new_sid
        self._sealer = sealer
        self._verified: dict[bytes, _Verified] = {}
        self._accounts: dict[str, Account] = {}
        self._tokens: dict[str, str] = {}  # auth tokens never change: see auth_token
        self._cache_key = secrets.token_bytes(32)
        self._checks = asyncio.Semaphore(CONCURRENT_CHECKS)
        self._checking: dict[bytes, asyncio.Future[Principal | None]] = {}
        self._refreshes = BackgroundTasks("checking a credential again")

    # provisioning: synchronous, for the CLI and for server start-up

    def create_account(
        self,
        friendly_name: str,
        parent_sid: str | None = None,
        sid: str | None = None,
        token: str | None = None,
    ) -> tuple[Account, str]:
        """A new account and its auth token (made here unless given)."""
        account = Account(sid or self._new_sid("AC"), friendly_name, parent_sid, self._clock())
        token = token or new_secret()

        async def insert(tx: Tx) -> None:
            if parent_sid is not None:
                parent = await tx.account(parent_sid)
                if parent is None:
                    raise NotFound()
                if parent.parent_sid is not None:
                    raise InvalidParameter("parent", "A subaccount cannot have subaccounts")
            await tx.insert_account(account)
            await tx.insert_credential(
                self._credential(account.sid, account.sid, "Auth token", token)
            )

        self._store.run_now(insert)
        return account, token

    def create_api_key(self, account_sid: str, friendly_name: str) -> tuple[str, str]:
        """A new API key of the account: its sid and its secret (shown once, never stored)."""
        sid, secret = self._new_sid("SK"), new_secret()

        async def insert(tx: Tx) -> None:
            if await tx.account(account_sid) is None:
                raise NotFound()
            await tx.insert_credential(self._credential(sid, account_sid, friendly_name, secret))

        self._store.run_now(insert)
        return sid, secret

    def ensure_account(self, sid: str, token: str) -> Account:
        """The account `sid` with auth token `token`, created if missing (for an app's existing
        TWILIO_ACCOUNT_SID / TWILIO_AUTH_TOKEN)."""
        if not is_sid(ACCOUNT_SID, sid):
            raise InvalidParameter("TWILIO_ACCOUNT_SID", f"'{sid}' is not an account sid")

        async def existing(tx: Tx) -> tuple[Account | None, Credential | None]:
            return await tx.account(sid), await tx.credential(sid)

        account, credential = self._store.run_now(existing)
        if account is None or credential is None:
            try:
                account, _ = self.create_account("callrec account", sid=sid, token=token)
                return account
            except Conflict:  # another process of the deployment created it meanwhile
                account, credential = self._store.run_now(existing)
                assert account is not None
                assert credential is not None
        if not verify_secret(token, credential.secret_hash):
            raise InvalidParameter(
                "TWILIO_AUTH_TOKEN", f"Account {sid} exists here with a different auth token"
            )
        return account

    def set_retention(self, account_sid: str, retention: Micros | None) -> None:
        """How long the account's completed recordings are kept (None: the server's default)."""

        async def update(tx: Tx) -> None:
            if await tx.account(account_sid) is None:
                raise NotFound()
            await tx.set_retention(account_sid, retention)

        self._store.run_now(update)

    def set_encryption_key(self, account_sid: str, key_sid: str | None) -> None:
        """Encrypt the account's recordings from now on with its public key `key_sid` (None:
        stop encrypting them). The key must be one of the account's own."""

        async def update(tx: Tx) -> None:
            if await tx.account(account_sid) is None:
                raise NotFound()
            if key_sid is not None:
                key = await tx.public_key(key_sid)
                if key is None or key.account_sid != account_sid:
                    raise InvalidParameter(
                        "encryption-key", f"{key_sid} is no key of {account_sid}"
                    )
            await tx.set_encryption_key(account_sid, key_sid)

        self._store.run_now(update)

    def first_account(self) -> tuple[Account, str | None] | None:
        """The oldest top-level account and its auth token (None if sealed with another key)."""

        async def first(tx: Tx) -> tuple[Account, Credential | None] | None:
            top = [account for account in await tx.accounts() if account.parent_sid is None]
            return (top[0], await tx.credential(top[0].sid)) if top else None

        found = self._store.run_now(first)
        if found is None:
            return None
        account, credential = found
        sealed = credential.secret_sealed if credential else None
        return account, self._sealer.unseal(sealed) if sealed else None

    def _credential(self, sid: str, account_sid: str, name: str, secret: str) -> Credential:
        sealed = self._sealer.seal(secret) if sid == account_sid else None
        return Credential(sid, account_sid, name, hash_secret(secret), sealed, self._clock())

    # authentication and authorization, per request

    async def authenticate_basic(self, header: str) -> Principal | None:
        """The principal an HTTP `Authorization: Basic …` header proves, or None.

        Verified headers are remembered by a keyed fingerprint (never the secret itself) for
        VERIFIED_TTL_SECONDS, so only a client's first request pays for scrypt. A header is
        checked again REFRESH_AHEAD_SECONDS before it expires, in the background, by one check
        that all its requests share: a busy client's requests never all wait on scrypt at once
        (measured: every 60 s, 32 requests stalled up to 2.4 s when they did)."""
        now = time.monotonic()
        key = fingerprint(header, self._cache_key)
        known = self._verified.get(key)
        if known is not None and known.expires > now:
            if known.expires - now < REFRESH_AHEAD_SECONDS and key not in self._checking:
                self._refreshes.spawn(self._refresh(key, header))
            return known.principal
        return await self._check(key, header)

    async def _refresh(self, key: bytes, header: str) -> None:
        await self._check(key, header)

    async def close(self) -> None:
        await self._refreshes.close()

    async def _check(self, key: bytes, header: str) -> Principal | None:
        """Verify the header once, however many requests ask at the same time."""
        checking = self._checking.get(key)
        if checking is None:
            checking = asyncio.ensure_future(self._verify(key, header))
            self._checking[key] = checking
            checking.add_done_callback(lambda _: self._checking.pop(key, None))
        return await asyncio.shield(checking)

    async def _verify(self, key: bytes, header: str) -> Principal | None:
        now = time.monotonic()
        credentials = parse_basic(header)
        if credentials is None:
            return None
        principal = await self.authenticate(*credentials)
        if principal is None:
            self._verified.pop(key, None)  # no longer valid: refused from now on
        else:
            if len(self._verified) >= MAX_VERIFIED:
                self._verified.clear()
            self._verified[key] = _Verified(principal, now + VERIFIED_TTL_SECONDS)
        return principal

    async def authenticate(self, username: str, secret: str) -> Principal | None:
        """The principal these credentials prove, or None: a store read and a scrypt check."""
        credential = await self._store.read(lambda tx: tx.credential(username))
        if credential is None:
            return None
        async with self._checks:
            loop = asyncio.get_running_loop()
            valid = await loop.run_in_executor(None, verify_secret, secret, credential.secret_hash)
        return Principal(credential.sid, credential.account_sid) if valid else None

    async def auth_token(self, account_sid: str) -> str | None:
        """The account's auth token, to check or make Twilio signatures (None: unknown).

        Kept in memory once read: callrec never changes an account's token, and every status
        callback is signed with it (a store read and a Fernet decryption each, measured as a
        tenth of the CPU of delivering one)."""
        known = self._tokens.get(account_sid)
        if known is not None:
            return known
        credential = await self._store.read(lambda tx: tx.credential(account_sid))
        if credential is None or credential.secret_sealed is None:
            return None
        token = self._sealer.unseal(credential.secret_sealed)
        if token is not None:
            self._tokens[account_sid] = token
        return token

    async def family(self, account_sid: str) -> list[Account]:
        """The account and its subaccounts: what a principal of it may act on."""
        every = await self._store.read(lambda tx: tx.accounts())
        return [a for a in every if account_sid in (a.sid, a.parent_sid)]

    async def may_act_on(self, principal: Principal, account_sid: str) -> bool:
        """Whether the principal may act on `account_sid`: its own account, or a subaccount of
        it. Raises NotFound if there is no such account."""
        if principal.account_sid == account_sid:
            return True
        account = self._accounts.get(account_sid)
        if account is None:
            account = await self._store.read(lambda tx: tx.account(account_sid))
            if account is None:
                raise NotFound()
            self._accounts[account_sid] = account  # accounts never change parent
        return account.parent_sid == principal.account_sid
