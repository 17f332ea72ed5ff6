"""What the console's pages show, made from the service's values (pure: no I/O)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from callrec.domain.model import (
    MICROS_PER_SECOND,
    Call,
    EventKind,
    Micros,
    PauseBehavior,
    Recording,
    RecordingEvent,
    RecordingOptions,
    RecordingStatus,
    RecordingTrack,
)
from callrec.media.peaks import Peaks
from callrec.media.render import Timeline, audio_position, pause_spans, timeline
from callrec.storage.base import OutboxEntry, OutboxState


def when(micros: Micros | None) -> str:
    """A wall time as people read it: UTC, to the second."""
    if micros is None:
        return "—"
    moment = datetime.fromtimestamp(micros / MICROS_PER_SECOND, UTC)
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC")


def clock(seconds: float | int | None) -> str:
    """A duration as h:mm:ss (or m:ss)."""
    if seconds is None:
        return "—"
    whole = int(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02}:{secs:02}" if hours else f"{minutes}:{secs:02}"


def seconds(micros: Micros) -> str:
    """Seconds, to the microsecond, as the waveform's `data-` attributes carry them."""
    return f"{micros / MICROS_PER_SECOND:.6f}"


def seconds_shown(micros: Micros) -> str:
    """Seconds as a person reads them: to the hundredth."""
    return f"{micros / MICROS_PER_SECOND:.2f}"


def sid_short(sid: str) -> str:
    return f"{sid[:8]}…{sid[-4:]}"


def call_duration(call: Call, now: Micros) -> int | None:
    """Seconds the call has been (or was) in progress."""
    if call.start_time is None:
        return None
    end = call.end_time if call.end_time is not None else now
    return (end - call.start_time) // MICROS_PER_SECOND


@dataclass(frozen=True, slots=True)
class SpanView:
    """A pause as the waveform draws it, in µs of the rendered audio."""

    behavior: PauseBehavior
    start: Micros
    end: Micros
    skipped: Micros


@dataclass(frozen=True, slots=True)
class EventView:
    event: RecordingEvent
    #: Where in the audio it took effect (µs of the rendered file; None: before it began).
    position: Micros | None


@dataclass(frozen=True, slots=True)
class RecordingView:
    recording: Recording
    #: The audio so far (µs): the file's length once completed, growing while live.
    length: Micros
    spans: list[SpanView]
    events: list[EventView]
    state: str

    @property
    def live(self) -> bool:
        return self.recording.status.is_live


def recording_view(
    recording: Recording,
    events: Sequence[RecordingEvent],
    now: Micros,
    waveform: Peaks | None = None,
) -> RecordingView:
    """Where each pause and event lies in the audio. A completed recording's positions are in
    its file (less what trim-silence cut from the front); a live one's in what is recorded so
    far, its clock run on from its last event by wall time."""
    line = _timeline(events, now)
    if line is None:
        unplaced = [EventView(event, None) for event in events]
        return RecordingView(recording, 0, [], unplaced, _state(recording))
    lead = 0
    if waveform is not None:
        lead = waveform.lead_trimmed * MICROS_PER_SECOND // waveform.rate
    length = audio_position(line, line.stop) - lead
    if waveform is not None:
        length = waveform.samples * MICROS_PER_SECOND // waveform.rate

    def placed(at: Micros) -> Micros:
        return min(max(0, at - lead), max(0, length))

    spans = [
        SpanView(span.behavior, placed(span.start), placed(span.end), span.skipped)
        for span in pause_spans(line)
    ]
    shown = [
        EventView(e, None if e.media_at is None else placed(audio_position(line, e.media_at)))
        for e in events
    ]
    return RecordingView(recording, max(0, length), spans, shown, _state(recording))


def _timeline(events: Sequence[RecordingEvent], now: Micros) -> Timeline | None:
    placed = [e for e in events if e.media_at is not None]
    if not placed or not any(e.kind is EventKind.STARTED for e in placed):
        return None
    last = placed[-1]
    assert last.media_at is not None
    try:
        return timeline(placed, live_until=last.media_at + max(0, now - last.at))
    except ValueError:
        return None


_STATES = {
    RecordingStatus.IN_PROGRESS: "Recording: the call's audio is being written.",
    RecordingStatus.STOPPED: "Stopped: the audio is being made.",
    RecordingStatus.PROCESSING: "Stopped: the audio is being made.",
    RecordingStatus.COMPLETED: "Completed.",
    RecordingStatus.ABSENT: "Absent: no audio was kept (too short, or silent).",
}


def _state(recording: Recording) -> str:
    if recording.status is RecordingStatus.PAUSED:
        how = "the span left out"
        if recording.pause_behavior is PauseBehavior.SILENCE:
            how = "silence kept in its place"
        return f"Paused ({recording.pause_behavior}): nothing is being written — {how}."
    return _STATES[recording.status]


def channel_names(options: RecordingOptions) -> list[str]:
    """What each channel of the file holds (dual: inbound first, as rendered)."""
    if options.channel_count == 2:
        return ["Inbound", "Outbound"]
    if options.track is RecordingTrack.BOTH:
        return ["Both tracks, mixed"]
    return [options.track.capitalize()]


@dataclass(frozen=True, slots=True)
class CallbackView:
    entry: OutboxEntry
    state: str  # delivered, pending, retrying or dead
    answer: str


def callback_view(entry: OutboxEntry) -> CallbackView:
    if entry.state is OutboxState.DELIVERED:
        return CallbackView(entry, "delivered", "2xx")
    if entry.state is OutboxState.DEAD:
        return CallbackView(entry, "dead", entry.last_error or "—")
    state = "retrying" if entry.attempts else "pending"
    return CallbackView(entry, state, entry.last_error or "—")
