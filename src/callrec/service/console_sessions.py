"""Sign-ins to the web console: sessions kept in the database, so that any process of a
deployment knows them and signing out ends them everywhere, and failed sign-ins throttled."""

from __future__ import annotations

import hashlib
import secrets
import time
from collections import deque
from dataclasses import dataclass

from callrec.domain.errors import NotFound
from callrec.domain.model import MICROS_PER_SECOND
from callrec.ids import Clock
from callrec.service.accounts import AccountService, Principal
from callrec.storage.base import ConsoleSession, Store

#: How long a sign-in lasts, however active (then the person signs in again).
SESSION_SECONDS = 8 * 3600
#: Failed sign-ins allowed within the window: per username (guessing one account's secret), and
#: per client address (guessing many; higher, as an office may share one address).
FAILURES_PER_USERNAME = 5
FAILURES_PER_CLIENT = 20
FAILURE_WINDOW_SECONDS = 15 * 60


class TooManySignIns(Exception):
    """Too many failed sign-ins from this client or for this username: wait `retry_after` s."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(retry_after)
        self.retry_after = retry_after


@dataclass(frozen=True, slots=True)
class SignedIn:
    token: str  # the cookie's value: shown to the browser once, stored only as its hash
    session: ConsoleSession
    account_sid: str  # the account to show first: the one signed in to


class SignInThrottle:
    """Failures per key (a client address, a username) in a sliding window, in memory: each
    process of a deployment counts its own, so a deployment of N allows N times as many."""

    def __init__(self) -> None:
        self._failures: dict[str, deque[float]] = {}

    def check(self, limits: dict[str, int]) -> None:
        now = time.monotonic()
        for key, allowed in limits.items():
            failures = self._recent(key, now)
            if len(failures) >= allowed:
                raise TooManySignIns(int(failures[0] + FAILURE_WINDOW_SECONDS - now) + 1)

    def failed(self, *keys: str) -> None:
        now = time.monotonic()
        for key in keys:
            self._recent(key, now).append(now)

    def forget(self, key: str) -> None:
        self._failures.pop(key, None)

    def _recent(self, key: str, now: float) -> deque[float]:
        failures = self._failures.setdefault(key, deque())
        while failures and failures[0] <= now - FAILURE_WINDOW_SECONDS:
            failures.popleft()
        return failures


class ConsoleSessions:
    def __init__(self, store: Store, clock: Clock, accounts: AccountService) -> None:
        self._store = store
        self._clock = clock
        self._accounts = accounts
        self._throttle = SignInThrottle()

    async def sign_in(
        self, username: str, secret: str, account_sid: str | None, client: str
    ) -> SignedIn | None:
        """A new session for valid credentials (None: refused). With an API key, `account_sid`
        names the account to act on, which must be the key's or a subaccount of it."""
        keys = (f"client {client}", f"username {username}")
        self._throttle.check({keys[0]: FAILURES_PER_CLIENT, keys[1]: FAILURES_PER_USERNAME})
        principal = await self._accounts.authenticate(username, secret)
        target = account_sid or (principal.account_sid if principal else "")
        if principal is None or not await self._may_act_on(principal, target):
            self._throttle.failed(*keys)
            return None
        self._throttle.forget(keys[1])
        token = secrets.token_urlsafe(32)
        now = self._clock()
        session = ConsoleSession(
            token_hash=_hash(token),
            credential_sid=principal.credential_sid,
            account_sid=principal.account_sid,
            csrf_token=secrets.token_urlsafe(32),
            created_at=now,
            expires_at=now + SESSION_SECONDS * MICROS_PER_SECOND,
        )
        await self._store.write(lambda tx: tx.insert_console_session(session))
        return SignedIn(token, session, target)

    async def session(self, token: str) -> ConsoleSession | None:
        """The live session the cookie's token names (None: unknown, signed out or expired)."""
        session = await self._store.read(lambda tx: tx.console_session(_hash(token)))
        if session is None or session.expires_at <= self._clock():
            return None
        return session

    async def sign_out(self, session: ConsoleSession) -> None:
        await self._store.write(lambda tx: tx.delete_console_session(session.token_hash))

    async def _may_act_on(self, principal: Principal, account_sid: str) -> bool:
        try:
            return await self._accounts.may_act_on(principal, account_sid)
        except NotFound:
            return False


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()
