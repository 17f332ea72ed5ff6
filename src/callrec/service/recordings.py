"""Use cases of the call Recordings and account Recordings resources."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from callrec.domain import recording as recordings
from callrec.domain.errors import NotFound, SeveralActiveRecordings
from callrec.domain.model import (
    CallbackEvent,
    EventKind,
    FlowPosition,
    PauseBehavior,
    Recording,
    RecordingEvent,
    RecordingOptions,
    RecordingSource,
    RecordingStatus,
)
from callrec.domain.recording import gap
from callrec.service.custody import ensure_here
from callrec.service.deps import Deps, locked_call, owned_call, owned_recording
from callrec.service.gates import GateDecisions
from callrec.service.lifecycle import Lifecycle, sealed_if_encrypting
from callrec.service.media import forget
from callrec.service.outbox import enqueue
from callrec.storage.base import (
    CallState,
    OutboxEntry,
    PageRequest,
    Position,
    RecordingFilter,
    Tx,
)

#: Why a recording started while its call's stream was away has a gap from its start.
NO_STREAM = "no media stream was connected"
#: The pseudo-sid that names a call's one active recording (UpdateCallRecording only).
CURRENT = "Twilio.CURRENT"
#: The (opt-in) callback each status an update can reach owes the app.
_CALLBACK_OF = {
    RecordingStatus.PAUSED: CallbackEvent.PAUSED,
    RecordingStatus.IN_PROGRESS: CallbackEvent.RESUMED,
    RecordingStatus.STOPPED: CallbackEvent.STOPPED,
}


class RecordingService:
    def __init__(self, deps: Deps, lifecycle: Lifecycle) -> None:
        self._deps = deps
        self._lifecycle = lifecycle

    async def start(
        self,
        account_sid: str,
        call_sid: str,
        options: RecordingOptions,
        actor: str | None,
        source: RecordingSource = RecordingSource.START_CALL_RECORDING_API,
        flow_position: Callable[[str], FlowPosition] | None = None,
    ) -> Recording:
        """Start a recording. A call flow that starts one says where it will be after
        (`flow_position`, given the new sid), written in the same transaction: it starts the
        recording once, even across a crash."""
        sid = self._deps.new_sid("RE")
        gates = GateDecisions(self._deps)

        async def start(tx: Tx) -> tuple[Recording, bool]:
            call, custody = await locked_call(tx, account_sid, call_sid)
            ensure_here(call.status, custody.owner, self._deps.me)
            now = self._deps.clock()
            recording, events = recordings.start(
                sid,
                call,
                await sealed_if_encrypting(tx, account_sid, options),
                source,
                now,
                self._deps.media.position(call.sid, call.start_time, now),
                actor,
            )
            gates.decide(recording, call_sid)
            if call.stream_media_at is not None and not custody.streaming:
                # Started in a gap (the call's stream dropped): its timeline opens with one.
                started_at = events[0].media_at or 0
                events.append(gap(sid, EventKind.INTERRUPTED, now, started_at, NO_STREAM))
            await tx.insert_recording(recording)
            await tx.append_events(events)
            if flow_position is not None:
                await tx.set_flow_position(call_sid, flow_position(sid))
            owed = await enqueue(tx, self._deps, recording, CallbackEvent.IN_PROGRESS)
            return recording, owed

        recording, owed = await gates.write(start)
        if owed:
            self._deps.wake_callbacks([recording.sid])
        return recording

    async def update(
        self,
        account_sid: str,
        call_sid: str,
        sid: str,
        target: RecordingStatus,
        behavior: PauseBehavior,
        actor: str | None,
    ) -> Recording:
        media = self._deps.media
        gates = GateDecisions(self._deps)
        owed: list[str] = []

        async def update(tx: Tx) -> Recording:
            owed.clear()  # a unit may run again (PostgreSQL retries a deadlock)
            if sid == CURRENT:
                call, custody = await locked_call(tx, account_sid, call_sid)
                ensure_here(call.status, custody.owner, self._deps.me)
                state = CallState(call.status, call.start_time, custody.owner)
                recording = await _current(tx, call_sid)
            else:
                recording, state = await _recording_on_call(tx, account_sid, call_sid, sid)
                ensure_here(state.status, state.owner, self._deps.me)
            now = self._deps.clock()
            media_at = media.position(call_sid, state.start_time, now)
            changed, events = recordings.update(
                recording, state.status, target, behavior, now, media_at, actor
            )
            if events:
                gates.decide(changed, call_sid)
                await tx.record_status_change(changed, events)
                if changed.status is RecordingStatus.STOPPED:
                    await tx.set_finalizer(changed.sid, self._deps.me.id)
                if await enqueue(tx, self._deps, changed, _CALLBACK_OF[changed.status]):
                    owed.append(changed.sid)
            return changed

        changed = await gates.write(update)
        if owed:
            self._deps.wake_callbacks(owed)
        if changed.status is RecordingStatus.STOPPED:
            media.finish(changed.sid)
            self._lifecycle.recordings_stopped([changed.sid])
        return changed

    async def fetch(
        self,
        account_sid: str,
        sid: str,
        call_sid: str | None = None,
        include_deleted: bool = False,
    ) -> Recording:
        retention = self._deps.settings.soft_delete_retention

        async def fetch(tx: Tx) -> Recording:
            if call_sid is not None:
                await owned_call(tx, account_sid, call_sid)
            recording = await owned_recording(tx, account_sid, sid, call_sid)
            if not recordings.shown(recording, include_deleted, self._deps.clock(), retention):
                raise NotFound()
            return recording

        return await self._deps.store.read(fetch)

    async def account_of(self, sid: str) -> str:
        """The account a recording belongs to, deleted or not (NotFound: no such recording).
        Whether the asker may see it is theirs to check (AccountService.may_act_on)."""
        recording = await self._deps.store.read(lambda tx: tx.recording(sid))
        if recording is None:
            raise NotFound()
        return recording.account_sid

    async def callbacks(self, account_sid: str, sid: str) -> list[OutboxEntry]:
        """The recording's status callbacks, oldest first, in whatever state."""

        async def callbacks(tx: Tx) -> list[OutboxEntry]:
            await owned_recording(tx, account_sid, sid)
            return await tx.callbacks_of(sid)

        return await self._deps.store.read(callbacks)

    async def find(
        self, where: RecordingFilter, page: PageRequest
    ) -> list[tuple[Position, Recording]]:
        if where.include_deleted:  # those deleted within the retention, as `fetch` shows them
            since = self._deps.clock() - self._deps.settings.soft_delete_retention
            where = replace(where, deleted_since=since)
        return await self._deps.store.read(lambda tx: tx.list_recordings(where, page))

    async def list_of_call(
        self, where: RecordingFilter, page: PageRequest
    ) -> list[tuple[Position, Recording]]:
        """A call's recordings: the call must exist (a 404 otherwise, not an empty list)."""
        assert where.call_sid is not None
        call_sid = where.call_sid

        async def find(tx: Tx) -> list[tuple[Position, Recording]]:
            await owned_call(tx, where.account_sid, call_sid)
            return await tx.list_recordings(where, page)

        return await self._deps.store.read(find)

    async def delete(
        self, account_sid: str, sid: str, actor: str, call_sid: str | None = None
    ) -> None:
        async def delete(tx: Tx) -> None:
            if call_sid is not None:
                await owned_call(tx, account_sid, call_sid)
            await owned_recording(tx, account_sid, sid, call_sid)
            recording = await tx.lock_recording(sid)
            if recording is None or recording.is_deleted:
                raise NotFound()
            changed, events = recordings.delete(recording, self._deps.clock(), actor)
            await tx.update_recording(changed)
            await tx.append_events(events)

        await self._deps.store.write(delete)
        await forget(self._deps.files, self._deps.media_store, sid)

    async def events(self, account_sid: str, sid: str) -> list[RecordingEvent]:
        async def timeline(tx: Tx) -> list[RecordingEvent]:
            await owned_recording(tx, account_sid, sid)
            return await tx.events(sid)

        return await self._deps.store.read(timeline)


async def _recording_on_call(
    tx: Tx, account_sid: str, call_sid: str, sid: str
) -> tuple[Recording, CallState]:
    found = await tx.lock_recording_and_call(sid)
    if found is None:
        raise NotFound()
    recording, state = found
    if recording.account_sid != account_sid or recording.call_sid != call_sid:
        raise NotFound()
    return recording, state


async def _current(tx: Tx, call_sid: str) -> Recording:
    """`Twilio.CURRENT`: the call's one live recording (404 if none, 16108 if several)."""
    live = await tx.lock_live_recordings_of_call(call_sid)
    if not live:
        raise NotFound()
    if len(live) > 1:
        raise SeveralActiveRecordings()
    return live[0]
