"""The one storage interface. The domain and the service see only these types.

A unit of work is a coroutine function `work(tx) -> result` that runs inside one transaction:
everything it writes commits together or not at all. `Store.write` runs units that change state;
`Store.read` runs read-only units concurrently with them.

Units that read, decide and write must not race another unit doing the same to the same rows.
On SQLite units run one at a time; on PostgreSQL they run side by side, so a unit first *locks*
what it is going to change (`lock_*`, held until it commits) and plain reads lock nothing. Locks
are always taken call first, then its recordings, then callbacks, so that two units never wait on
each other.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol, TypeVar

from callrec.domain.model import (
    Account,
    AudioSpan,
    Call,
    CallbackMethod,
    CallStatus,
    FlowPosition,
    Micros,
    PhoneNumber,
    PublicKey,
    Recording,
    RecordingEvent,
)

T = TypeVar("T")


class StorageError(Exception):
    """The store could not do its work (disk full, database gone); nothing was written."""


class Conflict(StorageError):
    """The unit wrote a row that another unit wrote first (a unique key): nothing was written."""


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
    parent_call_sid: str | None = None
    start_time: TimeRange = TimeRange()
    end_time: TimeRange = TimeRange()


@dataclass(frozen=True, slots=True)
class NumberFilter:
    account_sid: str
    phone_number: str | None = None
    friendly_name: str | None = None


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
    owner: int | None


@dataclass(frozen=True, slots=True)
class Custody:
    """Which process runs a call's live side: its timers, its media stream and the capture gates
    of its recordings (docs/ARCHITECTURE.md, "Several processes")."""

    owner: int | None
    #: A media stream is attached to the call, on its owner.
    streaming: bool = False


@dataclass(frozen=True, slots=True)
class ProcessInfo:
    """A server process of the deployment, as registered."""

    id: int
    #: Where the other processes reach it (its own HTTP address).
    address: str
    started_at: Micros


@dataclass(frozen=True, slots=True)
class Credential:
    """A secret that authenticates as an account: its auth token, or one of its API keys."""

    sid: str
    account_sid: str
    friendly_name: str
    secret_hash: str
    secret_sealed: bytes | None
    created_at: Micros


@dataclass(frozen=True, slots=True)
class LiveCounts:
    """What one process runs now: its live calls and recordings by status, and the callbacks
    it is to send."""

    calls: dict[str, int]
    recordings: dict[str, int]
    callbacks_pending: int


@dataclass(frozen=True, slots=True)
class ConsoleSession:
    """A sign-in to the web console: known by the SHA-256 of its cookie's token (the token
    itself is never stored), the credential that signed in, and the CSRF token of its forms."""

    token_hash: str
    credential_sid: str
    account_sid: str
    csrf_token: str
    created_at: Micros
    expires_at: Micros


class OutboxState(StrEnum):
    PENDING = "pending"
    DELIVERED = "delivered"
    DEAD = "dead"


@dataclass(frozen=True, slots=True)
class OutboxEntry:
    """A status callback to send: what, where, how often tried, and how it stands. A subject's
    callbacks are sent one at a time, in order: a recording's, or a call's."""

    id: int | None  # None until stored
    account_sid: str
    subject_sid: str  # RE… or CA…
    event: str  # a CallbackEvent of a recording, a CallEvent of a call
    method: CallbackMethod
    url: str  # as the app gave it, fragment included
    params: tuple[tuple[str, str], ...]
    state: OutboxState
    attempts: int
    next_attempt_at: Micros
    created_at: Micros
    updated_at: Micros
    last_error: str | None = None
    #: The process whose dispatcher sends it (None: whichever claims it first).
    claimed_by: int | None = None

    @classmethod
    def due(
        cls,
        account_sid: str,
        subject_sid: str,
        event: str,
        method: CallbackMethod,
        url: str,
        params: tuple[tuple[str, str], ...],
        now: Micros,
        sender: int | None,
    ) -> OutboxEntry:
        """A callback about to be written: pending, never tried, due now, `sender`'s to send."""
        return cls(
            None, account_sid, subject_sid, event, method, url, params, OutboxState.PENDING,
            0, now, now, now, claimed_by=sender,
        )  # fmt: skip


class Tx(Protocol):
    """What a unit of work may do inside its transaction."""

    async def account(self, sid: str) -> Account | None: ...
    async def accounts(self) -> Sequence[Account]: ...
    async def insert_account(self, account: Account) -> None: ...
    async def set_retention(self, account_sid: str, retention: Micros | None) -> None:
        """The account's own retention period (None: the server's default)."""
        ...

    async def set_completed(self, recording_sid: str, at: Micros) -> None:
        """When the recording completed: its retention period runs from then."""
        ...

    async def set_encryption_key(self, account_sid: str, key_sid: str | None) -> None:
        """The public key the account's recordings are encrypted with (None: not encrypted)."""
        ...

    # accounts' public keys

    async def insert_public_key(self, key: PublicKey) -> None: ...
    async def public_key(self, sid: str) -> PublicKey | None: ...
    async def newest_public_key(self, account_sid: str) -> PublicKey | None: ...
    async def list_public_keys(
        self, account_sid: str, page: PageRequest
    ) -> list[tuple[Position, PublicKey]]: ...
    async def update_public_key(self, key: PublicKey) -> None: ...
    async def delete_public_key(self, sid: str) -> None: ...

    async def expired_recordings(
        self, now: Micros, default: Micros | None, shortest: Micros, limit: int
    ) -> list[str]:
        """Completed, undeleted recordings whose account's retention period (or `default`) has
        run out, oldest first; `shortest` is no longer than any period in force."""
        ...

    async def credential(self, sid: str) -> Credential | None: ...
    async def insert_credential(self, credential: Credential) -> None: ...

    # calls

    async def call(self, sid: str) -> Call | None: ...
    async def lock_call(self, sid: str) -> tuple[Call, Custody] | None:
        """The call and who runs its live side, locked until the unit ends."""
        ...

    async def insert_call(self, call: Call, custody: Custody) -> None: ...
    async def update_call(self, call: Call) -> None: ...
    async def set_custody(self, sid: str, custody: Custody) -> None: ...
    async def flow_position(self, call_sid: str) -> FlowPosition | None: ...
    async def add_audio_span(self, span: AudioSpan) -> None: ...
    async def audio_spans(self, call_sid: str) -> list[AudioSpan]: ...
    # phone numbers
    async def insert_number(self, number: PhoneNumber) -> None:
        """Raises Conflict if the number belongs to an account already."""
        ...

    async def number(self, sid: str) -> PhoneNumber | None: ...
    async def number_called(self, phone_number: str) -> PhoneNumber | None: ...
    async def update_number(self, number: PhoneNumber) -> None: ...
    async def delete_number(self, sid: str) -> None: ...
    async def list_numbers(
        self, where: NumberFilter, page: PageRequest
    ) -> list[tuple[Position, PhoneNumber]]: ...
    async def set_flow_position(self, call_sid: str, position: FlowPosition | None) -> None: ...
    async def delete_call(self, sid: str) -> None: ...
    async def list_calls(
        self, where: CallFilter, page: PageRequest
    ) -> list[tuple[Position, Call]]: ...

    # recordings

    async def recording(self, sid: str) -> Recording | None: ...
    async def lock_recording(self, sid: str) -> Recording | None: ...
    async def lock_recording_and_call(self, sid: str) -> tuple[Recording, CallState] | None:
        """The recording, locked, and the state of its call, kept from changing hands until the
        unit ends (one query: every UpdateCallRecording by sid makes it)."""
        ...

    async def lock_live_recordings_of_call(self, call_sid: str) -> Sequence[Recording]:
        """The call's recordings in progress or paused, newest first, locked."""
        ...

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

    async def set_finalizer(self, sid: str, process_id: int | None) -> None:
        """The process that is to turn the stopped recording into its media (None: done)."""
        ...

    async def finalizer(self, sid: str) -> int | None: ...

    async def list_recordings(
        self, where: RecordingFilter, page: PageRequest
    ) -> list[tuple[Position, Recording]]: ...

    async def count_recordings(self, call_sids: Sequence[str]) -> dict[str, int]:
        """How many recordings each call has, deleted ones not counted (absent: none)."""
        ...

    async def append_events(self, events: Sequence[RecordingEvent]) -> None: ...
    async def events(self, recording_sid: str) -> list[RecordingEvent]: ...

    # the callback outbox

    async def insert_callback(self, entry: OutboxEntry) -> None: ...
    async def update_callback(self, entry: OutboxEntry) -> None: ...
    async def count_callbacks(self, subject_sid: str) -> int:
        """How many callbacks a subject has had written (a call's `SequenceNumber`)."""
        ...

    async def callback(self, entry_id: int) -> OutboxEntry | None: ...
    async def claim_callback(self, entry_id: int, process_id: int) -> bool:
        """Make the pending, unclaimed entry this process's to send; False if another has it."""
        ...

    async def due_callbacks(self, now: Micros, limit: int, process_id: int) -> list[OutboxEntry]:
        """Pending callbacks that are due, first in line for their recording (callbacks of one
        recording go out in order, one at a time), and unclaimed or claimed by this process."""
        ...

    async def head_callback(self, recording_sid: str) -> OutboxEntry | None:
        """The recording's oldest pending callback: the next to send."""
        ...

    async def next_callback_after(self, now: Micros) -> Micros | None:
        """When the next pending callback not yet due falls due."""
        ...

    async def dead_callbacks(self, account_sid: str) -> list[OutboxEntry]: ...
    async def callbacks_of(self, subject_sid: str) -> list[OutboxEntry]:
        """Every callback of a recording (or a call), oldest first, in whatever state."""
        ...

    # the web console's sign-ins

    async def insert_console_session(self, session: ConsoleSession) -> None:
        """Store a new sign-in, and purge those expired by its `created_at`."""
        ...

    async def console_session(self, token_hash: str) -> ConsoleSession | None: ...
    async def delete_console_session(self, token_hash: str) -> None: ...

    # the processes of a deployment, and taking over the work of one that died

    async def insert_process(self, address: str, now: Micros) -> int: ...
    async def processes(self) -> list[ProcessInfo]:
        """The processes not known to have ended."""
        ...

    async def end_process(self, process_id: int, now: Micros) -> bool:
        """Record that the process has ended, if its presence is gone and no other process
        recorded it first: True means this unit is the one to take over its work."""
        ...

    async def adopt_calls(self, dead: int, adopter: int) -> list[tuple[Call, Custody]]:
        """Give the dead process's unfinished calls to `adopter`, locked; each with its custody
        as it was."""
        ...

    async def adopt_finalizing(self, dead: int, adopter: int) -> list[str]:
        """Give the recordings the dead process was finalizing (or was to) to `adopter`."""
        ...

    async def release_callbacks(self, dead: int) -> None:
        """Unclaim the dead process's pending callbacks, for any live process to claim."""
        ...

    async def live_counts(self, process_id: int) -> LiveCounts: ...


#: A unit of work: a coroutine function of the transaction it runs in.
Work = Callable[[Tx], Awaitable[T]]
#: Told of each commit: its seconds, and how many units of work it committed.
CommitObserver = Callable[[float, int], None]


def ignore_commit(seconds: float, units: int) -> None:
    """The observer of a store nobody watches."""


class Presence(Protocol):
    """A server process's membership of its deployment, proved by the database itself: held
    while the process lives and is connected, gone when it dies (docs/ARCHITECTURE.md)."""

    #: The database is this server's alone (SQLite): every other process has ended.
    alone: bool

    async def join(self, process_id: int) -> None:
        """Hold this process's presence (it must not be held already)."""
        ...

    async def renew(self) -> bool:
        """One round trip that proves the presence is still held; False if it is not."""
        ...

    async def gone(self, process_ids: Sequence[int]) -> set[int]:
        """Which of these processes' presence is gone."""
        ...

    async def close(self) -> None: ...


class Store(Protocol):
    #: Told of every commit (SQLite: a group's COMMIT; PostgreSQL: a unit's transaction).
    on_commit: CommitObserver

    async def open(self) -> None:
        """Get ready to serve, in the server's event loop (connections are made here)."""
        ...

    async def write(self, work: Work[T]) -> T: ...
    async def read(self, work: Work[T]) -> T: ...
    def presence(self) -> Presence:
        """This server's presence in the deployment (one per server process)."""
        ...

    def run_now(self, work: Work[T]) -> T:
        """Run a unit of work synchronously, outside the server (the CLI)."""
        ...

    async def close(self) -> None: ...
