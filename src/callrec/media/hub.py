"""The live side of media: each call's media clock and stream, and each recording's capture gate.

Everything here runs on the event loop's thread — the ingest handlers, and the service's units
of work (which run on the loop, see storage.group_commit) — so a gate closed while a pause is
decided is closed before the next frame is looked at: no frame after the pause's media position
reaches the capture file. Gates close early (when a pause or stop is decided, before it commits)
and open late (after a resume commits), so a failure can lose a frame but never leak one.

Decisions are numbered per recording, in the order they are taken, which is the order they
commit in: a unit decides only once it holds its recording (on SQLite units run one at a time; on
PostgreSQL the recording's row is locked until the unit commits). A committed decision sets the
gate only if it is still the latest: answers to concurrent updates resume in any order, and a
resume committed just before a pause must not open the gate the pause closed. A recording's
capture is registered by its first decision, inside the unit that starts it (or that attaches a
stream, or takes the call over), so no decision can come before it.

A fenced hub writes nothing at all: this process can no longer prove to the others that it still
holds its calls (docs/ARCHITECTURE.md, "Several processes").
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from dataclasses import dataclass, field

from callrec.domain.model import MICROS_PER_SECOND, Micros, RecordingTrack
from callrec.media.capture import CaptureWriter
from callrec.media.codec import transcode
from callrec.media.encoding import Audio, Encoding
from callrec.media.files import MediaFiles

log = logging.getLogger(__name__)
_monotonic = time.monotonic
FLUSH_INTERVAL_SECONDS = 0.5
#: The captures are flushed in this many turns over the interval, a share each: flushed all at
#: once, 2,000 captures took ~23 ms of the loop in one go (11.5 µs a file's write, measured),
#: every frame meanwhile waiting, and near a full core the backlog took ~100 ms to drain.
FLUSH_TURNS = 10
#: A capture file the OS refuses to write (a full disk) is logged at most this often.
REFUSAL_LOG_SECONDS = 10.0


@dataclass(slots=True)
class _Stream:
    rate: int
    encoding: Encoding
    origin: Micros  # the call's media clock when the stream began
    position: Micros  # the media clock at the end of the last frame
    began: float  # monotonic seconds when the stream began: frame lag is measured from it
    width: int = 1  # bytes a sample (the encoding's: kept here, read for every frame)
    tracks: int = 2  # how many it sends: its capture files' buffers are sized for them


class LagHistogram:
    """How late frames are handled relative to their place in real time: `counts[ms]` frames
    were `ms` to `ms + 1` milliseconds late (the last bucket: later still). Only the counts are
    kept as frames come (the hub adds to them inline: a method call and running sums cost
    0.4 µs a frame, measured); totals are derived when read."""

    BUCKETS = 10_000  # up to 10 s
    LAST = BUCKETS - 1

    def __init__(self) -> None:
        self.counts = [0] * self.BUCKETS

    def add(self, seconds: float) -> None:
        late = int(seconds * 1000)
        self.counts[late if 0 <= late < self.LAST else (0 if late < 0 else self.LAST)] += 1

    @property
    def total(self) -> int:
        return sum(self.counts)

    @property
    def sum(self) -> float:
        """Seconds, all frames, each at its bucket's middle (Prometheus' `_sum`)."""
        return sum((ms + 0.5) * count for ms, count in enumerate(self.counts) if count) / 1000

    @property
    def worst_ms(self) -> int | None:
        """The latest frame's lag, rounded up to the millisecond."""
        return next((ms + 1 for ms in range(self.LAST, -1, -1) if self.counts[ms]), None)

    def at_most(self, seconds: float) -> int:
        """How many frames were handled within `seconds` of their time (to the millisecond)."""
        return sum(self.counts[: min(self.BUCKETS, round(seconds * 1000))])

    def percentile_ms(self, fraction: float) -> int | None:
        total = self.total
        if total == 0:
            return None
        wanted, seen = fraction * total, 0
        for bucket, count in enumerate(self.counts):
            seen += count
            if seen >= wanted:
                return bucket + 1
        return self.BUCKETS

    def nonzero(self) -> dict[str, int]:
        """The buckets that hold frames, by their upper bound in ms (for a client to take the
        difference of two readings: the lag over a span of time)."""
        return {str(ms + 1): count for ms, count in enumerate(self.counts) if count}


@dataclass(slots=True)
class Stats:
    frames_captured: int = 0  # written to capture files (once per recording)
    frames_gated: int = 0  # dropped at a closed gate: a paused recording
    frames_unusable: int = 0  # a later stream at another sample rate than the capture file
    frames_fenced: int = 0  # dropped while this process could not prove it holds its calls
    frames_unwritten: int = 0  # dropped: the OS refused their capture file's write (disk full)
    lag: LagHistogram = field(default_factory=LagHistogram)

    @property
    def frames_received(self) -> int:
        return self.lag.total  # every frame received is counted there, once


_LAST_MS = LagHistogram.LAST


@dataclass(slots=True)
class _Capture:
    call_sid: str
    sealed: bool = False  # its file encrypted (its account encrypts recordings)
    open: bool = False  # until a decision to open it commits
    writer: CaptureWriter | None = None
    decisions: int = 0  # pauses, resumes and stops decided so far
    turn: int = 0  # its turn among the FLUSH_TURNS of each flush interval


@dataclass(slots=True)
class MediaHub:
    files: MediaFiles
    stats: Stats = field(default_factory=Stats)
    _streams: dict[str, _Stream] = field(default_factory=dict)
    _captures: dict[str, _Capture] = field(default_factory=dict)
    #: Each call's captures, by recording sid (what a frame of the call goes to).
    _by_call: dict[str, dict[str, _Capture]] = field(default_factory=dict)
    _flusher: asyncio.Task[None] | None = None
    _registered: int = 0  # captures registered so far: their flush turns go round
    #: Since when (the media position of each live stream) this process writes nothing.
    _fenced: dict[str, Micros] | None = None
    #: Until when (monotonic seconds) this process may write: its lease in the deployment.
    _lease_until: float = math.inf
    _refusal_logged: float = -math.inf  # when a refused write was last logged (monotonic)
    _lag_counts: list[int] = field(init=False)  # stats.lag's, added to for every frame

    def __post_init__(self) -> None:
        self._lag_counts = self.stats.lag.counts

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

    def gate_decided(
        self, recording_sid: str, call_sid: str, open_: bool, sealed: bool = False
    ) -> int:
        """A start or resume (`open_`), or a pause or stop, was decided: a closing gate closes
        now, an opening one waits for `gate_committed`. The first decision registers the
        recording's capture (`sealed`: its file encrypted). Returns the decision's number."""
        capture = self._captures.get(recording_sid)
        if capture is None:
            turn = self._registered % FLUSH_TURNS
            self._registered += 1
            capture = self._captures[recording_sid] = _Capture(call_sid, sealed=sealed, turn=turn)
            self._by_call.setdefault(call_sid, {})[recording_sid] = capture
            stream = self._streams.get(call_sid)
            if stream is not None and open_:
                # Opened now, not at the next frame: a frame never waits for a file to be made.
                capture.writer = self._open(recording_sid, stream)
        if not open_:
            capture.open = False
        capture.decisions += 1
        return capture.decisions

    def gate_committed(self, recording_sid: str, decision: int, open_: bool) -> None:
        """Set the gate as the committed state says, unless a later decision was taken since
        `decision` (that one settles it)."""
        capture = self._captures.get(recording_sid)
        if capture is not None and capture.decisions == decision:
            capture.open = open_

    def finish(self, recording_sid: str) -> None:
        """The recording stopped: close its capture file for good."""
        capture = self._captures.pop(recording_sid, None)
        if capture is None:
            return
        recordings = self._by_call.get(capture.call_sid, {})
        recordings.pop(recording_sid, None)
        if not recordings:
            self._by_call.pop(capture.call_sid, None)
        if capture.writer is not None:
            self._close(recording_sid, capture.writer)

    def recordings_of(self, call_sid: str) -> list[str]:
        """The recordings of the call this process captures."""
        return sorted(self._by_call.get(call_sid, ()))

    def close_files(self, call_sid: str) -> None:
        """Hand every capture file of the call to the OS and close it (another process is taking
        the call over and will append to them); gates stay as they are."""
        for sid, capture in self._by_call.get(call_sid, {}).items():
            if capture.writer is not None:
                self._close(sid, capture.writer)
                capture.writer = None

    def release(self, call_sid: str) -> None:
        """Forget the call's captures: another process runs its live side now."""
        for sid in list(self._by_call.get(call_sid, ())):
            self.finish(sid)

    def release_all(self) -> None:
        """Forget every stream and capture: other processes run all these calls now."""
        for call_sid in list(self._by_call):
            self.release(call_sid)
        self._streams.clear()

    # fencing

    def hold_until(self, deadline: float) -> None:
        """This process may write until `deadline` (monotonic seconds), unless renewed: past it,
        the first frame fences the hub. Its membership sets a timer for the same moment, but a
        saturated loop runs timers late (libuv polls I/O up to 48 times before them), and frames
        are looked at on time."""
        self._lease_until = deadline

    def fence(self) -> None:
        """Write nothing from now on, until `unfence`."""
        if self._fenced is None:
            self._fenced = {sid: stream.position for sid, stream in self._streams.items()}

    def unfence(self) -> dict[str, tuple[Micros, Micros]]:
        """Write again; for each call streamed throughout, the span of its audio that was
        dropped (from, to) on its media clock."""
        fenced, self._fenced = self._fenced, None
        if fenced is None:
            return {}
        return {
            sid: (since, self._streams[sid].position)
            for sid, since in fenced.items()
            if sid in self._streams
        }

    @property
    def fenced(self) -> bool:
        return self._fenced is not None

    # streams, driven by the ingest

    def stream_started(
        self, call_sid: str, rate: int, encoding: Encoding, origin: Micros, tracks: int = 2
    ) -> None:
        self._streams[call_sid] = _Stream(
            rate, encoding, origin, origin, time.monotonic(), encoding.width, tracks
        )

    @property
    def live_streams(self) -> int:
        return len(self._streams)

    def stream_ended(self, call_sid: str) -> None:
        self._streams.pop(call_sid, None)

    def frame(self, call_sid: str, track: RecordingTrack, offset: Micros, data: Audio) -> None:
        """A frame in the stream's encoding, `offset` microseconds after the stream began
        (`data` is copied before this returns: it may be the socket's buffer)."""
        stream = self._streams.get(call_sid)
        if stream is None:
            return
        now = _monotonic()
        late = int((now - stream.began) * 1000.0 - offset / 1000)  # ms: LagHistogram.add's sum
        self._lag_counts[late if 0 <= late < _LAST_MS else (0 if late < 0 else _LAST_MS)] += 1
        if now >= self._lease_until and self._fenced is None:
            log.error("this process's lease ran out: fenced")
            self.fence()
        media_at = stream.origin + offset
        end = media_at + len(data) // stream.width * MICROS_PER_SECOND // stream.rate
        if end > stream.position:
            stream.position = end
        stats = self.stats
        if self._fenced is not None:
            stats.frames_fenced += 1
            return
        captures = self._by_call.get(call_sid)
        if captures is None:
            return
        for sid, capture in captures.items():
            if not capture.open:
                stats.frames_gated += 1
                continue  # a paused recording: the frame is dropped here, before any buffer
            try:
                if capture.writer is None:
                    capture.writer = self._open(sid, stream)
                writer = capture.writer
                if writer.encoding is stream.encoding and writer.rate == stream.rate:
                    writer.append(track, media_at, data)
                elif writer.rate == stream.rate:  # a new stream of the call in another encoding
                    audio = transcode(data, stream.encoding, writer.encoding)
                    writer.append(track, media_at, audio)
                else:
                    stats.frames_unusable += 1  # another sample rate: not resampled (our decision)
                    continue
            except OSError as refused:  # its buffer full (or its file new), the OS refusing
                stats.frames_unwritten += 1
                self._refused(sid, refused)
                continue
            stats.frames_captured += 1

    def _open(self, recording_sid: str, stream: _Stream) -> CaptureWriter:
        sealed = self._captures[recording_sid].sealed or self.files.at_rest
        key = self.files.capture_key(recording_sid) if sealed else None
        path = self.files.capture(recording_sid)
        return CaptureWriter(path, stream.rate, stream.encoding, key, stream.tracks)

    def _close(self, recording_sid: str, writer: CaptureWriter) -> None:
        try:
            writer.close()
        except OSError as refused:
            self._refused(recording_sid, refused)

    def _refused(self, recording_sid: str, error: OSError) -> None:
        """The OS refused to write a capture file: said in the log, at most every
        REFUSAL_LOG_SECONDS (with thousands of streams on one full disk, it refuses them all)."""
        now = _monotonic()
        if now - self._refusal_logged >= REFUSAL_LOG_SECONDS:
            self._refusal_logged = now
            log.error(
                "the capture file of %s cannot be written (%s): its frames are dropped until it"
                " can, those of any other file refused alike (frames_unwritten counts them)",
                recording_sid, error,
            )  # fmt: skip

    # durability

    def start_flushing(self) -> None:
        self._flusher = asyncio.get_running_loop().create_task(self._flush_forever())

    async def close(self) -> None:
        if self._flusher is not None:
            self._flusher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._flusher
        for sid, capture in self._captures.items():
            if capture.writer is not None:
                self._close(sid, capture.writer)

    async def _flush_forever(self) -> None:
        """Every capture's appended audio to its file at least every FLUSH_INTERVAL_SECONDS,
        a turn's share at a time; the turns keep to the clock, however long each takes."""
        loop = asyncio.get_running_loop()
        period, turn, due = FLUSH_INTERVAL_SECONDS / FLUSH_TURNS, 0, loop.time()
        while True:
            due += period
            await asyncio.sleep(due - loop.time())
            for sid, capture in self._captures.items():
                if capture.turn == turn and capture.writer is not None:
                    try:
                        capture.writer.flush()
                    except OSError as refused:  # kept buffered, tried again at its next turn
                        self._refused(sid, refused)
            turn = (turn + 1) % FLUSH_TURNS
