"""Sends the outbox: the only outgoing HTTP in callrec.

One loop finds the callbacks that are due — for each recording only its oldest pending one, so a
recording's callbacks arrive in order — and sends each in its own task, at most MAX_IN_FLIGHT at
once, so one slow receiver holds up only its own recording. Each answer is written back: 2xx
delivered; a failure the policy retries (by default connection errors, timeouts, 5xx and 429)
tried again later with backoff; anything else, or the last attempt, a dead letter that can be
replayed. Everything is in the store, so a restart resumes where the crash left off.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import replace
from urllib.parse import urlencode

import httpx

from callrec import __version__
from callrec.callbacks.policy import Failure, Policy, split
from callrec.callbacks.signing import signature
from callrec.domain.model import MICROS_PER_SECOND, CallbackMethod, Micros
from callrec.ids import Clock
from callrec.storage.base import OutboxEntry, OutboxState, Store, Tx

log = logging.getLogger(__name__)

MAX_IN_FLIGHT = 64
BATCH = 256
IDLE_POLL_SECONDS = 1.0
USER_AGENT = f"TwilioProxy/1.1 callrec/{__version__}"

TokenLookup = Callable[[str], Awaitable[str | None]]


class Dispatcher:
    def __init__(
        self,
        store: Store,
        clock: Clock,
        token_of: TokenLookup,
        policy: Policy | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._policy = policy or Policy()
        self._store = store
        self._clock = clock
        self._token_of = token_of
        self._http = httpx.AsyncClient(
            transport=transport,
            limits=httpx.Limits(max_connections=MAX_IN_FLIGHT, max_keepalive_connections=32),
            follow_redirects=False,
            headers={"User-Agent": USER_AGENT},
        )
        self._slots = asyncio.Semaphore(MAX_IN_FLIGHT)
        self._in_flight: set[int] = set()
        # Entries settled while a look for due entries was under way: that look may have read
        # them as still pending, and must not send them again.
        self._settled: set[int] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._wake = asyncio.Event()
        self._runner: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._runner = asyncio.get_running_loop().create_task(self._run())

    def wake(self) -> None:
        """New entries were committed: look now rather than at the next poll."""
        self._wake.set()

    async def close(self) -> None:
        if self._runner is not None:
            self._runner.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._runner
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._http.aclose()

    async def _run(self) -> None:
        while True:
            self._wake.clear()
            try:
                wait = await self._dispatch_due()
            except Exception:  # a storage hiccup: log it and try again shortly
                log.exception("callback dispatch failed")
                wait = IDLE_POLL_SECONDS
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=wait)

    async def _dispatch_due(self) -> float:
        """Start sending what is due; return how long to sleep before looking again."""
        now = self._clock()
        self._settled.clear()
        due = await self._store.read(lambda tx: tx.due_callbacks(now, BATCH))
        for entry in due:
            assert entry.id is not None
            if entry.id in self._in_flight or entry.id in self._settled:
                continue
            self._in_flight.add(entry.id)
            task = asyncio.get_running_loop().create_task(self._deliver(entry))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        upcoming = await self._store.read(lambda tx: tx.next_callback_at())
        if upcoming is None:
            return IDLE_POLL_SECONDS
        return min(IDLE_POLL_SECONDS, max(0.0, (upcoming - self._clock()) / MICROS_PER_SECOND))

    async def _deliver(self, entry: OutboxEntry) -> None:
        assert entry.id is not None
        try:
            async with self._slots:
                failure, detail = await self._send(entry)
            now = self._clock()
            await self._store.write(
                lambda tx: _record(tx, entry, failure, detail, self._policy, now)
            )
        finally:
            self._in_flight.discard(entry.id)
            self._settled.add(entry.id)
            self.wake()  # the recording's next callback may be due now

    async def _send(self, entry: OutboxEntry) -> tuple[Failure | None, str]:
        url, policy = split(entry.url, self._policy)
        token = await self._token_of(entry.account_sid)
        if token is None:
            return Failure.CLIENT, "the account has no auth token to sign with"
        params = list(entry.params)
        timeout = httpx.Timeout(
            policy.total_timeout, connect=policy.connect_timeout, read=policy.read_timeout
        )
        try:
            async with asyncio.timeout(policy.total_timeout):
                if entry.method is CallbackMethod.GET:
                    joiner = "&" if "?" in url else "?"
                    full = f"{url}{joiner}{urlencode(params)}"
                    headers = {"X-Twilio-Signature": signature(token, full)}
                    response = await self._http.get(full, headers=headers, timeout=timeout)
                else:
                    grouped: dict[str, list[str]] = {}
                    for name, value in params:
                        grouped.setdefault(name, []).append(value)
                    headers = {"X-Twilio-Signature": signature(token, url, grouped)}
                    response = await self._http.post(
                        url, data=grouped, headers=headers, timeout=timeout
                    )
        except (httpx.ConnectError, httpx.ConnectTimeout) as error:
            return Failure.CONNECT, f"connect: {error!r}"
        except (httpx.ReadTimeout, TimeoutError) as error:
            return Failure.READ, f"timeout: {error!r}"
        except httpx.HTTPError as error:
            return Failure.CONNECT, f"transport: {error!r}"
        if 200 <= response.status_code < 300:
            return None, f"HTTP {response.status_code}"
        if response.status_code == 429:
            return Failure.TOO_MANY, "HTTP 429"
        if response.status_code >= 500:
            return Failure.SERVER, f"HTTP {response.status_code}"
        return Failure.CLIENT, f"HTTP {response.status_code}"


def _record(
    tx: Tx,
    sent: OutboxEntry,
    failure: Failure | None,
    detail: str,
    default: Policy,
    now: Micros,
) -> None:
    """Write one attempt's outcome back to the outbox."""
    assert sent.id is not None
    current = tx.callback(sent.id)
    if current is None or current.state is not OutboxState.PENDING:
        return  # replayed or changed meanwhile: this attempt no longer speaks for it
    attempts = current.attempts + 1
    if failure is None:
        done = replace(current, state=OutboxState.DELIVERED, attempts=attempts, updated_at=now)
        tx.update_callback(replace(done, last_error=None))
        return
    _, policy = split(current.url, default)
    retry_at = policy.next_attempt(attempts, failure, now)
    state = OutboxState.PENDING if retry_at is not None else OutboxState.DEAD
    if state is OutboxState.DEAD:
        log.warning("callback %s to %s is a dead letter: %s", current.id, current.url, detail)
    tx.update_callback(
        replace(
            current,
            state=state,
            attempts=attempts,
            next_attempt_at=retry_at if retry_at is not None else current.next_attempt_at,
            last_error=detail,
            updated_at=now,
        )
    )


def replay(tx: Tx, entry_id: int, account_sid: str, now: Micros) -> OutboxEntry | None:
    """Put a dead letter back in line, as if new (None if there is no such dead letter)."""
    entry = tx.callback(entry_id)
    if entry is None or entry.account_sid != account_sid or entry.state is not OutboxState.DEAD:
        return None
    again = replace(
        entry, state=OutboxState.PENDING, attempts=0, next_attempt_at=now, updated_at=now
    )
    tx.update_callback(again)
    return again
