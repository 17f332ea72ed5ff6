"""Live media streams: a stream attaches to its call (or creates it), feeds the media hub, and
ends the call when it stops — or when it drops and does not come back within the grace time."""

from __future__ import annotations

import asyncio
from dataclasses import replace

from callrec.background import BackgroundTasks
from callrec.domain.errors import CallNotInProgress, NotFound
from callrec.domain.model import Call, CallStatus, Micros, RecordingOptions, RecordingTrack
from callrec.media.encoding import Encoding
from callrec.service.calls import CallService
from callrec.service.deps import Deps
from callrec.storage.base import Tx


class StreamService:
    def __init__(self, deps: Deps, calls: CallService, grace_seconds: float) -> None:
        self._deps = deps
        self._calls = calls
        self._grace = grace_seconds
        self._hang_ups: dict[str, asyncio.TimerHandle] = {}
        self._tasks = BackgroundTasks("hanging up a call whose stream ended")

    async def attach(
        self, account_sid: str, call_sid: str | None, rate: int, encoding: Encoding
    ) -> Call:
        """The stream's call: `call_sid` of the account if known (answered now if it was still
        ringing), else a new call in progress under that sid. Its synthetic audio, if any,
        ends here."""
        media = self._deps.media
        sid = call_sid or self._deps.new_sid("CA")

        async def attach(tx: Tx) -> tuple[Call, Micros]:
            now = self._deps.clock()
            call = await tx.call(sid)
            if call is None:
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
                await tx.insert_call(call)
                return call, 0
            if call.account_sid != account_sid:
                raise NotFound()
            if call.status.is_ended:
                raise CallNotInProgress()
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
            return changed, origin

        call, origin = await self._deps.store.write(attach)
        pending = self._hang_ups.pop(sid, None)
        if pending is not None:
            pending.cancel()  # the stream came back in time
        media.stream_started(sid, rate, encoding, origin)
        return call

    def frame(self, call_sid: str, track: RecordingTrack, offset: Micros, pcm: bytes) -> None:
        self._deps.media.frame(call_sid, track, offset, pcm)

    async def detach(self, call_sid: str, stopped: bool) -> None:
        """The stream ended: `stop` ends the call now, a dropped socket after the grace time."""
        self._deps.media.stream_ended(call_sid)
        if stopped:
            await self._calls.hang_up(call_sid)
        else:
            self.hang_up_later(call_sid)

    def hang_up_later(self, call_sid: str) -> None:
        loop = asyncio.get_running_loop()
        self._hang_ups[call_sid] = loop.call_later(self._grace, self._hang_up_now, call_sid)

    def _hang_up_now(self, call_sid: str) -> None:
        self._hang_ups.pop(call_sid, None)
        self._tasks.spawn(self._calls.hang_up(call_sid))

    async def resume(self) -> None:
        """After a restart, no stream is connected: calls that had one get the grace time to
        reconnect, then end, and their recordings are finalized from what was captured."""
        calls = await self._deps.store.read(lambda tx: tx.streamed_live_calls())
        for call in calls:
            self.hang_up_later(call.sid)

    async def close(self) -> None:
        for handle in self._hang_ups.values():
            handle.cancel()
        await self._tasks.close()
