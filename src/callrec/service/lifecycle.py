"""Background work that no request waits for: answering emulated calls and finalizing stopped
recordings. Everything it acts on is in the store, so after a restart `resume()` picks up
whatever was left halfway."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable

from callrec.background import BackgroundTasks
from callrec.domain import call as calls
from callrec.domain import recording as recordings
from callrec.domain.model import (
    MICROS_PER_SECOND,
    Call,
    CallbackEvent,
    CallStatus,
    Micros,
    Recording,
    RecordingEvent,
    RecordingSource,
    RecordingStatus,
)
from callrec.service.deps import Deps
from callrec.service.media import render_to_disk
from callrec.service.outbox import enqueue
from callrec.storage.base import Tx

log = logging.getLogger(__name__)
FINALIZING = (RecordingStatus.STOPPED, RecordingStatus.PROCESSING)


class Lifecycle:
    def __init__(self, deps: Deps) -> None:
        self._deps = deps
        self._tasks = BackgroundTasks("background work")

    def call_created(self, call_sid: str, created_at: Micros, answer_at: Micros) -> None:
        ring_at = created_at + (answer_at - created_at) // 2
        self._at(ring_at, lambda: self._ring(call_sid))
        self._at(answer_at, lambda: self._answer(call_sid))

    def recordings_stopped(self, sids: Iterable[str]) -> None:
        for sid in sids:
            self._tasks.spawn(self._finalize(sid))

    async def resume(self) -> None:
        """Re-schedule what a previous run of the server left unfinished."""

        async def unfinished(
            tx: Tx,
        ) -> tuple[list[tuple[str, Micros, Micros]], list[str], list[Recording]]:
            pending = [(c.sid, c.created_at, c.answer_at) for c in await tx.pending_calls()]
            stopped = await tx.recordings_in([RecordingStatus.STOPPED, RecordingStatus.PROCESSING])
            live = await tx.recordings_in([RecordingStatus.IN_PROGRESS, RecordingStatus.PAUSED])
            return pending, [r.sid for r in stopped], list(live)

        pending, stopped, live = await self._deps.store.read(unfinished)
        for sid, created_at, answer_at in pending:
            self.call_created(sid, created_at, answer_at)
        self.recordings_stopped(stopped)
        for recording in live:  # ready for the stream to come back, gates as they were
            self._deps.media.capture(recording.sid, recording.call_sid)
            if recording.status is RecordingStatus.PAUSED:
                self._deps.media.close_gate(recording.sid)

    async def close(self) -> None:
        await self._tasks.close()

    async def _ring(self, call_sid: str) -> None:
        async def ring(tx: Tx) -> None:
            call = await tx.call(call_sid)
            if call is not None and call.status is CallStatus.QUEUED:
                await tx.update_call(calls.ring(call, self._deps.clock()))

        await self._deps.store.write(ring)

    async def _answer(self, call_sid: str) -> None:
        async def answer(tx: Tx) -> tuple[str, bool] | None:
            call = await tx.call(call_sid)
            if call is None:
                return None
            now = self._deps.clock()
            answered = calls.answer(call, now)
            if answered is call:
                return None
            await tx.update_call(answered)
            if not answered.record:
                return None
            recording, events = recordings.start(
                self._deps.new_sid("RE"),
                answered,
                answered.recording_options,
                RecordingSource.OUTBOUND_API,
                now,
                0,  # the media clock starts when the call is answered
                actor=None,
            )
            await tx.insert_recording(recording)
            await tx.append_events(events)
            return recording.sid, await enqueue(
                tx, self._deps, recording, CallbackEvent.IN_PROGRESS
            )

        started = await self._deps.store.write(answer)
        if started is not None:
            recording_sid, owed = started
            self._deps.media.capture(recording_sid, call_sid)
            if owed:
                self._deps.wake_callbacks([recording_sid])

    async def _finalize(self, sid: str) -> None:
        """stopped → processing → completed (or absent), once the WAV is on disk."""

        async def begin(tx: Tx) -> tuple[Recording, list[RecordingEvent], Call | None] | None:
            recording = await tx.recording(sid)
            if recording is None or recording.status not in FINALIZING:
                return None
            changed, events = recordings.begin_processing(recording, self._deps.clock())
            if events:
                await tx.update_recording(changed)
                await tx.append_events(events)
            return changed, await tx.events(sid), await tx.call(recording.call_sid)

        found = await self._deps.store.write(begin)
        if found is None:
            return
        recording, timeline, call = found
        loop = asyncio.get_running_loop()
        rendered = await loop.run_in_executor(
            None, render_to_disk, self._deps.files, recording, timeline, call
        )

        async def finish(tx: Tx) -> bool:
            current = await tx.recording(sid)
            if current is None:
                return False
            now = self._deps.clock()
            if rendered.absent_code is None:
                duration = recordings.whole_seconds(round(rendered.seconds * MICROS_PER_SECOND))
                changed, events = recordings.complete(current, duration, now)
            else:
                changed, events = recordings.absent(current, rendered.absent_code, now)
            if events:
                await tx.update_recording(changed)
                await tx.append_events(events)
                final = changed.status is RecordingStatus.COMPLETED
                event = CallbackEvent.COMPLETED if final else CallbackEvent.ABSENT
                return await enqueue(tx, self._deps, changed, event)  # the media is servable now
            return False

        if await self._deps.store.write(finish):
            self._deps.wake_callbacks([sid])
        self._deps.files.capture(sid).unlink(missing_ok=True)

    def _at(self, when: Micros, action: Callable[[], Awaitable[None]]) -> None:
        async def later() -> None:
            delay = (when - self._deps.clock()) / MICROS_PER_SECOND
            if delay > 0:
                await asyncio.sleep(delay)
            await action()

        self._tasks.spawn(later())
