"""The console's waveform: peaks per column against a brute-force reading, and the pauses placed in
the rendered audio exactly where the renderer puts its silence and its cuts."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from callrec.console.views import recording_view
from callrec.domain.model import (
    EventKind,
    PauseBehavior,
    Recording,
    RecordingEvent,
    RecordingOptions,
    RecordingSource,
    RecordingStatus,
    RecordingTrack,
    Trim,
)
from callrec.media.capture import Captured
from callrec.media.peaks import Peaks, peaks
from callrec.media.render import audio_position, pause_spans, render, timeline

RATE = 8_000
S = 1_000_000  # a second in microseconds

audio_arrays = arrays(
    np.int16,
    st.tuples(st.integers(0, 3000), st.integers(1, 2)),
    elements=st.integers(-32768, 32767),
)


@given(audio_arrays, st.integers(1, 500))
def test_each_column_holds_the_lowest_and_highest_of_its_samples(
    audio: npt.NDArray[np.int16], columns: int
) -> None:
    found = peaks(audio, RATE, columns)
    count = len(audio)
    assert found.samples == count
    used = min(columns, count)
    for channel in range(audio.shape[1]):
        assert len(found.lows[channel]) == len(found.highs[channel]) == used
        for c in range(used):
            run = audio[c * count // used : (c + 1) * count // used, channel]
            assert found.lows[channel][c] == int(run.min()) >> 8
            assert found.highs[channel][c] == int(run.max()) >> 8


def test_an_hour_of_dual_audio_is_a_small_waveform() -> None:
    hour = np.zeros((3600 * RATE, 2), dtype=np.int16)
    hour[::7] = 32767
    hour[3::7] = -32768
    found = peaks(hour, RATE)
    data = found.to_json()
    assert len(data) < 200_000
    assert Peaks.from_json(data) == found
    assert set(found.highs[0]) == {127}
    assert set(found.lows[1]) == {-128}


def _events(*steps: tuple[EventKind, int, PauseBehavior | None]) -> list[RecordingEvent]:
    return [RecordingEvent("RE", kind, at, None, behavior, at) for kind, at, behavior in steps]


SKIP, SILENCE = PauseBehavior.SKIP, PauseBehavior.SILENCE
TIMELINE = _events(
    (EventKind.STARTED, 1 * S, None),
    (EventKind.PAUSED, 3 * S, SKIP),
    (EventKind.RESUMED, 5 * S, None),
    (EventKind.PAUSED, 6 * S, SILENCE),
    (EventKind.RESUMED, 7 * S + S // 2, None),
    (EventKind.STOPPED, 10 * S, None),
)


def test_a_skip_is_a_cut_and_a_silence_a_span_of_the_audio() -> None:
    spans = pause_spans(timeline(TIMELINE))
    assert [(s.behavior, s.start, s.end, s.skipped) for s in spans] == [
        (SKIP, 2 * S, 2 * S, 2 * S),
        (SILENCE, 3 * S, 4 * S + S // 2, 0),
    ]
    line = timeline(TIMELINE)
    assert audio_position(line, 4 * S) == 2 * S  # inside the skip: at the cut
    assert audio_position(line, 10 * S) == 7 * S  # the end: nine seconds less the two skipped


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(1, 400), st.integers(0, 400), st.sampled_from([SKIP, SILENCE])),
        max_size=4,
    ),
    st.integers(1, 400),
)
def test_the_spans_are_where_the_renderer_put_silence_and_cuts(
    pauses: list[tuple[int, int, PauseBehavior]], tail: int
) -> None:
    """Random timelines (ms), rendered over audio that is never zero: the rendered file is as
    long as the spans say, and zero exactly over each silence span."""
    steps: list[tuple[EventKind, int, PauseBehavior | None]] = [(EventKind.STARTED, 0, None)]
    at = 0
    for run, paused, behavior in pauses:
        at += run * 1000
        steps.append((EventKind.PAUSED, at, behavior))
        at += paused * 1000
        steps.append((EventKind.RESUMED, at, None))
    steps.append((EventKind.STOPPED, at + tail * 1000, None))
    line = timeline(_events(*steps))
    options = RecordingOptions(track=RecordingTrack.INBOUND)

    def loud(_: RecordingTrack, first: int, count: int, rate: int) -> npt.NDArray[np.int16]:
        return np.full(count, 1000, dtype=np.int16)

    audio = render(line, options, Captured.empty(RATE), loud, None).audio[:, 0]
    assert abs(len(audio) - audio_position(line, line.stop) * RATE // S) <= len(pauses) + 1
    for span in pause_spans(line):
        if span.behavior is SILENCE:
            first, last = span.start * RATE // S, span.end * RATE // S
            assert not audio[first + 1 : last - 1].any()
            # ... and loud right outside it, unless another pause or the end is there
    zeros = np.flatnonzero(audio == 0)
    silent = sum((s.end - s.start) * RATE // S for s in pause_spans(line) if s.behavior is SILENCE)
    assert abs(len(zeros) - silent) <= 2 * len(pauses) + 1


def _recording(status: RecordingStatus, behavior: PauseBehavior | None = None) -> Recording:
    return Recording(
        "RE", "AC", "CA", status, RecordingSource.START_CALL_RECORDING_API,
        RecordingOptions(trim=Trim.TRIM_SILENCE), 0, 0, 1 * S, behavior,
    )  # fmt: skip


def test_what_trim_silence_cut_from_the_front_moves_every_span() -> None:
    waveform = Peaks(RATE, 6 * RATE, [[0]], [[0]], lead_trimmed=RATE // 2)
    view = recording_view(_recording(RecordingStatus.COMPLETED), TIMELINE, 20 * S, waveform)
    assert [(s.start, s.end) for s in view.spans] == [
        (2 * S - S // 2, 2 * S - S // 2),
        (3 * S - S // 2, 4 * S),
    ]
    assert view.length == 6 * S
    assert [e.position for e in view.events] == [
        0,
        3 * S // 2,
        3 * S // 2,
        5 * S // 2,
        4 * S,
        6 * S,
    ]


def test_a_live_recording_grows_from_its_last_event_by_wall_time() -> None:
    live = TIMELINE[:4]  # paused with silence at 6 s, and still paused
    view = recording_view(_recording(RecordingStatus.PAUSED, SILENCE), live, 8 * S)
    assert view.length == 5 * S  # 7 s of media, less the 2 s skipped
    assert [(s.behavior, s.start, s.end) for s in view.spans][-1] == (SILENCE, 3 * S, 5 * S)
    assert view.state.startswith("Paused (silence): nothing is being written")


def test_a_timeline_cut_short_shows_its_events_unplaced() -> None:
    view = recording_view(_recording(RecordingStatus.PROCESSING), TIMELINE[1:], 20 * S)
    assert view.length == 0
    assert [e.position for e in view.events] == [None] * 5
