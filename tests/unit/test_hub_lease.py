"""The hub's lease: past the deadline its membership set, no frame is written, even when no
timer has run since (a saturated loop runs timers late, frames on time)."""

from __future__ import annotations

import time
from pathlib import Path

from callrec.domain.model import RecordingTrack
from callrec.media.capture import read
from callrec.media.encoding import Encoding
from callrec.media.files import MediaFiles
from callrec.media.hub import MediaHub

FRAME = bytes(range(160))  # 20 ms of 8 kHz μ-law
STEP = 20_000  # µs


def test_frames_past_the_lease_are_not_written_and_the_span_is_told(tmp_path: Path) -> None:
    files = MediaFiles(tmp_path, b"k" * 32, False)
    hub = MediaHub(files)
    hub.stream_started("CA1", 8_000, Encoding.MULAW, 0)
    decision = hub.gate_decided("RE1", "CA1", open_=True)
    hub.gate_committed("RE1", decision, open_=True)
    hub.hold_until(time.monotonic() + 3600)
    for index in range(5):
        hub.frame("CA1", RecordingTrack.INBOUND, index * STEP, FRAME)
    hub.hold_until(time.monotonic() - 0.001)  # the lease ran out, and no timer said so
    for index in range(5, 8):
        hub.frame("CA1", RecordingTrack.INBOUND, index * STEP, FRAME)
    assert hub.fenced
    assert hub.stats.frames_fenced == 3
    hub.hold_until(time.monotonic() + 3600)  # renewed
    assert hub.unfence() == {"CA1": (5 * STEP, 8 * STEP)}
    hub.frame("CA1", RecordingTrack.INBOUND, 8 * STEP, FRAME)
    hub.finish("RE1")
    captured = read(files.capture("RE1"))
    assert captured.media_at.tolist() == [i * STEP for i in (0, 1, 2, 3, 4, 8)]


def test_without_a_lease_the_hub_never_fences(tmp_path: Path) -> None:
    hub = MediaHub(MediaFiles(tmp_path, b"k" * 32, False))
    hub.stream_started("CA1", 8_000, Encoding.MULAW, 0)
    hub.frame("CA1", RecordingTrack.INBOUND, 0, FRAME)
    assert not hub.fenced
