"""The capture file: frames round-trip; a torn or corrupt tail is cut, everything before kept."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from callrec.domain.model import RecordingTrack
from callrec.media.capture import (
    BUFFERED_RECORDS_A_TRACK,
    HEADER_BYTES,
    TRACKS,
    CaptureWriter,
    read,
)
from callrec.media.codec import ulaw_decode
from callrec.media.encoding import Encoding

frames_strategy = st.lists(
    st.tuples(
        st.sampled_from([RecordingTrack.INBOUND, RecordingTrack.OUTBOUND]),
        st.integers(0, 10**12),
        st.lists(st.integers(-32768, 32767), max_size=400),
    ),
    max_size=20,
)


def _write(path: Path, frames: list[tuple[RecordingTrack, int, list[int]]]) -> None:
    writer = CaptureWriter(path, 16_000, Encoding.PCM16)
    for track, at, samples in frames:
        writer.append(track, at, np.array(samples, dtype="<i2").tobytes())
    writer.close()


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(frames=frames_strategy)
def test_round_trip(tmp_path: Path, frames: list[tuple[RecordingTrack, int, list[int]]]) -> None:
    path = tmp_path / "a.cap"
    path.unlink(missing_ok=True)
    _write(path, frames)
    captured = read(path)
    assert captured.rate == 16_000
    block = 16_000 // 50
    expected = []  # a frame longer than a block is several records, a block apart
    for track, at, samples in frames:
        for i in range(0, len(samples), block):
            expected.append((track, at + i * 1_000_000 // 16_000, samples[i : i + block]))
    found = [
        (TRACKS[int(code)], int(at), row[:count].tolist())
        for code, at, count, row in zip(
            captured.track, captured.media_at, captured.count, captured.samples, strict=True
        )
    ]
    assert found == expected


def test_torn_tail_is_cut_at_every_byte(tmp_path: Path) -> None:
    frames = [(RecordingTrack.INBOUND, i * 20_000, list(range(i, i + 320))) for i in range(3)]
    whole = tmp_path / "whole.cap"
    _write(whole, frames)
    data = whole.read_bytes()
    record = (len(data) - HEADER_BYTES) // 3
    for cut in range(HEADER_BYTES, len(data), 7):
        torn = tmp_path / "torn.cap"
        torn.write_bytes(data[:cut])
        kept = len(read(torn).media_at)
        assert kept == (cut - HEADER_BYTES) // record
        # Reopening for append cuts the torn tail, so new frames follow intact ones.
        writer = CaptureWriter(torn, 16_000, Encoding.PCM16)
        writer.append(RecordingTrack.OUTBOUND, 99, b"\x01\x00")
        writer.close()
        after = read(torn)
        assert len(after.media_at) == kept + 1
        assert after.media_at[-1] == 99


def test_corrupt_record_ends_the_file(tmp_path: Path) -> None:
    path = tmp_path / "a.cap"
    _write(path, [(RecordingTrack.INBOUND, i, [i] * 10) for i in range(3)])
    data = bytearray(path.read_bytes())
    data[-3] ^= 0xFF  # a flipped bit in the last frame's samples
    path.write_bytes(bytes(data))
    assert read(path).media_at.tolist() == [0, 1]


def test_a_long_frame_becomes_several_records(tmp_path: Path) -> None:
    path = tmp_path / "a.cap"
    samples = list(range(-500, 500))  # 1000 samples: 3 whole records of 320 and 40 more
    _write(path, [(RecordingTrack.OUTBOUND, 7, samples)])
    captured = read(path)
    assert captured.count.tolist() == [320, 320, 320, 40]
    assert captured.media_at.tolist() == [7, 20_007, 40_007, 60_007]
    joined = np.concatenate(
        [row[:count] for row, count in zip(captured.samples, captured.count, strict=True)]
    )
    assert joined.tolist() == samples


def test_mulaw_is_kept_as_received_and_decoded_on_read(tmp_path: Path) -> None:
    path = tmp_path / "a.cap"
    writer = CaptureWriter(path, 8_000, Encoding.MULAW)
    payload = bytes(range(160))
    writer.append(RecordingTrack.INBOUND, 0, payload)
    writer.close()
    assert payload in path.read_bytes()  # as received: one byte a sample
    assert read(path).samples[0].tolist() == ulaw_decode(payload).tolist()


KEY = bytes(range(32))


def _frames(count: int, offset: int = 0) -> list[bytes]:
    return [np.full(160, 1000 + i + offset, dtype="<i2").tobytes() for i in range(count)]


def test_a_sealed_file_holds_no_plaintext_and_reads_back_with_its_key(tmp_path: Path) -> None:
    path = tmp_path / "s.cap"
    writer = CaptureWriter(path, 8_000, Encoding.PCM16, KEY)
    frames = _frames(5)
    for i, frame in enumerate(frames):
        writer.append(RecordingTrack.INBOUND, i * 20_000, frame)
    writer.close()
    stored = path.read_bytes()
    assert all(frame not in stored for frame in frames)
    captured = read(path, KEY)
    assert captured.samples.tobytes() == b"".join(frames)
    assert captured.media_at.tolist() == [i * 20_000 for i in range(5)]
    with pytest.raises(ValueError, match="sealed"):
        read(path)
    assert len(read(path, bytes(32)).media_at) == 0  # another key opens nothing


def test_a_sealed_file_resumes_sealed_after_its_torn_tail(tmp_path: Path) -> None:
    path = tmp_path / "s.cap"
    writer = CaptureWriter(path, 8_000, Encoding.PCM16, KEY)
    for i, frame in enumerate(_frames(3)):
        writer.append(RecordingTrack.OUTBOUND, i * 20_000, frame)
    writer.close()
    with path.open("ab") as torn:
        torn.write(b"\x01\x00\xa0")  # a crash in the middle of the next record
    with pytest.raises(ValueError, match="sealed"):
        CaptureWriter(path, 8_000, Encoding.PCM16)  # not without its key
    resumed = CaptureWriter(path, 8_000, Encoding.PCM16, KEY)
    resumed.append(RecordingTrack.OUTBOUND, 60_000, _frames(1, offset=3)[0])
    resumed.close()
    captured = read(path, KEY)
    assert captured.samples.tobytes() == b"".join(_frames(4))


@pytest.mark.parametrize("key", [None, KEY], ids=["plain", "sealed"])
@pytest.mark.parametrize("samples", [160, 500], ids=["a frame", "a long frame"])
def test_a_view_of_a_reused_buffer_is_kept_as_it_was(
    tmp_path: Path, key: bytes | None, samples: int
) -> None:
    """Binary streams hand the socket's buffer over as a view: what was appended must not
    change when the buffer is read into again."""
    path = tmp_path / "v.cap"
    writer = CaptureWriter(path, 8_000, Encoding.PCM16, key)
    buffer = bytearray(np.arange(samples, dtype="<i2").tobytes())
    writer.append(RecordingTrack.INBOUND, 0, memoryview(buffer))
    buffer[:] = bytes(len(buffer))  # the next message, read into the same buffer
    writer.close()
    captured = read(path, key)
    kept = np.concatenate(
        [row[:n] for row, n in zip(captured.samples, captured.count, strict=True)]
    )
    assert kept.tolist() == list(range(samples))


@pytest.mark.parametrize("key", [None, KEY], ids=["plain", "sealed"])
@pytest.mark.parametrize("tracks", [1, 2])
def test_a_full_buffer_is_written_as_the_next_record_comes(
    tmp_path: Path, key: bytes | None, tracks: int
) -> None:
    """A flusher late enough to let a writer's buffer fill (or a stream sending more tracks
    than it said): what it held goes to the file when the next record comes, and every record
    reads back, in order."""
    path = tmp_path / "f.cap"
    writer = CaptureWriter(path, 8_000, Encoding.PCM16, key, tracks)
    frames = _frames(6 * BUFFERED_RECORDS_A_TRACK + 7)
    long_frame = np.arange(400, dtype="<i2").tobytes()  # 2.5 blocks: three records
    for i, frame in enumerate(frames):
        writer.append(RecordingTrack.INBOUND, i * 20_000, frame)
        if i % 50 == 0:
            writer.append(RecordingTrack.OUTBOUND, i * 20_000, long_frame)
    written = len(read(path, key).media_at)  # never flushed
    assert written >= len(frames) - tracks * BUFFERED_RECORDS_A_TRACK
    writer.close()
    captured = read(path, key)
    inbound = captured.of(RecordingTrack.INBOUND)
    assert inbound.samples.tobytes() == b"".join(frames)
    assert inbound.media_at.tolist() == [i * 20_000 for i in range(len(frames))]
    outbound = captured.of(RecordingTrack.OUTBOUND)
    assert outbound.count.tolist() == [160, 160, 80] * len(range(0, len(frames), 50))
    assert outbound.samples[:3].reshape(-1)[:400].tolist() == list(range(400))
