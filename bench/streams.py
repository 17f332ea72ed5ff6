"""Benchmark: concurrent real-time media streams that one server process keeps up with.

Each stream speaks Twilio's Media Streams protocol: `start`, then one JSON `media` message every
20 ms (50 a second, 160 bytes of μ-law), and each call has a live recording capturing it. The
server runs pinned to CPU 0, the load generator (one uvloop process) to CPU 1. For each number
of calls, a fresh server is measured for `--seconds`: the p99 delay from a frame's place in real
time to its capture, frames lost, and the server's memory (RSS). The same load against
`bare_streams.py` (parse and decode only) gives the floor. Figures go to docs/BENCHMARKS.md.

With `--sealed`, the cost of Voice Recording Encryption instead: the same load with the account
switched to encryption (an RSA-2048 public key uploaded through `/v1/Credentials/PublicKeys`, then
`callrec accounts update --encryption-key CR…`: every capture file sealed, each 20 ms record
AES-256-GCM encrypted) against the same load without, in alternating rounds (plain, sealed,
sealed, plain, …), with the server's CPU time per frame from /proc; each run checks that its
capture files are sealed (magic `CRCAPs1`) or plain, as they should be.

    python bench/streams.py [--calls 200,400,600,800] [--seconds 10]
    python bench/streams.py --sealed [--calls 400,600,800] [--seconds 10] [--rounds 2]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import secrets
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx
import numpy as np
import uvloop
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from websockets.asyncio.client import ClientConnection, connect

sys.path.insert(0, str(Path(__file__).resolve().parent))
from deployment import cpu_seconds, machine_seconds, wait_for_quiet
from update_recording import found, free_port, replace_section

from callrec.media.capture import MAGIC, SEALED_MAGIC
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
    # --sealed only: what the frames cost the server, and whether its files were sealed
    round: int = 0
    server_cpu_s: float | None = None  # CPU seconds (user + system) while the frames flowed
    wall_s: float | None = None  # how long they flowed
    generator_cores: float | None = None  # the load generator's CPU meanwhile (CPU 1)
    others_cores: float | None = None  # what processes not the benchmark's used meanwhile
    capture_files: int | None = None
    sealed_files: int | None = None

    @property
    def cpu_us_per_frame(self) -> float | None:
        if self.server_cpu_s is None or not self.sent:
            return None
        return self.server_cpu_s / self.sent * 1e6

    @property
    def cores(self) -> float | None:
        if self.server_cpu_s is None or not self.wall_s:
            return None
        return self.server_cpu_s / self.wall_s


async def _drive(
    url: str,
    calls: int,
    seconds: float,
    headers: dict[str, str],
    on_start: object,
    on_end: Callable[[], object] | None = None,
) -> tuple[int, float]:
    """Open `calls` streams, send 50 frames a second on each, return (frames sent, worst tick
    lateness in ms): a late load generator would flatter the server, so it is reported.
    `on_start` (awaited with the call sids) runs before the first frame, `on_end` after the
    last, before the streams close."""
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
    if on_end is not None:
        on_end()
    for connection, _, _ in connections:
        await connection.close()
    return sent, worst * 1000


def _rss_mb(pid: int) -> float:
    text = Path(f"/proc/{pid}/status").read_text()
    return int(found(r"VmRSS:\s+(\d+)", text)) / 1024


def bench_callrec(
    calls: int, seconds: float, tmp: Path, sealed: bool | None = None, round_: int = 0
) -> Result:
    """One fresh server under `calls` streams; with `sealed` not None (--sealed), the account
    encrypts its recordings or not, and the server's CPU and its capture files are looked at."""
    port = free_port()
    name = f"{calls}" if sealed is None else f"{calls}-{'sealed' if sealed else 'plain'}-{round_}"
    log = tmp / f"callrec-{name}.log"
    data = tmp / f"data-{name}"
    command = ["taskset", "-c", "0", sys.executable, "-m", "callrec", "serve", "--port",
               str(port), "--data-dir", str(data), "--stream-grace", "60"]  # fmt: skip
    with log.open("wb") as out:
        server = subprocess.Popen(command, stdout=out, stderr=out)
    base = f"http://127.0.0.1:{port}"
    #: (monotonic, server CPU s, this process's CPU s, the machine's busy s), when the first
    #: frame is about to go and when the last has gone
    marks: list[tuple[float, float, float, float]] = []

    def mark() -> None:
        busy, _, _ = machine_seconds()
        marks.append((time.monotonic(), cpu_seconds([server.pid]), _own_cpu_seconds(), busy))

    try:
        _wait(base + "/_callrec/health")
        text = log.read_text()
        account = found(r"TWILIO_ACCOUNT_SID=(\S+)", text)
        token = found(r"TWILIO_AUTH_TOKEN=(\S+)", text)
        auth = base64.b64encode(f"{account}:{token}".encode()).decode()
        headers = {"Authorization": f"Basic {auth}", "X-Account": account}
        if sealed:
            _encrypt_recordings(base, data, account, token)

        async def record(call_sids: list[str]) -> None:
            async with httpx.AsyncClient(base_url=base, auth=(account, token)) as http:
                for sid in call_sids:
                    path = f"/2010-04-01/Accounts/{account}/Calls/{sid}/Recordings.json"
                    response = await http.post(path)
                    assert response.status_code == 201, response.text
            mark()

        if sealed is not None:
            waited = wait_for_quiet()
            if waited > 2:
                print(f"  waited {waited:.0f} s for the machine to be quiet", flush=True)
        sent, late = uvloop.run(
            _drive(f"ws://127.0.0.1:{port}/streams", calls, seconds, headers, record, mark)
        )
        time.sleep(1.0)
        stats = httpx.get(base + "/_callrec/stats.json").json()
        rss = _rss_mb(server.pid)
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=60)
    lag = stats["frame_lag_ms"]
    result = Result("callrec", calls, sent, stats["frames_received"], stats["frames_captured"],
                    lag["p50"], lag["p99"], rss, late)  # fmt: skip
    if sealed is not None:
        (began, cpu0, own0, busy0), (ended, cpu1, own1, busy1) = marks
        result.round, result.server_cpu_s, result.wall_s = round_, cpu1 - cpu0, ended - began
        result.generator_cores = (own1 - own0) / (ended - began)
        others = (busy1 - busy0) - (cpu1 - cpu0) - (own1 - own0)
        result.others_cores = max(0.0, others) / (ended - began)
        result.capture_files, result.sealed_files = _capture_files(data)
        expected = calls if sealed else 0
        if (result.capture_files, result.sealed_files) != (calls, expected):
            raise RuntimeError(
                f"{name}: {result.sealed_files} of {result.capture_files} capture files sealed,"
                f" {expected} of {calls} expected"
            )
    return result


def _encrypt_recordings(base: str, data: Path, account: str, token: str) -> None:
    """Switch the account to Voice Recording Encryption, as a user does: its RSA public key
    uploaded (Accounts v1 PublicKeys), then `callrec accounts update --encryption-key`."""
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    response = httpx.post(
        base + "/v1/Credentials/PublicKeys",
        data={"PublicKey": pem.decode(), "FriendlyName": "bench"},
        auth=(account, token),
    )
    assert response.status_code == 201, response.text
    key = response.json()["sid"]
    command = [sys.executable, "-m", "callrec", "accounts", "update", "--data-dir", str(data),
               "--account", account, "--encryption-key", key]  # fmt: skip
    subprocess.run(command, check=True, capture_output=True)


def _capture_files(data: Path) -> tuple[int, int]:
    """(capture files, sealed ones) under the data directory; any other magic is an error."""
    files = sealed = 0
    for path in (data / "media").glob("*.cap"):
        with path.open("rb") as file:
            magic = file.read(len(SEALED_MAGIC))
        if magic not in (MAGIC, SEALED_MAGIC):
            raise RuntimeError(f"{path}: not a capture file ({magic!r})")
        files += 1
        sealed += magic == SEALED_MAGIC
    return files, sealed


def _own_cpu_seconds() -> float:
    times = os.times()
    return times.user + times.system


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


SEALED_HEADING = "## Encrypted live recordings: the cost per stream"
#: Issue 11's goal: with every recording sealed, the 600-stream figure holds within 10 %.
SEALED_GOAL_CALLS, SEALED_GOAL = 600, 0.10
#: A server this busy (cores) is saturated.
SATURATED = 0.97


def _mean(values: list[float]) -> float:
    return statistics.fmean(values) if values else float("nan")


def _within(extra: float) -> str:
    return "within 10 %: met" if extra <= SEALED_GOAL else "within 10 %: **missed**"


def report_sealed(results: list[Result], seconds: float, rounds: int) -> str:
    rows = [
        "| calls | recordings | round | frames sent | received | captured | lag p50 ms"
        " | lag p99 ms | server CPU µs / frame | server CPU, cores | RSS MB"
        " | generator late ms | generator, cores | others, cores | capture files sealed |",
        "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in sorted(results, key=lambda r: (r.calls, r.sealed_files != 0, r.round)):
        mode = "sealed" if r.sealed_files else "plain"
        rows.append(
            f"| {r.calls} | {mode} | {r.round + 1} | {r.sent:,} | {r.received:,} | "
            f"{r.captured or 0:,} | {r.p50_ms} | {r.p99_ms} | {r.cpu_us_per_frame:.1f} | "
            f"{r.cores:.2f} | {r.rss_mb:.0f} | {r.client_late_ms:.0f} | "
            f"{r.generator_cores:.2f} | {r.others_cores:.2f} | "
            f"{r.sealed_files} of {r.capture_files} |"
        )
    summary = [
        "| calls | recordings | rounds | frames lost | lag p50 ms | lag p99 ms | server CPU, cores"
        " | server CPU µs / frame | sealed / plain, CPU per frame |",
        "|---:|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    notes = []
    p99_of: dict[tuple[int, str], float] = {}
    for calls in sorted({r.calls for r in results}):
        by_mode = {
            mode: [r for r in results if r.calls == calls and bool(r.sealed_files) == sealed]
            for mode, sealed in (("plain", False), ("sealed", True))
        }
        cpu = {m: _mean([r.cpu_us_per_frame or 0.0 for r in rs]) for m, rs in by_mode.items()}
        cores = {m: _mean([r.cores or 0.0 for r in rs]) for m, rs in by_mode.items()}
        # A saturated core takes more frames a wakeup: its CPU per frame falls, and says little.
        saturated = max(cores.values()) >= SATURATED
        for mode, runs in by_mode.items():
            lost = sum(r.sent - (r.captured or 0) for r in runs)
            p50 = _mean([float(r.p50_ms or 0) for r in runs])
            p99_of[calls, mode] = p99 = _mean([float(r.p99_ms or 0) for r in runs])
            ratio = ""
            if mode == "sealed":
                ratio = "(core saturated)" if saturated else f"{cpu['sealed'] / cpu['plain']:.3f}"
            summary.append(
                f"| {calls} | {mode} | {len(runs)} | {lost:,} | {p50:.1f} | {p99:.1f} | "
                f"{cores[mode]:.2f} | {cpu[mode]:.1f} | {ratio} |"
            )
        every = "; ".join(
            f"{mode} " + ", ".join(f"{r.cpu_us_per_frame:.1f}" for r in runs)
            for mode, runs in by_mode.items()
        )
        notes.append(f"- {calls} calls, server CPU µs per frame, every round: {every}")
        if calls == SEALED_GOAL_CALLS:
            extra = cpu["sealed"] / cpu["plain"] - 1
            lost = sum(r.sent - (r.captured or 0) for r in by_mode["sealed"])
            p99s = {m: p99_of[calls, m] for m in by_mode}
            lag_extra = p99s["sealed"] / p99s["plain"] - 1
            spread = ", ".join(
                f"{m} {min(r.p99_ms or 0 for r in rs):g} to {max(r.p99_ms or 0 for r in rs):g}"
                for m, rs in by_mode.items()
            )
            notes.insert(
                0,
                f"- {calls} streams sealed against plain: server CPU per frame "
                f"**{extra * 100:+.1f} %** ({_within(extra)}); lag p99 **{p99s['sealed']:.1f} ms**"
                f" against {p99s['plain']:.1f} ms, **{lag_extra * 100:+.0f} %** (rounds: {spread}"
                f" ms; {_within(lag_extra)}); {lost} frames lost (goal: the {calls}-stream figure "
                f"holds within {SEALED_GOAL * 100:.0f} %)",
            )
    fewer = round(SEALED_GOAL_CALLS * (1 - SEALED_GOAL))
    if (fewer, "sealed") in p99_of and (SEALED_GOAL_CALLS, "plain") in p99_of:
        sealed_p99, plain_p99 = p99_of[fewer, "sealed"], p99_of[SEALED_GOAL_CALLS, "plain"]
        holds = sealed_p99 <= plain_p99
        notes.insert(
            1,
            f"- {fewer} streams sealed ({SEALED_GOAL_CALLS} less {SEALED_GOAL * 100:.0f} %): "
            f"lag p99 {sealed_p99:.1f} ms against {plain_p99:.1f} ms for {SEALED_GOAL_CALLS} "
            "plain: "
            + ("the figure holds within 10 %" if holds else "worse: the figure does not hold"),
        )
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    calls_text = ",".join(str(c) for c in sorted({r.calls for r in results}))
    return "\n".join(
        [
            f"{SEALED_HEADING} — {when}",
            "",
            f"`python bench/streams.py --sealed --calls {calls_text} --seconds {seconds:g} "
            f"--rounds {rounds}`: the streams benchmark (one fresh server a run pinned to CPU 0, "
            f"the load generator on CPU 1, 50 Twilio `media` messages a second a call, each call "
            f"with a live recording; {seconds:g} s of frames a run) with the account's recordings "
            "plain, and sealed (an RSA-2048 public key uploaded through `/v1/Credentials/"
            "PublicKeys`, then `callrec accounts update --encryption-key CR…`: each 20 ms record "
            "of every capture file AES-256-GCM encrypted), in alternating rounds (plain, sealed, "
            "sealed, plain, …). Server CPU: user + system from /proc over the frames' seconds; "
            "'others': what processes not the benchmark's used meanwhile (the machine is shared). "
            "Each run checks the magic of its capture files (`CRCAPs1` sealed, `CRCAPv3` plain). "
            f"Lag and CPU: the mean of the rounds. {_machine()}",
            "",
            *summary,
            "",
            *rows,
            "",
            *notes,
            "",
        ]
    )


def _machine() -> str:
    """The code measured and the machine: callrec's commit, and whether the package the servers
    run is this tree's src (with changes not committed?) or another copy (PYTHONPATH)."""
    import platform

    import callrec

    commit = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True
    ).stdout.strip()
    source = Path(callrec.__file__).resolve().parent.parent
    if source == ROOT / "src":
        dirty = subprocess.run(
            ["git", "-C", str(ROOT), "status", "--porcelain", "src"],
            capture_output=True,
            text=True,
        ).stdout.strip()
        version = f"callrec at {commit}" + (" with uncommitted changes" if dirty else "")
    else:
        version = f"bench/ at {commit}, callrec imported from {source}"
    return f"{version}; {platform.machine()}, {os.cpu_count()} cores, Python " + (
        f"{platform.python_version()}."
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", default=None, help="default 200,400,600,800; --sealed 600")
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--sealed", action="store_true", help="plain against sealed recordings")
    parser.add_argument("--rounds", type=int, default=2, help="--sealed: rounds of each")
    parser.add_argument("--no-write", action="store_true", help="print, leave the docs alone")
    args = parser.parse_args()
    calls_list = [
        int(n) for n in (args.calls or ("600" if args.sealed else "200,400,600,800")).split(",")
    ]
    os.sched_setaffinity(0, {1})  # the generator stays off the server's core
    results = []
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        if args.sealed:
            for round_ in range(args.rounds):
                for calls in calls_list:
                    # plain, sealed, then sealed, plain: neither always first after a pause
                    order = (False, True) if round_ % 2 == 0 else (True, False)
                    for sealed in order:
                        results.append(bench_callrec(calls, args.seconds, tmp, sealed, round_))
                        print(_progress(results[-1]), flush=True)
            section = report_sealed(results, args.seconds, args.rounds)
            heading = SEALED_HEADING
        else:
            for calls in calls_list:
                results.append(bench_callrec(calls, args.seconds, tmp))
                results.append(bench_bare(calls, args.seconds, tmp))
                print(results[-2], results[-1], sep="\n", flush=True)
            section = report(results, args.seconds)
            heading = "## Concurrent media streams"
    print(section)
    if not args.no_write:
        replace_section(section, heading)


def _progress(r: Result) -> str:
    mode = "sealed" if r.sealed_files else "plain"
    return (
        f"{r.calls} {mode} round {r.round + 1}: sent {r.sent:,} received {r.received:,} "
        f"captured {r.captured or 0:,} lag p50 {r.p50_ms} p99 {r.p99_ms} ms, "
        f"{r.cpu_us_per_frame:.1f} µs/frame, {r.cores:.2f} cores, late {r.client_late_ms:.0f} "
        f"ms, generator {r.generator_cores:.2f} cores, others {r.others_cores:.2f} cores, "
        f"sealed {r.sealed_files}/{r.capture_files}"
    )


if __name__ == "__main__":
    main()
