"""Capture gates follow what was committed last, whatever the order in which the answers to
concurrent updates of one recording resume: a resume committed before a pause (in the same group
on SQLite, one after the other on the recording's lock on PostgreSQL) must not open the gate the
pause closed. Real stores, real hub, the recording service itself."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from callrec.domain.model import (
    Account,
    Call,
    CallStatus,
    PauseBehavior,
    RecordingOptions,
    RecordingStatus,
    RecordingTrack,
)
from callrec.ids import new_sid, system_clock
from callrec.media.encoding import Encoding
from callrec.media.files import MediaFiles
from callrec.media.hub import MediaHub
from callrec.service.deps import Deps, Settings
from callrec.service.lifecycle import Lifecycle
from callrec.service.recordings import RecordingService
from callrec.storage.base import Custody, StorageError, Store, Tx, Work

T = TypeVar("T")
NewStore = Callable[[], Store]

ACCOUNT = Account("AC" + "a" * 32, "test", None, 0)
FRAME = bytes(160)  # 20 ms of 8 kHz μ-law


class _FailingStore:
    """A store that fails the next write's unit after it ran: the unit is rolled back, as on
    any error."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.fail_next = False
        self.read = store.read
        self.run_now = store.run_now
        self.presence = store.presence
        self.open = store.open
        self.close = store.close
        self.on_commit = store.on_commit

    async def write(self, work: Work[T]) -> T:
        if not self.fail_next:
            return await self.store.write(work)
        self.fail_next = False

        async def failing(tx: Tx) -> T:
            await work(tx)
            raise StorageError("disk full")

        return await self.store.write(failing)


async def _scenario(
    data: Path, store: Store, targets: list[RecordingStatus], fail: bool = False
) -> tuple[RecordingStatus | None, int]:
    """Start a streamed recording, pause it, send `targets` as concurrent updates (one group,
    in this order; with `fail`, the last one fails), then one frame: the committed status, and
    whether the frame was captured."""
    store = _FailingStore(store)
    await store.open()
    await store.write(lambda tx: tx.insert_account(ACCOUNT))
    media = MediaHub(MediaFiles(data / "media"))
    deps = Deps(store, system_clock, new_sid, media, media.files, Settings(answer_delay=0))
    lifecycle = Lifecycle(deps)
    recordings = RecordingService(deps, lifecycle)
    call = Call("CA" + "c" * 32, ACCOUNT.sid, "+1", "+2", CallStatus.IN_PROGRESS, 0, 0, 0, 0)
    await store.write(lambda tx: tx.insert_call(call, Custody(deps.me.id)))
    media.stream_started(call.sid, 8000, Encoding.MULAW, 0)
    recording = await recordings.start(ACCOUNT.sid, call.sid, RecordingOptions(), "test")

    async def update(status: RecordingStatus) -> RecordingStatus:
        changed = await recordings.update(
            ACCOUNT.sid, call.sid, recording.sid, status, PauseBehavior.SKIP, "test"
        )
        return changed.status

    await update(RecordingStatus.PAUSED)
    results = await asyncio.gather(*(update(target) for target in targets[:-1]))
    store.fail_next = fail
    try:
        results.append(await update(targets[-1]))
    except StorageError:
        assert fail
    committed = await store.read(lambda tx: tx.recording(recording.sid))
    captured_before = media.stats.frames_captured
    media.frame(call.sid, RecordingTrack.INBOUND, 0, FRAME)
    captured = media.stats.frames_captured - captured_before
    await lifecycle.close()
    await media.close()
    await store.close()
    return (committed.status if committed else None), captured


def test_a_pause_committed_after_a_resume_keeps_the_gate_closed(
    tmp_path: Path, new_store: NewStore
) -> None:
    targets = [RecordingStatus.IN_PROGRESS, RecordingStatus.PAUSED]
    status, captured = asyncio.run(_scenario(tmp_path, new_store(), targets))
    assert (status, captured) == (RecordingStatus.PAUSED, 0)


def test_a_pause_that_fails_leaves_the_gate_as_committed(
    tmp_path: Path, new_store: NewStore
) -> None:
    targets = [RecordingStatus.IN_PROGRESS, RecordingStatus.PAUSED]
    status, captured = asyncio.run(_scenario(tmp_path, new_store(), targets, fail=True))
    assert (status, captured) == (RecordingStatus.IN_PROGRESS, 1)


def test_a_resume_committed_after_a_pause_opens_the_gate(
    tmp_path: Path, new_store: NewStore
) -> None:
    targets = [RecordingStatus.IN_PROGRESS, RecordingStatus.PAUSED, RecordingStatus.IN_PROGRESS]
    status, captured = asyncio.run(_scenario(tmp_path, new_store(), targets))
    assert (status, captured) == (RecordingStatus.IN_PROGRESS, 1)
