"""The live side of media: each call's media clock and stream, and each recording's capture gate.

Everything here runs on the event loop's thread — the ingest handlers, and the service's units
of work (which run on the loop, see storage.group_commit) — so a gate closed while a pause is
decided is closed before the next frame is looked at: no frame after the pause's media position
reaches the capture file. Gates close early (when a pause or stop is decided, before it commits)
and open late (after a resume commits), so a failure can lose a frame but never leak one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field

from callrec.domain.model import MICROS_PER_SECOND, Micros, RecordingTrack
from callrec.media.capture import CaptureWriter
from callrec.media.files import MediaFiles

log = logging.getLogger(__name__)
FLUSH_INTERVAL_SECONDS = 0.5


@dataclass(slots=True)
class _Stream:
    rate: int
    origin: Micros  # the call's media clock when the stream began
    position: Micros  # the media clock at the end of the last frame


@dataclass(slots=True)
class _Capture:
    call_sid: str
    open: bool = True
    writer: CaptureWriter | None = None


@dataclass(slots=True)
class MediaHub:
    files: MediaFiles
    _streams: dict[str, _Stream] = field(default_factory=dict)
    _captures: dict[str, _Capture] = field(default_factory=dict)
    _flusher: asyncio.Task[None] | None = None

    # the media clock

    def position(self, call_sid: str, start_time: Micros | None, now: Micros) -> Micros:
        """Where the call's audio is now: the live stream's last frame, else wall time since
        the call was answered (synthetic audio runs in real time)."""
        stream = self._streams.get(call_sid)
        if stream is not None:
            return stream.position
        return max(0, now - start_time) if start_time is not None else 0

    def has_stream(self, call_sid: str) -> bool:
        return call_sid in self._streams

    # recordings, driven by the service

    def capture(self, recording_sid: str, call_sid: str) -> None:
        self._captures.setdefault(recording_sid, _Capture(call_sid))

    def close_gate(self, recording_sid: str) -> None:
        capture = self._captures.get(recording_sid)
        if capture is not None:
            capture.open = False

    def open_gate(self, recording_sid: str) -> None:
        capture = self._captures.get(recording_sid)
        if capture is not None:
            capture.open = True

    def finish(self, recording_sid: str) -> None:
        """The recording stopped: close its capture file for good."""
        capture = self._captures.pop(recording_sid, None)
        if capture is not None and capture.writer is not None:
            capture.writer.close()

    # streams, driven by the ingest

    def stream_started(self, call_sid: str, rate: int, origin: Micros) -> None:
        self._streams[call_sid] = _Stream(rate, origin, origin)

    def stream_ended(self, call_sid: str) -> None:
        self._streams.pop(call_sid, None)

    def frame(self, call_sid: str, track: RecordingTrack, offset: Micros, pcm: bytes) -> None:
        """A frame of 16-bit PCM, `offset` microseconds after the stream began."""
        stream = self._streams.get(call_sid)
        if stream is None:
            return
        media_at = stream.origin + offset
        end = media_at + len(pcm) // 2 * MICROS_PER_SECOND // stream.rate
        stream.position = max(stream.position, end)
        for sid, capture in self._captures.items():
            if capture.call_sid != call_sid or not capture.open:
                continue  # a paused recording: the frame is dropped here, before any buffer
            if capture.writer is None:
                capture.writer = CaptureWriter(self.files.capture(sid), stream.rate)
            capture.writer.append(track, media_at, pcm)

    # durability

    def start_flushing(self) -> None:
        self._flusher = asyncio.get_running_loop().create_task(self._flush_forever())

    async def close(self) -> None:
        if self._flusher is not None:
            self._flusher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._flusher
        for capture in self._captures.values():
            if capture.writer is not None:
                capture.writer.close()

    async def _flush_forever(self) -> None:
        while True:
            await asyncio.sleep(FLUSH_INTERVAL_SECONDS)
            for capture in self._captures.values():
                if capture.writer is not None:
                    capture.writer.flush()
