"""Sends the outbox: the only outgoing HTTP to apps in callrec.

Each recording's callbacks are sent by one drain at a time, oldest first, so they arrive in
order. In a deployment of several processes each entry is sent by the process that claimed it
(the one whose change wrote it; any live one once that one has died), and a drain stops at a
head that another process has claimed. Drains of different recordings run side by side, at most
MAX_IN_FLIGHT requests at once, so one slow receiver holds up only its own recording. A change
that writes a callback wakes its recording's drain; a poll finds the rest (retries falling due,
the leftovers of a process that died). Each answer is written back: 2xx delivered; a failure the
policy retries (by default connection errors, timeouts, 5xx and 429) tried again later with
backoff; anything else, or the last attempt, a dead letter that can be replayed. Everything is
in the store, so a restart resumes where the crash left off.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import replace
from functools import partial

import aiohttp

from callrec.background import BackgroundTasks
from callrec.callbacks import webhook
from callrec.callbacks.policy import Failure, Policy, split
from callrec.callbacks.webhook import MAX_IN_FLIGHT
from callrec.domain.model import MICROS_PER_SECOND, Micros
from callrec.ids import Clock, ProcessIdentity
from callrec.storage.base import OutboxEntry, OutboxState, Store, Tx

log = logging.getLogger(__name__)

BATCH = 256
IDLE_POLL_SECONDS = 1.0
#: What is read of a receiver's answer (only its status matters).
MAX_ANSWER_BYTES = 4096

TokenLookup = Callable[[str], Awaitable[str | None]]


class Dispatcher:
    def __init__(
        self,
        store: Store,
        clock: Clock,
        token_of: TokenLookup,
        policy: Policy | None = None,
        me: ProcessIdentity | None = None,
    ) -> None:
        self._me = me or ProcessIdentity()
        self._policy = policy or Policy()
        self._store = store
        self._clock = clock
        self._token_of = token_of
        self._http: aiohttp.ClientSession | None = None
        self._slots = asyncio.Semaphore(MAX_IN_FLIGHT)
        # Recordings whose callbacks a drain is sending now, and those woken meanwhile.
        self._draining: set[str] = set()
        self._woken: set[str] = set()
        self._tasks = BackgroundTasks("callback delivery")  # the entry stays pending
        self._poke = asyncio.Event()
        self._runner: asyncio.Task[None] | None = None
        self._closing = False
        #: Attempts by what came of them: delivered, retried (later) or dead (given up).
        self.outcomes: collections.Counter[str] = collections.Counter()

    def start(self) -> None:
        self._runner = asyncio.get_running_loop().create_task(self._poll())

    def wake(self, subjects: Iterable[str] = ()) -> None:
        """These recordings' new callbacks were committed: send them now."""
        for sid in subjects:
            if sid in self._draining:
                self._woken.add(sid)  # its drain looks again before it ends
            else:
                # Marked now, not when the task first runs: changes committed together wake
                # their recording several times before that, and two drains would send each
                # callback twice.
                self._draining.add(sid)
                self._tasks.spawn(self._drain(sid))

    def poke(self) -> None:
        """Look for every due callback now (a dead letter was replayed, say)."""
        self._poke.set()

    async def close(self) -> None:
        self._closing = True  # the poll ends even if a cancellation is lost in a storage call
        if self._runner is not None:
            self._runner.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._runner
        await self._tasks.close()
        if self._http is not None:
            await self._http.close()

    async def _poll(self) -> None:
        """Find due callbacks no drain is on: retries falling due, entries written by another
        process, and everything left pending by a crash."""
        while not self._closing:
            self._poke.clear()
            try:
                wait = await self._start_due()
            except Exception:  # a storage hiccup: log it and try again shortly
                if self._closing:
                    return
                log.exception("callback dispatch failed")
                wait = IDLE_POLL_SECONDS
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._poke.wait(), timeout=wait)

    async def _start_due(self) -> float:
        now = self._clock()
        me = self._me.id
        due = await self._store.read(lambda tx: tx.due_callbacks(now, BATCH, me))
        self.wake(entry.subject_sid for entry in due)
        upcoming = await self._store.read(lambda tx: tx.next_callback_after(now))
        if upcoming is None:
            return IDLE_POLL_SECONDS
        return min(IDLE_POLL_SECONDS, max(0.0, (upcoming - self._clock()) / MICROS_PER_SECOND))

    async def _drain(self, subject_sid: str) -> None:
        """Send one recording's due callbacks, oldest first, one at a time (`wake` marked the
        recording as draining)."""
        try:
            while True:
                self._woken.discard(subject_sid)
                now = self._clock()
                head = await self._store.read(lambda tx: tx.head_callback(subject_sid))
                entry = await self._claimed(head)
                while entry is not None and entry.next_attempt_at <= now:
                    async with self._slots:
                        failure, detail = await self._send(entry)
                    outcome = partial(_record, sent=entry, failure=failure, detail=detail,
                                      default=self._policy, now=self._clock())  # fmt: skip
                    written, following = await self._store.write(outcome)
                    if written is not None:
                        self.outcomes[written] += 1
                    entry = await self._claimed(following)
                if subject_sid not in self._woken:
                    return  # what is left (a retry) falls due later: the poll finds it
        finally:
            self._draining.discard(subject_sid)

    async def _claimed(self, entry: OutboxEntry | None) -> OutboxEntry | None:
        """The entry if this process is to send it: claimed by it, or unclaimed until now."""
        me = self._me.id
        if entry is None or entry.claimed_by == me:
            return entry
        if entry.claimed_by is not None:
            return None  # another process's: its drain sends it
        assert entry.id is not None
        entry_id = entry.id
        if await self._store.write(lambda tx: tx.claim_callback(entry_id, me)):
            return replace(entry, claimed_by=me)
        return None

    async def _send(self, entry: OutboxEntry) -> tuple[Failure | None, str]:
        url, policy = split(entry.url, self._policy)
        token = await self._token_of(entry.account_sid)
        if token is None:
            return Failure.CLIENT, "the account has no auth token to sign with"
        if self._http is None:  # made on first use: it must be made inside the running loop
            self._http = webhook.new_session()
        answer = await webhook.send(
            self._http, entry.method, url, entry.params, token, policy, MAX_ANSWER_BYTES
        )
        if isinstance(answer, webhook.Unanswered):
            return answer.failure, answer.detail
        status = answer.status
        if 200 <= status < 300:
            return None, f"HTTP {status}"
        if status == 429:
            return Failure.TOO_MANY, "HTTP 429"
        if status >= 500:
            return Failure.SERVER, f"HTTP {status}"
        return Failure.CLIENT, f"HTTP {status}"


async def _record(
    tx: Tx,
    sent: OutboxEntry,
    failure: Failure | None,
    detail: str,
    default: Policy,
    now: Micros,
) -> tuple[str | None, OutboxEntry | None]:
    """Write one attempt's outcome back to the outbox: what came of it (delivered, retried or
    dead; None if it no longer speaks for the entry), and the recording's next callback."""
    assert sent.id is not None
    current = await tx.callback(sent.id)
    written = None
    # Replayed or changed meanwhile: this attempt no longer speaks for it.
    if current is not None and current.state is OutboxState.PENDING:
        changed = _outcome(current, failure, detail, default, now)
        await tx.update_callback(changed)
        written = "retried" if changed.state is OutboxState.PENDING else changed.state.value
    return written, await tx.head_callback(sent.subject_sid)


def _outcome(
    current: OutboxEntry, failure: Failure | None, detail: str, default: Policy, now: Micros
) -> OutboxEntry:
    attempts = current.attempts + 1
    if failure is None:
        return replace(
            current, state=OutboxState.DELIVERED, attempts=attempts, last_error=None, updated_at=now
        )
    _, policy = split(current.url, default)
    retry_at = policy.next_attempt(attempts, failure, now)
    if retry_at is None:
        log.warning("callback %s to %s is a dead letter: %s", current.id, current.url, detail)
        return replace(
            current, state=OutboxState.DEAD, attempts=attempts, last_error=detail, updated_at=now
        )
    return replace(
        current, attempts=attempts, next_attempt_at=retry_at, last_error=detail, updated_at=now
    )


async def replay(tx: Tx, entry_id: int, account_sid: str, now: Micros) -> OutboxEntry | None:
    """Put a dead letter back in line, as if new (None if there is no such dead letter)."""
    entry = await tx.callback(entry_id)
    if entry is None or entry.account_sid != account_sid or entry.state is not OutboxState.DEAD:
        return None
    again = replace(
        entry, state=OutboxState.PENDING, attempts=0, next_attempt_at=now, updated_at=now,
        claimed_by=None,  # for whichever process finds it first
    )  # fmt: skip
    await tx.update_callback(again)
    return again
