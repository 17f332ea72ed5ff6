"""Render a recording from its timeline and its captured frames (pure: arrays in, arrays out).

The output spans the recording's media time from start to stop. Before a live stream took over,
a call's audio is synthetic; after, it is what was captured, silence where nothing arrived. A
`silence` pause is zeros exactly as long as the pause; a `skip` pause is cut out. Tracks are
then mixed (mono, averaged so they never clip), put side by side (dual: inbound first), or one
alone; `trim-silence` drops leading and trailing silence.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from callrec.domain.model import (
    MICROS_PER_SECOND,
    EventKind,
    Micros,
    PauseBehavior,
    RecordingEvent,
    RecordingOptions,
    RecordingTrack,
    Trim,
)
from callrec.media.capture import Captured

Samples = npt.NDArray[np.int16]
#: (track, first sample on the call's media clock, count, rate) -> samples
Synth = Callable[[RecordingTrack, int, int, int], Samples]

#: Below this magnitude a sample counts as silence (about -50 dBFS).
SILENCE_THRESHOLD = 100
#: Shorter than this, a recording is `absent` with 16101 (our decision).
MIN_SECONDS = 0.5
TOO_SHORT = 16101
SILENT = 16102


@dataclass(frozen=True, slots=True)
class Pause:
    begin: Micros
    end: Micros
    behavior: PauseBehavior


@dataclass(frozen=True, slots=True)
class Timeline:
    start: Micros
    stop: Micros
    pauses: tuple[Pause, ...]


@dataclass(frozen=True, slots=True)
class Rendered:
    audio: npt.NDArray[np.int16]  # shape (samples, channels)
    rate: int
    absent_code: int | None
    #: Samples trim-silence cut from the front: the timeline's start lies that far before 0.
    lead_trimmed: int = 0

    @property
    def seconds(self) -> float:
        return len(self.audio) / self.rate


def timeline(events: Iterable[RecordingEvent], live_until: Micros | None = None) -> Timeline:
    """Start, stop and pauses on the media clock, from the recording's events. A live
    recording's (no stop yet) runs to `live_until`, if given, its open pause with it."""
    start: Micros | None = None
    stop: Micros | None = None
    pauses: list[Pause] = []
    open_pause: tuple[Micros, PauseBehavior] | None = None
    for event in events:
        at = event.media_at if event.media_at is not None else 0
        if event.kind is EventKind.STARTED:
            start = at
        elif event.kind is EventKind.PAUSED and event.pause_behavior is not None:
            open_pause = (at, event.pause_behavior)
        elif event.kind in (EventKind.RESUMED, EventKind.STOPPED) and open_pause is not None:
            pauses.append(Pause(open_pause[0], at, open_pause[1]))
            open_pause = None
        if event.kind is EventKind.STOPPED:
            stop = at
            break
    if stop is None and start is not None and live_until is not None:
        stop = live_until
        if open_pause is not None:
            pauses.append(Pause(open_pause[0], max(open_pause[0], stop), open_pause[1]))
    if start is None or stop is None:
        raise ValueError("the timeline has no start or no stop")
    return Timeline(start, max(start, stop), tuple(pauses))


def render(
    line: Timeline,
    options: RecordingOptions,
    captured: Captured,
    synth: Synth | None,
    synth_until: Micros | None,
) -> Rendered:
    rate = captured.rate

    def index(at: Micros) -> int:
        return round((at - line.start) * rate / MICROS_PER_SECOND)

    length = index(line.stop)
    first = round(line.start * rate / MICROS_PER_SECOND)
    tracks = {}
    for track in (RecordingTrack.INBOUND, RecordingTrack.OUTBOUND):
        audio = np.zeros(length, dtype=np.int16)
        if synth is not None:
            end = length if synth_until is None else max(0, min(length, index(synth_until)))
            audio[:end] = synth(track, first, end, rate)
        _place(audio, captured.of(track), line.start)
        tracks[track] = audio
    kept: list[tuple[int, int]] = []  # spans that are not skipped, in order
    cursor = 0
    for pause in line.pauses:
        lo, hi = max(0, index(pause.begin)), min(length, index(pause.end))
        for audio in tracks.values():
            audio[lo:hi] = 0  # nothing paused is ever heard, whatever the source
        if pause.behavior is PauseBehavior.SKIP and lo < hi:
            kept.append((cursor, lo))
            cursor = hi
    if kept:
        kept.append((cursor, length))
        tracks = {t: np.concatenate([a[lo:hi] for lo, hi in kept]) for t, a in tracks.items()}
    audio = _channels(options, tracks)
    lead = 0
    if options.trim is Trim.TRIM_SILENCE:
        audio, lead = _trim(audio)
    if len(audio) < MIN_SECONDS * rate:
        return Rendered(audio, rate, TOO_SHORT, lead)
    if not _audible(audio):
        return Rendered(audio, rate, SILENT, lead)
    return Rendered(audio, rate, None, lead)


@dataclass(frozen=True, slots=True)
class PauseSpan:
    """A pause where it lies in the rendered audio (µs from its start, before any trimming): a
    `silence` pause covers [start, end); a `skip` pause is a cut, start == end, where `skipped`
    µs of the call were left out."""

    behavior: PauseBehavior
    start: Micros
    end: Micros
    skipped: Micros


def audio_position(line: Timeline, at: Micros) -> Micros:
    """Where the media clock's `at` lies in the rendered audio: its time since the start, less
    the `skip` pauses before it (as `render` cuts them)."""
    at = min(max(at, line.start), line.stop)
    cut = sum(
        max(0, min(pause.end, at) - pause.begin)
        for pause in line.pauses
        if pause.behavior is PauseBehavior.SKIP
    )
    return at - line.start - cut


def pause_spans(line: Timeline) -> list[PauseSpan]:
    """Every pause of the timeline, placed in the rendered audio."""
    spans = []
    for pause in line.pauses:
        begin = min(max(pause.begin, line.start), line.stop)
        end = min(max(pause.end, begin), line.stop)
        start = audio_position(line, begin)
        if pause.behavior is PauseBehavior.SKIP:
            spans.append(PauseSpan(pause.behavior, start, start, end - begin))
        else:
            spans.append(PauseSpan(pause.behavior, start, start + end - begin, 0))
    return spans


def _audible(audio: Samples) -> bool:
    return bool(np.max(audio) > SILENCE_THRESHOLD or np.min(audio) < -SILENCE_THRESHOLD)


def _place(audio: Samples, captured: Captured, start: Micros) -> None:
    """Write each captured record's samples at its place on the output.

    Records that follow each other without a gap (nearly all of them: a stream is continuous)
    form runs, and a run is one slice assignment, so an hour takes milliseconds."""
    n = len(captured.media_at)
    if n == 0:
        return
    block = captured.samples.shape[1]
    positions = (captured.media_at - start) * captured.rate
    positions = (positions + MICROS_PER_SECOND // 2) // MICROS_PER_SECOND
    follows = np.zeros(n, dtype=bool)
    follows[1:] = (positions[1:] == positions[:-1] + block) & (captured.count[:-1] == block)
    firsts = np.flatnonzero(~follows)
    lasts = np.append(firsts[1:], n)
    for first, last in zip(firsts.tolist(), lasts.tolist(), strict=True):
        size = (last - first - 1) * block + int(captured.count[last - 1])
        run = captured.samples[first:last].reshape(-1)[:size]
        at = int(positions[first])
        lo, hi = max(at, 0), min(at + size, audio.size)
        if lo < hi:
            audio[lo:hi] = run[lo - at : hi - at]


def _channels(options: RecordingOptions, tracks: dict[RecordingTrack, Samples]) -> Samples:
    inbound, outbound = tracks[RecordingTrack.INBOUND], tracks[RecordingTrack.OUTBOUND]
    if options.track is RecordingTrack.INBOUND:
        return inbound.reshape(-1, 1)
    if options.track is RecordingTrack.OUTBOUND:
        return outbound.reshape(-1, 1)
    if options.channel_count == 2:
        return np.stack([inbound, outbound], axis=1)
    mixed = (inbound.astype(np.int32) + outbound.astype(np.int32)) // 2
    return mixed.astype(np.int16).reshape(-1, 1)


def _trim(audio: Samples) -> tuple[Samples, int]:
    """The audio without its leading and trailing silence, and how many samples led."""
    loud = np.flatnonzero(np.any(np.abs(audio.astype(np.int32)) > SILENCE_THRESHOLD, axis=1))
    if loud.size == 0:
        return audio[:0], 0
    return audio[loud[0] : loud[-1] + 1], int(loud[0])
