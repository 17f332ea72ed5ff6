"""The renderer: pauses, tracks, channels, trim and absence, from timelines built by hand."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from callrec.domain.model import (
    EventKind,
    PauseBehavior,
    RecordingChannels,
    RecordingEvent,
    RecordingOptions,
    RecordingTrack,
    Trim,
)
from callrec.media.capture import Captured, CaptureWriter, read
from callrec.media.encoding import Encoding
from callrec.media.render import (
    SILENT,
    TOO_SHORT,
    Rendered,
    Synth,
    Timeline,
    render,
    timeline,
)

RATE = 8_000
S = 1_000_000  # a second in microseconds


def _events(*steps: tuple[EventKind, int, PauseBehavior | None]) -> list[RecordingEvent]:
    return [RecordingEvent("RE", kind, 0, None, behavior, at) for kind, at, behavior in steps]


def _constant(value: int) -> Synth:
    def synth(track: RecordingTrack, first: int, count: int, rate: int) -> npt.NDArray[np.int16]:
        level = value if track is RecordingTrack.INBOUND else -value
        return np.full(count, level, dtype=np.int16)

    return synth


Frame = tuple[RecordingTrack, int, npt.NDArray[np.int16]]


def _captured(frames: list[Frame]) -> Captured:
    """Frames through a real capture file, as the renderer gets them."""
    with tempfile.TemporaryDirectory() as tmp:
        writer = CaptureWriter(Path(tmp) / "c.cap", RATE, Encoding.PCM16)
        for track, at, samples in frames:
            writer.append(track, at, samples.astype("<i2").tobytes())
        writer.close()
        return read(Path(tmp) / "c.cap")


def _render(
    line: Timeline,
    options: RecordingOptions,
    frames: list[Frame] | None = None,
    synth_until: int | None = None,
) -> Rendered:
    return render(line, options, _captured(frames or []), _constant(1000), synth_until)


def test_timeline_from_events() -> None:
    line = timeline(
        _events(
            (EventKind.STARTED, 1 * S, None),
            (EventKind.PAUSED, 2 * S, PauseBehavior.SKIP),
            (EventKind.RESUMED, 3 * S, None),
            (EventKind.PAUSED, 4 * S, PauseBehavior.SILENCE),
            (EventKind.STOPPED, 5 * S, None),
        )
    )
    assert (line.start, line.stop) == (1 * S, 5 * S)
    assert [(p.begin, p.end, p.behavior) for p in line.pauses] == [
        (2 * S, 3 * S, PauseBehavior.SKIP),
        (4 * S, 5 * S, PauseBehavior.SILENCE),
    ]


def test_skip_cuts_silence_zeroes() -> None:
    line = timeline(
        _events(
            (EventKind.STARTED, 0, None),
            (EventKind.PAUSED, 1 * S, PauseBehavior.SKIP),
            (EventKind.RESUMED, 2 * S, None),
            (EventKind.PAUSED, 3 * S, PauseBehavior.SILENCE),
            (EventKind.RESUMED, 4 * S, None),
            (EventKind.STOPPED, 5 * S, None),
        )
    )
    options = RecordingOptions(channels=RecordingChannels.DUAL)
    audio = _render(line, options).audio
    assert audio.shape == (4 * RATE, 2)
    assert np.all(audio[: 2 * RATE] == [1000, -1000])
    assert np.all(audio[2 * RATE : 3 * RATE] == 0)
    assert np.all(audio[3 * RATE :] == [1000, -1000])


def test_mono_mix_never_clips() -> None:
    line = Timeline(0, 1 * S, ())
    loud = [
        (RecordingTrack.INBOUND, 0, np.full(RATE, 32767, dtype=np.int16)),
        (RecordingTrack.OUTBOUND, 0, np.full(RATE, 32767, dtype=np.int16)),
    ]
    audio = _render(line, RecordingOptions(), loud, synth_until=0).audio
    assert audio.shape == (RATE, 1)
    assert np.all(audio == 32767)


@pytest.mark.parametrize(
    ("track", "level"), [(RecordingTrack.INBOUND, 1000), (RecordingTrack.OUTBOUND, -1000)]
)
def test_single_track_is_mono(track: RecordingTrack, level: int) -> None:
    options = RecordingOptions(channels=RecordingChannels.DUAL, track=track)
    audio = _render(Timeline(0, 1 * S, ()), options).audio
    assert audio.shape == (RATE, 1)
    assert np.all(audio == level)


def test_stream_replaces_synthetic_audio_from_its_start() -> None:
    frames = [(RecordingTrack.INBOUND, 1 * S, np.full(RATE, 7, dtype=np.int16))]
    options = RecordingOptions(channels=RecordingChannels.DUAL)
    audio = _render(Timeline(0, 2 * S, ()), options, frames, synth_until=1 * S).audio
    assert np.all(audio[:RATE] == [1000, -1000])
    assert np.all(audio[RATE:, 0] == 7)
    assert np.all(audio[RATE:, 1] == 0)  # nothing arrived on the outbound track


def test_trim_drops_leading_and_trailing_silence() -> None:
    frames = [(RecordingTrack.INBOUND, 1 * S, np.full(RATE, 3000, dtype=np.int16))]
    options = RecordingOptions(track=RecordingTrack.INBOUND, trim=Trim.TRIM_SILENCE)
    rendered = _render(Timeline(0, 3 * S, ()), options, frames, synth_until=0)
    assert len(rendered.audio) == RATE
    untrimmed = _render(
        Timeline(0, 3 * S, ()), RecordingOptions(track=RecordingTrack.INBOUND), frames, 0
    )
    assert len(untrimmed.audio) == 3 * RATE


def test_absent_when_too_short_or_silent() -> None:
    assert _render(Timeline(0, S // 4, ()), RecordingOptions()).absent_code == TOO_SHORT
    silent = _render(Timeline(0, 2 * S, ()), RecordingOptions(), [], synth_until=0)
    assert silent.absent_code == SILENT
    dual = RecordingOptions(channels=RecordingChannels.DUAL)
    assert _render(Timeline(0, 2 * S, ()), dual).absent_code is None
