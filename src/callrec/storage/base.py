"""The one storage interface. The domain and the service see only these types.

A unit of work is a plain function `work(tx) -> result` that runs inside one transaction:
everything it writes commits together or not at all. `Store.write` runs units that change state,
serialized; `Store.read` runs read-only units concurrently with them.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol, TypeVar

from callrec.domain.model import (
    Account,
    Call,
    CallbackEvent,
    CallbackMethod,
    CallStatus,
    Micros,
    Recording,
    RecordingEvent,
    RecordingStatus,
)

T = TypeVar("T")


class StorageError(Exception):
    """The store could not do its work (disk full, database gone); nothing was written."""


@dataclass(frozen=True, slots=True)
class Position:
    """Where a row sits in newest-first order: the keyset cursor behind page tokens."""

    created_at: Micros
    row_id: int


@dataclass(frozen=True, slots=True)
class PageRequest:
    size: int
    offset: int = 0
    after: Position | None = None


@dataclass(frozen=True, slots=True)
class TimeRange:
    """A half-open range [start, end) of instants; either end may be open."""

    start: Micros | None = None
    end: Micros | None = None


@dataclass(frozen=True, slots=True)
class CallFilter:
    account_sid: str
    to: str | None = None
    from_: str | None = None
    status: CallStatus | None = None
    start_time: TimeRange = TimeRange()
    end_time: TimeRange = TimeRange()


@dataclass(frozen=True, slots=True)
class RecordingFilter:
    account_sid: str
    call_sid: str | None = None
    date_created: TimeRange = TimeRange()
    include_deleted: bool = False
    #: With `include_deleted`, only recordings deleted at or after this time (None: all).
    deleted_since: Micros | None = None


@dataclass(frozen=True, slots=True)
class CallState:
    """What an update of a recording needs of its call."""

    status: CallStatus
    start_time: Micros | None


@dataclass(frozen=True, slots=True)
class Credential:
    """A secret that authenticates as an account: its auth token, or one of its API keys."""

    sid: str
    account_sid: str
    friendly_name: str
    secret_hash: str
    secret_sealed: bytes | None
    created_at: Micros


class OutboxState(StrEnum):
    PENDING = "pending"
    DELIVERED = "delivered"
    DEAD = "dead"


@dataclass(frozen=True, slots=True)
class OutboxEntry:
    """A status callback to send: what, where, how often tried, and how it stands."""

    id: int | None  # None until stored
    account_sid: str
    recording_sid: str
    event: CallbackEvent
    method: CallbackMethod
    url: str  # as the app gave it, fragment included
    params: tuple[tuple[str, str], ...]
    state: OutboxState
    attempts: int
    next_attempt_at: Micros
    created_at: Micros
    updated_at: Micros
    last_error: str | None = None


class Tx(Protocol):
    """What a unit of work may do inside its transaction."""

    async def account(self, sid: str) -> Account | None: ...
    async def accounts(self) -> Sequence[Account]: ...
    async def insert_account(self, account: Account) -> None: ...
    async def credential(self, sid: str) -> Credential | None: ...
    async def insert_credential(self, credential: Credential) -> None: ...

    async def call(self, sid: str) -> Call | None: ...
    async def insert_call(self, call: Call) -> None: ...
    async def update_call(self, call: Call) -> None: ...
    async def delete_call(self, sid: str) -> None: ...
    async def pending_calls(self) -> Sequence[Call]: ...
    async def streamed_live_calls(self) -> Sequence[Call]:
        """Calls in progress whose audio came from a stream (which a restart has cut)."""
        ...

    async def list_calls(
        self, where: CallFilter, page: PageRequest
    ) -> list[tuple[Position, Call]]: ...

    async def recording(self, sid: str) -> Recording | None: ...
    async def recording_and_call_state(self, sid: str) -> tuple[Recording, CallState] | None:
        """The recording and the state of its call, if both exist (one query, for updates)."""
        ...

    async def recordings_of_call(self, call_sid: str) -> Sequence[Recording]: ...
    async def recordings_in(self, statuses: Sequence[RecordingStatus]) -> Sequence[Recording]: ...
    async def insert_recording(self, recording: Recording) -> None: ...
    async def update_recording(self, recording: Recording) -> None: ...
    async def record_status_change(
        self, recording: Recording, events: Sequence[RecordingEvent]
    ) -> None:
        """A pause, resume or stop: append the recording's `events` to its timeline and write
        what changed (status, pause behaviour, updated_at) in one row update. The same as
        `update_recording` then `append_events`, at half the statements, on every
        UpdateCallRecording."""
        ...

    async def list_recordings(
        self, where: RecordingFilter, page: PageRequest
    ) -> list[tuple[Position, Recording]]: ...

    async def append_events(self, events: Sequence[RecordingEvent]) -> None: ...
    async def events(self, recording_sid: str) -> list[RecordingEvent]: ...

    async def insert_callback(self, entry: OutboxEntry) -> None: ...
    async def update_callback(self, entry: OutboxEntry) -> None: ...
    async def callback(self, entry_id: int) -> OutboxEntry | None: ...
    async def due_callbacks(self, now: Micros, limit: int) -> list[OutboxEntry]:
        """Pending callbacks that are due and first in line for their recording (callbacks of
        one recording go out in order, one at a time)."""
        ...

    async def head_callback(self, recording_sid: str) -> OutboxEntry | None:
        """The recording's oldest pending callback: the next to send."""
        ...

    async def next_callback_after(self, now: Micros) -> Micros | None:
        """When the next pending callback not yet due falls due."""
        ...

    async def dead_callbacks(self, account_sid: str) -> list[OutboxEntry]: ...


#: A unit of work: a coroutine function of the transaction it runs in.
Work = Callable[[Tx], Awaitable[T]]


class Store(Protocol):
    async def write(self, work: Work[T]) -> T: ...
    async def read(self, work: Work[T]) -> T: ...
    def run_now(self, work: Work[T]) -> T:
        """Run a unit of work synchronously, outside the server (the CLI)."""
        ...

    async def close(self) -> None: ...
