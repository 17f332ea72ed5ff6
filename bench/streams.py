"""Benchmark: concurrent real-time media streams that one server process keeps up with.

Each stream speaks Twilio's Media Streams protocol: `start`, then one JSON `media` message every
20 ms (50 a second, 160 bytes of μ-law), and each call has a live recording capturing it. The
server runs pinned to CPU 0, the load generator (one uvloop process) to CPU 1. For each number
of calls, a fresh server is measured for `--seconds`: the p99 delay from a frame's place in real
time to its capture, frames lost, and the server's memory (RSS). The same load against
`bare_streams.py` (parse and decode only) gives the floor. Figures go to docs/BENCHMARKS.md.

    python bench/streams.py [--calls 200,400,600,800] [--seconds 10]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import numpy as np
import uvloop
from websockets.asyncio.client import ClientConnection, connect

sys.path.insert(0, str(Path(__file__).resolve().parent))
from update_recording import found, free_port, replace_section

from callrec.media.codec import ulaw_encode

ROOT = Path(__file__).resolve().parent.parent
PAYLOAD = base64.b64encode(
    ulaw_encode((np.sin(np.arange(160) / 4) * 6000).astype(np.int16))
).decode()
FRAME = 0.020


@dataclass
class Result:
    server: str
    calls: int
    sent: int
    received: int
    captured: int | None
    p50_ms: float | None
    p99_ms: float | None
    rss_mb: float | None
    client_late_ms: float


async def _drive(
    url: str, calls: int, seconds: float, headers: dict[str, str], on_start: object
) -> tuple[int, float]:
    """Open `calls` streams, send 50 frames a second on each, return (frames sent, worst tick
    lateness in ms): a late load generator would flatter the server, so it is reported."""
    connections: list[tuple[ClientConnection, str, float]] = []
    for _ in range(calls):
        call_sid = "CA" + secrets.token_hex(16)
        connection = await connect(url, additional_headers=headers, compression=None)
        await connection.send(json.dumps({"event": "connected", "protocol": "Call"}))
        await connection.send(
            json.dumps(
                {
                    "event": "start",
                    "start": {
                        "accountSid": headers.get("X-Account", "AC" + "0" * 32),
                        "callSid": call_sid,
                        "streamSid": "MZ" + "0" * 32,
                        "tracks": ["inbound"],
                        "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000},
                    },
                }
            )
        )
        connections.append((connection, call_sid, time.monotonic()))
    if callable(on_start):
        await on_start([sid for _, sid, _ in connections])
    sent, worst = 0, 0.0
    began = time.monotonic()
    frame = 0
    while time.monotonic() - began < seconds:
        for connection, _, started in connections:
            # The frame's timestamp is when it is sent, on the stream's clock (since `start`):
            # the server's lag is then the delay from send to capture.
            stamp = str(int((time.monotonic() - started) * 1000))
            media = {"track": "inbound", "timestamp": stamp, "payload": PAYLOAD}
            await connection.send(json.dumps({"event": "media", "media": media}))
        sent += len(connections)
        frame += 1
        delay = began + frame * FRAME - time.monotonic()
        worst = max(worst, -delay)
        if delay > 0:
            await asyncio.sleep(delay)
    for connection, _, _ in connections:
        await connection.close()
    return sent, worst * 1000


def _rss_mb(pid: int) -> float:
    text = Path(f"/proc/{pid}/status").read_text()
    return int(found(r"VmRSS:\s+(\d+)", text)) / 1024


def bench_callrec(calls: int, seconds: float, tmp: Path) -> Result:
    port = free_port()
    log = tmp / f"callrec-{calls}.log"
    data = str(tmp / f"data-{calls}")
    command = ["taskset", "-c", "0", sys.executable, "-m", "callrec", "serve", "--port",
               str(port), "--data-dir", data, "--stream-grace", "60"]  # fmt: skip
    with log.open("wb") as out:
        server = subprocess.Popen(command, stdout=out, stderr=out)
    base = f"http://127.0.0.1:{port}"
    try:
        _wait(base + "/_callrec/health")
        text = log.read_text()
        account = found(r"TWILIO_ACCOUNT_SID=(\S+)", text)
        token = found(r"TWILIO_AUTH_TOKEN=(\S+)", text)
        auth = base64.b64encode(f"{account}:{token}".encode()).decode()
        headers = {"Authorization": f"Basic {auth}", "X-Account": account}

        async def record(call_sids: list[str]) -> None:
            async with httpx.AsyncClient(base_url=base, auth=(account, token)) as http:
                for sid in call_sids:
                    path = f"/2010-04-01/Accounts/{account}/Calls/{sid}/Recordings.json"
                    response = await http.post(path)
                    assert response.status_code == 201, response.text

        sent, late = uvloop.run(
            _drive(f"ws://127.0.0.1:{port}/streams", calls, seconds, headers, record)
        )
        time.sleep(1.0)
        stats = httpx.get(base + "/_callrec/stats.json").json()
        rss = _rss_mb(server.pid)
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=60)
    lag = stats["frame_lag_ms"]
    return Result("callrec", calls, sent, stats["frames_received"], stats["frames_captured"],
                  lag["p50"], lag["p99"], rss, late)  # fmt: skip


def bench_bare(calls: int, seconds: float, tmp: Path) -> Result:
    port = free_port()
    command = ["taskset", "-c", "0", sys.executable, str(ROOT / "bench" / "bare_streams.py"),
               "--port", str(port)]  # fmt: skip
    server = subprocess.Popen(command, stdout=subprocess.PIPE)
    try:
        _wait_port(port)
        sent, late = uvloop.run(_drive(f"ws://127.0.0.1:{port}", calls, seconds, {}, None))
        time.sleep(1.0)
        rss = _rss_mb(server.pid)
    finally:
        server.send_signal(signal.SIGTERM)
        out, _ = server.communicate(timeout=60)
    figures = json.loads(out)
    lag = figures["frame_lag_ms"]
    return Result("bare websockets", calls, sent, figures["frames_received"], None,
                  lag["p50"], lag["p99"], rss, late)  # fmt: skip


def _wait(url: str) -> None:
    for _ in range(200):
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.TransportError:
            time.sleep(0.05)
    raise RuntimeError(f"{url} did not come up")


def _wait_port(port: int) -> None:
    import socket

    for _ in range(200):
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"port {port} did not open")


def report(results: list[Result], seconds: float) -> str:
    rows = [
        "| server | calls | frames sent | received | captured | lag p50 ms | lag p99 ms"
        " | RSS MB | generator late ms |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        rows.append(
            f"| {r.server} | {r.calls} | {r.sent:,} | {r.received:,} | "
            f"{'' if r.captured is None else f'{r.captured:,}'} | {r.p50_ms} | {r.p99_ms} | "
            f"{r.rss_mb:.0f} | {r.client_late_ms:.0f} |"
        )
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    return "\n".join(
        [
            f"## Concurrent media streams — {when}",
            "",
            f"`python bench/streams.py`: {seconds:.0f} s per row, server pinned to one core, the "
            "load generator on the other; each call streams 50 Twilio `media` messages a second "
            "and has a live recording. Lag: from a frame's place in real time to its capture "
            "(callrec) or decoding (bare). 'generator late' is how far the load generator itself "
            "fell behind real time at worst: beyond a few ms, the row measures the generator.",
            "",
            *rows,
            "",
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", default="200,400,600,800")
    parser.add_argument("--seconds", type=float, default=10)
    args = parser.parse_args()
    os.sched_setaffinity(0, {1})  # the generator stays off the server's core
    results = []
    with tempfile.TemporaryDirectory() as tmp_name:
        for calls in (int(n) for n in args.calls.split(",")):
            results.append(bench_callrec(calls, args.seconds, Path(tmp_name)))
            results.append(bench_bare(calls, args.seconds, Path(tmp_name)))
            print(results[-2], results[-1], sep="\n", flush=True)
    section = report(results, args.seconds)
    print(section)
    replace_section(section, "## Concurrent media streams")


if __name__ == "__main__":
    main()
