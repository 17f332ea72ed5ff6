"""Benchmark: rendering, encoding and serving an hour of audio.

- stop -> completed: the render that runs when an hour-long recording stops (read the capture
  file, cut by the timeline, write and fsync the WAV), for captured dual-channel μ-law and for
  a synthetic mono call; the two database transitions around it take milliseconds.
- MP3 encoding (LAME, one core) as a multiple of real time.
- WAV and MP3 downloads from a running server, MB/s over loopback.

    python bench/media.py
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from streams import _wait
from update_recording import free_port, replace_section

from callrec.domain.model import (
    Call,
    CallStatus,
    EventKind,
    PauseBehavior,
    Recording,
    RecordingChannels,
    RecordingEvent,
    RecordingOptions,
    RecordingSource,
    RecordingStatus,
    RecordingTrack,
)
from callrec.media.capture import CaptureWriter
from callrec.media.encoding import Encoding
from callrec.media.files import MediaFiles, write_mp3
from callrec.server import open_accounts
from callrec.service.media import render_to_disk
from callrec.storage.base import Custody, Tx
from callrec.storage.factory import DATABASE_FILE
from callrec.storage.sqlite import SqliteStore

HOUR = 3600
S = 1_000_000


def _events(sid: str) -> list[RecordingEvent]:
    return [
        RecordingEvent(sid, EventKind.STARTED, 0, None, media_at=0),
        RecordingEvent(sid, EventKind.PAUSED, 0, None, PauseBehavior.SKIP, 600 * S),
        RecordingEvent(sid, EventKind.RESUMED, 0, None, media_at=630 * S),
        RecordingEvent(sid, EventKind.STOPPED, 0, None, media_at=(HOUR + 30) * S),
    ]


def _recording(sid: str, call_sid: str, account: str, options: RecordingOptions) -> Recording:
    return Recording(
        sid, account, call_sid, RecordingStatus.PROCESSING, RecordingSource.OUTBOUND_API,
        options, 0, 0, 0,
    )  # fmt: skip


def bench_render(tmp: Path) -> dict[str, float]:
    files = MediaFiles(tmp / "render")
    call_sid, sid = "CA" + "1" * 32, "RE" + "1" * 32
    writer = CaptureWriter(files.capture(sid), 8_000, Encoding.MULAW)
    payload = bytes(range(40, 200))
    for frame in range((HOUR + 30) * 50):
        for track in (RecordingTrack.INBOUND, RecordingTrack.OUTBOUND):
            writer.append(track, frame * 20_000, payload)
    writer.close()
    dual = _recording(sid, call_sid, "AC", RecordingOptions(channels=RecordingChannels.DUAL))
    streamed = Call(call_sid, "AC", "", "", CallStatus.COMPLETED, 0, 0, 0, 0, stream_media_at=0)
    captured = _best(lambda: render_to_disk(files, dual, _events(sid), streamed))
    files.capture(sid).unlink()
    mono = _recording(sid, call_sid, "AC", RecordingOptions())
    synthetic_call = Call(call_sid, "AC", "", "", CallStatus.COMPLETED, 0, 0, 0, 0)
    synthetic = _best(lambda: render_to_disk(files, mono, _events(sid), synthetic_call))
    encode = _best(lambda: write_mp3(files, files.wav(sid), files.mp3(sid)), runs=1)
    return {"captured": captured, "synthetic": synthetic, "mp3_encode": encode}


def _best(action: Callable[[], object], runs: int = 3) -> float:
    times = []
    for _ in range(runs):
        began = time.perf_counter()
        action()
        times.append(time.perf_counter() - began)
    return min(times)


def bench_downloads(tmp: Path) -> dict[str, float]:
    data = tmp / "server"
    accounts = open_accounts(data)
    account, token = accounts.create_account("bench")
    call_sid, sid = "CA" + "2" * 32, "RE" + "2" * 32
    call = Call(call_sid, account.sid, "+1", "+2", CallStatus.COMPLETED, 0, 0, 0, 0, 1)
    recording = _recording(sid, call_sid, account.sid, RecordingOptions())
    render_to_disk(MediaFiles(data / "media"), recording, _events(sid), call)
    done = Recording(
        sid, account.sid, call_sid, RecordingStatus.COMPLETED, RecordingSource.OUTBOUND_API,
        RecordingOptions(), 0, 0, 0, duration=HOUR,
    )  # fmt: skip

    async def insert(tx: Tx) -> None:
        await tx.insert_call(call, Custody(None))
        await tx.insert_recording(done)

    SqliteStore(data / DATABASE_FILE).run_now(insert)
    port = free_port()
    server = subprocess.Popen(
        ["taskset", "-c", "0", sys.executable, "-m", "callrec", "serve", "--port", str(port),
         "--data-dir", str(data)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        base = f"http://127.0.0.1:{port}"
        _wait(base + "/_callrec/health")
        url = f"{base}/2010-04-01/Accounts/{account.sid}/Recordings/{sid}"
        figures = {}
        with httpx.Client(auth=(account.sid, token), timeout=120) as http:
            began = time.perf_counter()
            first = http.get(url + ".mp3")
            figures["mp3_first_request"] = time.perf_counter() - began
            for name, suffix in (("wav", ".wav"), ("mp3", ".mp3")):
                rates = []
                for _ in range(5):
                    began = time.perf_counter()
                    size = len(http.get(url + suffix).content)
                    rates.append(size / (time.perf_counter() - began) / 1e6)
                figures[f"{name}_mb_s"] = statistics.median(rates)
                figures[f"{name}_mb"] = size / 1e6
        assert first.status_code == 200
        return figures
    finally:
        server.terminate()
        server.wait(timeout=30)


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        render = bench_render(tmp)
        downloads = bench_downloads(tmp)
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    section = "\n".join(
        [
            f"## Audio of an hour-long recording — {when}",
            "",
            "`python bench/media.py`: best of 3 renders; downloads over loopback, server on one "
            "core, median of 5. The recording is an hour with a 30 s `skip` pause cut out.",
            "",
            "| what | figure |",
            "|---|---:|",
            f"| stop -> completed, captured dual-channel μ-law (render, write, fsync) | "
            f"{render['captured']:.2f} s |",
            f"| stop -> completed, synthetic mono | {render['synthetic']:.2f} s |",
            "| MP3 encoding (LAME, mono 8 kHz, 32 kbit/s) | "
            f"{HOUR / render['mp3_encode']:.0f} times real time |",
            "| first MP3 request (encodes, then serves) | "
            f"{downloads['mp3_first_request']:.2f} s |",
            f"| WAV download ({downloads['wav_mb']:.1f} MB) | {downloads['wav_mb_s']:.0f} MB/s |",
            f"| MP3 download ({downloads['mp3_mb']:.1f} MB, cached) | "
            f"{downloads['mp3_mb_s']:.0f} MB/s |",
            "",
        ]
    )
    print(section)
    replace_section(section, "## Audio of an hour-long recording")


if __name__ == "__main__":
    main()
