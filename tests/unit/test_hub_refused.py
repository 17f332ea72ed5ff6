"""A disk that refuses a capture file's writes (a full one): the frames that cannot be written
are dropped and counted, said once in the log, the stream goes on, and the file keeps every
record it was given before and after, whole."""

from __future__ import annotations

import asyncio
import logging
import resource
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from callrec.domain.model import RecordingTrack
from callrec.media.capture import BUFFERED_RECORDS_A_TRACK, read
from callrec.media.encoding import Encoding
from callrec.media.files import MediaFiles
from callrec.media.hub import FLUSH_INTERVAL_SECONDS, MediaHub

FRAME = bytes(range(160))  # 20 ms of 8 kHz μ-law


@contextmanager
def _writes_refused_past(size: int) -> Iterator[None]:
    """The OS refuses to write any file of this process past `size` bytes, as a full disk does
    (EFBIG rather than ENOSPC; Python ignores the SIGXFSZ that comes with it)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (size, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))


def _recording(tmp_path: Path) -> tuple[MediaHub, Path]:
    files = MediaFiles(tmp_path, b"k" * 32, False)
    hub = MediaHub(files)
    hub.stream_started("CA1", 8_000, Encoding.MULAW, 0, tracks=1)
    decision = hub.gate_decided("RE1", "CA1", open_=True)
    hub.gate_committed("RE1", decision, open_=True)
    return hub, files.capture("RE1")


def _send(hub: MediaHub, frames: range) -> None:
    for n in frames:
        hub.frame("CA1", RecordingTrack.INBOUND, n * 20_000, FRAME)


def _refusals(caplog: pytest.LogCaptureFixture) -> int:
    return sum("cannot be written" in record.getMessage() for record in caplog.records)


def test_a_full_buffer_the_disk_refuses_drops_the_frames_after_it(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    hub, capture = _recording(tmp_path)
    held = BUFFERED_RECORDS_A_TRACK
    with _writes_refused_past(1_000):  # less than the buffer holds: cut short mid-record
        _send(hub, range(held + 40))  # the buffer fills, and 40 frames find it full
        assert hub.stats.frames_unwritten == 40
        assert capture.stat().st_size == 0  # the refused write's part cut off
    _send(hub, range(held + 40, held + 50))  # room again: the buffer goes, then these
    asyncio.run(hub.close())
    kept = read(capture).media_at.tolist()
    assert kept == [n * 20_000 for n in [*range(held), *range(held + 40, held + 50)]]
    assert hub.stats.frames_captured == held + 10
    assert _refusals(caplog) == 1  # said once, not forty times


def test_the_flusher_goes_on_after_a_refused_write(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    asyncio.run(_flusher_goes_on(tmp_path))
    assert _refusals(caplog) == 1


async def _flusher_goes_on(tmp_path: Path) -> None:
    hub, capture = _recording(tmp_path)
    hub.start_flushing()
    try:
        with _writes_refused_past(1_000):
            _send(hub, range(10))  # 24 + 10 * 176 bytes: refused at every turn
            await asyncio.sleep(FLUSH_INTERVAL_SECONDS * 2.2)
            assert capture.stat().st_size == 0
        _send(hub, range(10, 12))
        await asyncio.sleep(FLUSH_INTERVAL_SECONDS * 1.1)
        assert read(capture).media_at.tolist() == [n * 20_000 for n in range(12)]
        assert hub.stats.frames_unwritten == 0  # kept buffered meanwhile, never dropped
    finally:
        await hub.close()


@pytest.fixture(autouse=True)
def _errors_logged(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.ERROR, logger="callrec.media.hub")
