"""The capture file: frames round-trip; a torn or corrupt tail is cut, everything before kept."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from callrec.domain.model import RecordingTrack
from callrec.media.capture import CaptureWriter, read

frames_strategy = st.lists(
    st.tuples(
        st.sampled_from([RecordingTrack.INBOUND, RecordingTrack.OUTBOUND]),
        st.integers(0, 10**12),
        st.lists(st.integers(-32768, 32767), max_size=400),
    ),
    max_size=20,
)


def _write(path: Path, frames: list[tuple[RecordingTrack, int, list[int]]]) -> None:
    writer = CaptureWriter(path, 16_000)
    for track, at, samples in frames:
        writer.append(track, at, np.array(samples, dtype="<i2").tobytes())
    writer.close()


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(frames=frames_strategy)
def test_round_trip(tmp_path: Path, frames: list[tuple[RecordingTrack, int, list[int]]]) -> None:
    path = tmp_path / "a.cap"
    path.unlink(missing_ok=True)
    _write(path, frames)
    rate, read_back = read(path)
    assert rate == 16_000
    assert [(f.track, f.media_at, f.samples.tolist()) for f in read_back] == frames


def test_torn_tail_is_cut_at_every_byte(tmp_path: Path) -> None:
    frames = [(RecordingTrack.INBOUND, i * 20_000, list(range(i, i + 160))) for i in range(3)]
    whole = tmp_path / "whole.cap"
    _write(whole, frames)
    data = whole.read_bytes()
    record = (len(data) - 12) // 3
    for cut in range(12, len(data)):
        torn = tmp_path / "torn.cap"
        torn.write_bytes(data[:cut])
        _, kept = read(torn)
        assert len(kept) == (cut - 12) // record
        # Reopening for append cuts the torn tail, so new frames follow intact ones.
        writer = CaptureWriter(torn, 8_000)
        writer.append(RecordingTrack.OUTBOUND, 99, b"\x01\x00")
        writer.close()
        _, after = read(torn)
        assert len(after) == len(kept) + 1
        assert after[-1].media_at == 99


def test_corrupt_record_ends_the_file(tmp_path: Path) -> None:
    path = tmp_path / "a.cap"
    _write(path, [(RecordingTrack.INBOUND, i, [i] * 10) for i in range(3)])
    data = bytearray(path.read_bytes())
    data[-3] ^= 0xFF  # a flipped bit in the last frame's samples
    path.write_bytes(bytes(data))
    _, frames = read(path)
    assert [f.media_at for f in frames] == [0, 1]
