"""Live media streams: a stream attaches to its call (or creates it), feeds the media hub, and
ends the call when it stops — or when it drops and does not come back within the grace time.

The process a stream connects to runs the call from then on (service.custody): if another one
did, that one hands it over first."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import replace

from callrec.background import BackgroundTasks
from callrec.domain.errors import CallNotInProgress, NotFound
from callrec.domain.model import (
    Call,
    CallStatus,
    EventKind,
    Micros,
    RecordingOptions,
    RecordingTrack,
)
from callrec.domain.recording import gap
from callrec.media.encoding import Audio, Encoding
from callrec.peers import CallBusy, Unreachable
from callrec.service.calls import CallService
from callrec.service.custody import Elsewhere, Peers
from callrec.service.deps import Deps
from callrec.service.gates import GateDecisions
from callrec.storage.base import Custody, StorageError, Tx

log = logging.getLogger(__name__)


#: How long an attaching stream waits for a call whose owner does not answer to be taken over
#: by another process (service.membership.LEASE_SECONDS after its death, then a poll).
TAKEOVER_WAIT_SECONDS = 10.0
TAKEOVER_POLL_SECONDS = 0.25
DROPPED = "the media stream dropped"
RECONNECTED = "a media stream reconnected"


class StreamService:
    def __init__(self, deps: Deps, calls: CallService, grace_seconds: float, peers: Peers) -> None:
        self._deps = deps
        self._calls = calls
        self._grace = grace_seconds
        self._peers = peers
        self._hang_ups: dict[str, asyncio.TimerHandle] = {}
        self._sockets: dict[str, Callable[[], Awaitable[None]]] = {}
        self._tasks = BackgroundTasks("hanging up a call whose stream ended")
        #: A frame of an attached stream: `(call_sid, track, offset, data)`, `offset` in µs
        #: since the stream began. The hub's own method, bound: it is called for every frame.
        self.frame: Callable[[str, RecordingTrack, Micros, Audio], None] = deps.media.frame

    async def attach(
        self,
        account_sid: str,
        call_sid: str | None,
        rate: int,
        encoding: Encoding,
        tracks: int,
        close: Callable[[], Awaitable[None]],
    ) -> Call:
        """The stream's call: `call_sid` of the account if known (answered now if it was still
        ringing), else a new call in progress under that sid. Its synthetic audio, if any,
        ends here, and this process runs the call from now on: if another one did, it hands
        the call over first (raises CallBusy while that one still has a stream of it). `tracks`:
        how many the stream sends. `close` closes the stream's socket, should this process have
        to let go of it."""
        sid = call_sid or self._deps.new_sid("CA")
        deadline = time.monotonic() + TAKEOVER_WAIT_SECONDS
        while True:
            try:
                call, origin = await self._attach_here(account_sid, sid)
                break
            except Elsewhere as moved:
                try:
                    await self._peers.hand_over(moved.owner, sid, self._deps.me.id)
                except Unreachable:
                    if time.monotonic() > deadline:
                        raise
                    # Its owner may have died: another process takes its calls over soon.
                    await asyncio.sleep(TAKEOVER_POLL_SECONDS)
        pending = self._hang_ups.pop(sid, None)
        if pending is not None:
            pending.cancel()  # the stream came back in time
        self._deps.media.stream_started(sid, rate, encoding, origin, tracks)
        self._sockets[sid] = close
        return call

    async def _attach_here(self, account_sid: str, sid: str) -> tuple[Call, Micros]:
        media, me = self._deps.media, self._deps.me
        gates = GateDecisions(self._deps)

        async def attach(tx: Tx) -> tuple[Call, Micros]:
            now = self._deps.clock()
            found = await tx.lock_call(sid)
            if found is None:
                call = Call(
                    sid=sid,
                    account_sid=account_sid,
                    to="",
                    from_="",
                    status=CallStatus.IN_PROGRESS,
                    created_at=now,
                    updated_at=now,
                    answer_at=now,
                    start_time=now,
                    recording_options=RecordingOptions(),
                    stream_media_at=0,
                )
                await tx.insert_call(call, Custody(me.id, streaming=True))
                return call, 0
            call, custody = found
            if call.account_sid != account_sid:
                raise NotFound()
            if call.status.is_ended:
                raise CallNotInProgress()
            if custody.owner not in (None, me.id):
                raise Elsewhere(custody.owner)
            start_time = call.start_time if call.start_time is not None else now
            origin = media.position(sid, start_time, now)
            changed = replace(
                call,
                status=CallStatus.IN_PROGRESS,
                start_time=start_time,
                updated_at=now,
                stream_media_at=origin if call.stream_media_at is None else call.stream_media_at,
            )
            if changed != call:
                await tx.update_call(changed)
            await tx.set_custody(sid, Custody(me.id, streaming=True))
            back = call.stream_media_at is not None and not custody.streaming
            for recording in await tx.lock_live_recordings_of_call(sid):
                gates.decide(recording, sid)
                if back:
                    await tx.append_events(
                        [gap(recording.sid, EventKind.RESTORED, now, origin, RECONNECTED)]
                    )
            return changed, origin

        return await gates.write(attach)

    async def detach(self, call_sid: str, stopped: bool) -> None:
        """The stream ended: `stop` ends the call now; a dropped socket is recorded as a gap
        in the audio of the call's recordings, and ends the call after the grace time."""
        media = self._deps.media
        position = media.position(call_sid, None, self._deps.clock())
        media.stream_ended(call_sid)
        self._sockets.pop(call_sid, None)
        if stopped:
            await self._calls.hang_up(call_sid)
            return
        self.hang_up_later(call_sid)
        try:
            await self.note_gap(call_sid, EventKind.INTERRUPTED, position, DROPPED, streaming=False)
        except StorageError:
            log.warning("could not record that the stream of %s dropped", call_sid)

    async def note_gap(
        self, call_sid: str, kind: EventKind, media_at: Micros, why: str, streaming: bool
    ) -> None:
        """The call's audio stopped reaching this process at `media_at` (INTERRUPTED), or
        reaches it again (RESTORED): say so in the timeline of each of its live recordings."""
        me = self._deps.me

        async def note(tx: Tx) -> None:
            found = await tx.lock_call(call_sid)
            if found is None or found[1].owner != me.id or found[0].status.is_ended:
                return
            await tx.set_custody(call_sid, Custody(me.id, streaming))
            now = self._deps.clock()
            for recording in await tx.lock_live_recordings_of_call(call_sid):
                await tx.append_events([gap(recording.sid, kind, now, media_at, why)])

        await self._deps.store.write(note)

    async def hand_over(self, call_sid: str, to: int) -> None:
        """Another process (`to`) has a stream of this call: give it the call, unless this one
        still streams it (CallBusy)."""
        media, me = self._deps.media, self._deps.me

        async def give(tx: Tx) -> bool:
            found = await tx.lock_call(call_sid)
            if found is None or found[1].owner != me.id:
                return False  # not ours (any more): the asker looks again
            if media.has_stream(call_sid):
                raise CallBusy()
            media.close_files(call_sid)  # before the commit: the new owner appends to them
            await tx.set_custody(call_sid, Custody(to, found[1].streaming))
            return True

        if await self._deps.store.write(give):
            pending = self._hang_ups.pop(call_sid, None)
            if pending is not None:
                pending.cancel()
            media.release(call_sid)

    def adopted(self, calls: Iterable[Call]) -> None:
        """Calls taken over from a process that died: those that had a stream get the grace
        time to reconnect (to any process), then end."""
        for call in calls:
            if call.status is CallStatus.IN_PROGRESS and call.stream_media_at is not None:
                self.hang_up_later(call.sid)

    async def let_go(self) -> None:
        """This process was taken over by the others (it was cut off from the database for too
        long): close every stream it holds, so they connect again to a process that owns their
        call, forget their calls, and cancel what it meant to do with them."""
        sockets, self._sockets = self._sockets, {}
        for close in sockets.values():
            with contextlib.suppress(Exception):  # a socket that is already gone
                await close()
        for handle in self._hang_ups.values():
            handle.cancel()
        self._hang_ups.clear()
        self._deps.media.release_all()

    def hang_up_later(self, call_sid: str) -> None:
        loop = asyncio.get_running_loop()
        previous = self._hang_ups.pop(call_sid, None)
        if previous is not None:
            previous.cancel()
        self._hang_ups[call_sid] = loop.call_later(self._grace, self._hang_up_now, call_sid)

    def _hang_up_now(self, call_sid: str) -> None:
        self._hang_ups.pop(call_sid, None)
        self._tasks.spawn(self._calls.hang_up(call_sid))

    async def close(self) -> None:
        for handle in self._hang_ups.values():
            handle.cancel()
        await self._tasks.close()
