"""Background work that no request waits for: answering emulated calls and finalizing stopped
recordings. Everything it acts on is in the store, so after a restart `resume()` picks up
whatever was left halfway."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, replace
from typing import Protocol

from callrec.background import BackgroundTasks
from callrec.domain import call as calls
from callrec.domain import recording as recordings
from callrec.domain.model import (
    MICROS_PER_SECOND,
    AudioSpan,
    Call,
    CallbackEvent,
    CallEvent,
    CallStatus,
    Micros,
    Recording,
    RecordingEvent,
    RecordingOptions,
    RecordingSource,
    RecordingStatus,
)
from callrec.service.deps import Deps
from callrec.service.gates import GateDecisions
from callrec.service.media import SealWith, keep, render_to_disk
from callrec.service.outbox import enqueue, enqueue_call
from callrec.storage.base import Tx

log = logging.getLogger(__name__)
FINALIZING = (RecordingStatus.STOPPED, RecordingStatus.PROCESSING)


@dataclass(frozen=True, slots=True)
class Finalizing:
    """What rendering a stopped recording needs, read as it begins processing."""

    recording: Recording
    timeline: list[RecordingEvent]
    call: Call | None
    spans: list[AudioSpan]
    #: Its account encrypts recordings; `seal`: with this key (None: it has no usable key).
    encrypted: bool
    seal: SealWith | None


async def sealed_if_encrypting(
    tx: Tx, account_sid: str, options: RecordingOptions
) -> RecordingOptions:
    """The options of a new recording: sealed (its capture file encrypted) if its account
    encrypts recordings."""
    account = await tx.account(account_sid)
    if account is None or account.encryption_key_sid is None:
        return options
    return replace(options, sealed=True)


async def _sealing(tx: Tx, recording: Recording) -> tuple[bool, SealWith | None]:
    """Whether the recording's account encrypts its recordings, and with which key: the one it
    chose, or if that one is gone its newest (Twilio's 16107); None if it has none (16105)."""
    account = await tx.account(recording.account_sid)
    if account is None or account.encryption_key_sid is None:
        return False, None
    key = await tx.public_key(account.encryption_key_sid)
    if key is None or key.account_sid != account.sid:
        key = await tx.newest_public_key(account.sid)
        log.warning(
            "16107: %s's encryption key %s is gone; %s", account.sid, account.encryption_key_sid,
            f"encrypting {recording.sid} with {key.sid}" if key else "no key is left",
        )  # fmt: skip
    return True, None if key is None else SealWith(key.sid, key.pem)


class CallFlows(Protocol):
    """What runs the TwiML of calls (service/flows.py), told by the lifecycle what happened."""

    def answered(self, call: Call) -> None: ...
    def arrived(self, call: Call) -> None: ...
    def ended(self, call_sid: str) -> None: ...
    def adopted(self, calls: Iterable[Call]) -> None: ...


class _NoFlows:
    def answered(self, call: Call) -> None:
        pass

    def arrived(self, call: Call) -> None:
        pass

    def ended(self, call_sid: str) -> None:
        pass

    def adopted(self, calls: Iterable[Call]) -> None:
        pass


class Lifecycle:
    def __init__(self, deps: Deps) -> None:
        self._deps = deps
        self._tasks = BackgroundTasks("background work")
        #: Set by the composition root: the flows depend on services that depend on this.
        self.flows: CallFlows = _NoFlows()

    def call_created(self, call_sid: str, created_at: Micros, answer_at: Micros) -> None:
        ring_at = created_at + (answer_at - created_at) // 2
        self._at(ring_at, lambda: self._ring(call_sid))
        self._at(answer_at, lambda: self._answer(call_sid))

    def call_ended(self, call_sid: str, stopped: Iterable[str]) -> None:
        self.flows.ended(call_sid)
        self.recordings_stopped(stopped)

    def recordings_stopped(self, sids: Iterable[str]) -> None:
        for sid in sids:
            self._tasks.spawn(self._finalize(sid))

    def adopted(self, calls: Iterable[Call], finalizing: Iterable[str]) -> None:
        """Take up the work of a process that died: its calls still ringing, its stopped
        recordings (the captures of its live recordings were registered by the adoption)."""
        for call in calls:
            if call.status in (CallStatus.QUEUED, CallStatus.RINGING):
                self.call_created(call.sid, call.created_at, call.answer_at)
        self.recordings_stopped(finalizing)
        self.flows.adopted(calls)

    async def close(self) -> None:
        await self._tasks.close()

    async def _ring(self, call_sid: str) -> None:
        async def ring(tx: Tx) -> bool:
            found = await tx.lock_call(call_sid)
            if found is None or found[1].owner != self._deps.me.id:
                return False  # gone, or another process runs it now
            call = found[0]
            if call.status is not CallStatus.QUEUED:
                return False
            ringing = calls.ring(call, self._deps.clock())
            await tx.update_call(ringing)
            return await enqueue_call(tx, self._deps, ringing, CallEvent.RINGING)

        if await self._deps.store.write(ring):
            self._deps.wake_callbacks([call_sid])

    async def answer_now(self, call_sid: str) -> Call | None:
        """Answer a ringing call whose flow is running already (an inbound call's TwiML began);
        the call as answered, or None if it was not answered (it ended meanwhile)."""
        return await self._answer(call_sid, run_flow=False)

    async def _answer(self, call_sid: str, run_flow: bool = True) -> Call | None:
        gates = GateDecisions(self._deps)

        async def answer(tx: Tx) -> tuple[Call, list[str]] | None:
            found = await tx.lock_call(call_sid)
            if found is None or found[1].owner != self._deps.me.id:
                return None  # gone, or another process runs it now
            call = found[0]
            now = self._deps.clock()
            answered = calls.answer(call, now)
            if answered is call:
                return None
            await tx.update_call(answered)
            picked_up = answered.status is CallStatus.IN_PROGRESS
            event = CallEvent.ANSWERED if picked_up else CallEvent.COMPLETED
            owed = [call_sid] if await enqueue_call(tx, self._deps, answered, event) else []
            if not picked_up or not answered.record:
                return answered, owed
            recording, events = recordings.start(
                self._deps.new_sid("RE"),
                answered,
                await sealed_if_encrypting(tx, answered.account_sid, answered.recording_options),
                RecordingSource.OUTBOUND_API,
                now,
                0,  # the media clock starts when the call is answered
                actor=None,
            )
            gates.decide(recording, call_sid)
            await tx.insert_recording(recording)
            await tx.append_events(events)
            if await enqueue(tx, self._deps, recording, CallbackEvent.IN_PROGRESS):
                owed.append(recording.sid)
            return answered, owed

        done = await gates.write(answer)
        if done is None:
            return None
        answered, owed = done
        self._deps.call_changes.changed(call_sid)
        if owed:
            self._deps.wake_callbacks(owed)
        if answered.status is not CallStatus.IN_PROGRESS:
            return None
        if run_flow:
            self.flows.answered(answered)
        return answered

    async def _finalize(self, sid: str) -> None:
        """stopped → processing → completed (or absent), once the WAV is on disk."""

        async def begin(tx: Tx) -> Finalizing | None:
            recording = await tx.lock_recording(sid)
            if recording is None or recording.status not in FINALIZING:
                return None
            if await tx.finalizer(sid) != self._deps.me.id:
                return None  # another process finalizes it (this one was taken over)
            changed, events = recordings.begin_processing(recording, self._deps.clock())
            if events:
                await tx.update_recording(changed)
                await tx.append_events(events)
            call = await tx.call(recording.call_sid)
            timeline, spans = await tx.events(sid), await tx.audio_spans(recording.call_sid)
            return Finalizing(changed, timeline, call, spans, *await _sealing(tx, recording))

        found = await self._deps.store.write(begin)
        if found is None:
            return
        absent_code: int | None = recordings.NO_VALID_KEY  # unless there is audio to keep
        details, seconds = None, 0.0
        if found.seal is not None or not found.encrypted:
            loop = asyncio.get_running_loop()
            began = time.perf_counter()
            rendered, details = await loop.run_in_executor(
                None, render_to_disk, self._deps.files, found.recording, found.timeline,
                found.call, found.spans, found.seal,
            )  # fmt: skip
            self._deps.observe_render(time.perf_counter() - began)
            absent_code, seconds = rendered.absent_code, rendered.seconds
            if absent_code is None:  # to the media store, if any, before it is `completed`
                await keep(self._deps.files, self._deps.media_store, sid)

        async def finish(tx: Tx) -> bool:
            current = await tx.lock_recording(sid)
            if current is None:
                return False
            now = self._deps.clock()
            if absent_code is None:
                duration = recordings.whole_seconds(round(seconds * MICROS_PER_SECOND))
                changed, events = recordings.complete(current, duration, now, details)
            else:
                changed, events = recordings.absent(current, absent_code, now)
            if events:
                await tx.update_recording(changed)
                await tx.append_events(events)
                await tx.set_finalizer(sid, None)
                final = changed.status is RecordingStatus.COMPLETED
                if final:
                    await tx.set_completed(sid, now)
                event = CallbackEvent.COMPLETED if final else CallbackEvent.ABSENT
                return await enqueue(tx, self._deps, changed, event)  # the media is servable now
            return False

        if await self._deps.store.write(finish):
            self._deps.wake_callbacks([sid])
        self._deps.files.capture(sid).unlink(missing_ok=True)

    def _at(self, when: Micros, action: Callable[[], Awaitable[object]]) -> None:
        async def later() -> None:
            delay = (when - self._deps.clock()) / MICROS_PER_SECOND
            if delay > 0:
                await asyncio.sleep(delay)
            await action()

        self._tasks.spawn(later())
