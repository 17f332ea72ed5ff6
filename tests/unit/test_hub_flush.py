"""The hub's promise to a crash: every capture's audio is in its file within half a second of
its frame, however many captures there are (they are flushed a share at a time, in turns)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from callrec.domain.model import RecordingTrack
from callrec.media.capture import read
from callrec.media.encoding import Encoding
from callrec.media.files import MediaFiles
from callrec.media.hub import FLUSH_TURNS, MediaHub

FRAME = bytes(range(160))  # 20 ms of 8 kHz μ-law
CALLS = 3 * FLUSH_TURNS + 1  # every turn holds some
PROMISE = 0.5  # seconds: audio is flushed at least twice a second


def test_every_capture_reaches_its_file_within_the_flush_interval(tmp_path: Path) -> None:
    asyncio.run(_every_capture_reaches_its_file(tmp_path))


async def _every_capture_reaches_its_file(tmp_path: Path) -> None:
    files = MediaFiles(tmp_path, b"k" * 32, False)
    hub = MediaHub(files)
    for index in range(CALLS):
        hub.stream_started(f"CA{index}", 8_000, Encoding.MULAW, 0)
        decision = hub.gate_decided(f"RE{index}", f"CA{index}", open_=True)
        hub.gate_committed(f"RE{index}", decision, open_=True)
    hub.start_flushing()
    try:
        for rounds in range(1, 4):  # new audio every round, each seen in every file in time
            await asyncio.sleep(PROMISE / 3)  # part way through the turns
            for index in range(CALLS):
                hub.frame(f"CA{index}", RecordingTrack.INBOUND, rounds * 20_000, FRAME)
            await asyncio.sleep(PROMISE * 1.1)  # a loop's timers run a little late
            for index in range(CALLS):  # read as a recovery after a crash would
                assert len(read(files.capture(f"RE{index}")).media_at) == rounds, index
    finally:
        await hub.close()
