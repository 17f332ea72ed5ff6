"""What every use case needs, passed in so tests can replace the clock, the sids or the store."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from callrec.domain.errors import NotFound
from callrec.domain.model import MICROS_PER_SECOND, Call, Micros, Recording
from callrec.domain.recording import SOFT_DELETE_RETENTION
from callrec.ids import Clock, ProcessIdentity, SidFactory
from callrec.media.files import MediaFiles
from callrec.media.hub import MediaHub
from callrec.media.store import S3Store
from callrec.service.call_changes import CallChanges
from callrec.storage.base import Custody, Store, Tx


@dataclass(frozen=True, slots=True)
class Settings:
    #: How long an emulated call takes to be answered after it is created.
    answer_delay: Micros = 1 * MICROS_PER_SECOND
    #: This server's absolute base URL, for the `RecordingUrl` of status callbacks.
    base_url: str = "http://127.0.0.1:8080"
    #: How long a soft-deleted recording stays visible with `IncludeSoftDeleted`.
    soft_delete_retention: Micros = SOFT_DELETE_RETENTION


@dataclass(frozen=True, slots=True)
class Deps:
    store: Store
    clock: Clock
    new_sid: SidFactory
    media: MediaHub
    files: MediaFiles
    settings: Settings = Settings()
    #: Tells the callback dispatcher that the outbox has new entries (after they commit).
    wake_callbacks: Callable[[Iterable[str]], None] = lambda recording_sids: None
    #: This process, once it has joined its deployment.
    me: ProcessIdentity = field(default_factory=ProcessIdentity)
    #: Announces the calls this process changes (to a <Dial> waiting on its children).
    call_changes: CallChanges = field(default_factory=CallChanges)
    #: Told how many seconds each render of a recording took (the server's metrics).
    observe_render: Callable[[float], None] = lambda seconds: None
    #: Where completed recordings' files go (None: they stay in the data directory).
    media_store: S3Store | None = None


async def owned_call(tx: Tx, account_sid: str, call_sid: str) -> Call:
    call = await tx.call(call_sid)
    if call is None or call.account_sid != account_sid:
        raise NotFound()
    return call


async def locked_call(tx: Tx, account_sid: str, call_sid: str) -> tuple[Call, Custody]:
    """The account's call, locked for a change, and who runs its live side."""
    found = await tx.lock_call(call_sid)
    if found is None or found[0].account_sid != account_sid:
        raise NotFound()
    return found


async def owned_recording(
    tx: Tx, account_sid: str, sid: str, call_sid: str | None = None
) -> Recording:
    """The recording `sid` of the account (and of `call_sid`, when the path names a call)."""
    recording = await tx.recording(sid)
    if recording is None or recording.account_sid != account_sid:
        raise NotFound()
    if call_sid is not None and recording.call_sid != call_sid:
        raise NotFound()
    return recording
