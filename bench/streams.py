"""Benchmark: concurrent real-time media streams that one server process keeps up with.

Each stream speaks Twilio's Media Streams protocol: `start`, then one JSON `media` message every
20 ms (50 a second, 160 bytes of μ-law), and each call has a live recording capturing it. The
server runs pinned to CPU 0, the load generator (one uvloop process: `picows` opens the streams,
then each frame is written whole to its socket, a `write(2)`, prebuilt but for a JSON message's
timestamp) to CPU 1. The streams
are opened first (a few handshakes in flight at once), their recordings started, and only then
do the frames flow, each stream in its own phase of the 20 ms (the generator wakes every 2 ms
and sends for the streams of that slot): a frame's timestamp is when it is sent, on its stream's
clock. For each number of calls, a fresh server is measured for `--seconds`: the p50/p99 delay
from a frame's place in real time to its capture, frames lost, the server's CPU per frame (from
/proc), the generator's own CPU and lateness, and the server's memory (RSS) before the streams
(with one stream open, so what the first stream loads is not counted) and with all of them live.

With `--binary`, the streams are raw PCM instead, as jambonz and FreeSWITCH audio forks send:
`/streams?sampleRate=8000&channels=1&callSid=CA…` with HTTP Basic auth, 320 bytes of 16-bit
little-endian PCM a message (20 ms at 8 kHz mono), 50 a second, no JSON; a recording started per
call as for JSON. A binary stream's clock is its samples, from the handshake: each sends from its
handshake on (while the others are still being opened), and the measured seconds begin once all
are open and recording.

`--servers` names what is measured, side by side in one run, each number of calls in turn (the
servers in rotating order): `bare-websockets` (bench/bare_streams.py), `bare-picows`
(bench/bare_picows.py) — the floors: the same parse, decode and append per message, no capture —
and `callrec`, once for each `--callrec-src` (a source tree put first on the server's
PYTHONPATH, labelled by its git commit) or, without one, the installed callrec. With them (or
`--probe`), a REST probe measures what an app sees meanwhile: during the measured seconds, one
client (a thread of the generator's process) sends UpdateCallRecording on the first call's
recording every 100 ms, paused and in-progress in turn, and keeps each answer's latency and
status; the frames the paused recording drops at its gate are counted apart, not as lost.

With `--sealed`, the cost of Voice Recording Encryption instead: the same load with the account
switched to encryption (an RSA-2048 public key uploaded through `/v1/Credentials/PublicKeys`, then
`callrec accounts update --encryption-key CR…`: every capture file sealed, each 20 ms record
AES-256-GCM encrypted) against the same load without, in alternating rounds (plain, sealed,
sealed, plain, …), with the server's CPU time per frame from /proc; each run checks that its
capture files are sealed (magic `CRCAPs1`) or plain, as they should be.

    python bench/streams.py [--calls 200,400,600,800] [--seconds 10]
    python bench/streams.py --servers bare-websockets,bare-picows,callrec \\
        [--callrec-src /path/to/old/src --callrec-src /path/to/new/src] [--binary] \\
        [--calls 1000,1500,2000,2500] [--seconds 10] [--rounds 1] [--no-probe]
    python bench/streams.py --sealed [--calls 400,600,800] [--seconds 10] [--rounds 2]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import gc
import json
import math
import os
import re
import secrets
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import httpx
import numpy as np
import uvloop
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from picows import WSCloseCode, WSFrame, WSListener, WSMsgType, WSTransport, ws_connect

sys.path.insert(0, str(Path(__file__).resolve().parent))
from deployment import cpu_seconds, machine_seconds, wait_for_quiet
from update_recording import found, free_port, replace_section

from callrec.media.codec import ulaw_encode
from callrec.media.hub import LagHistogram

ROOT = Path(__file__).resolve().parent.parent
TONE = (np.sin(np.arange(160) / 4) * 6000).astype(np.int16)
PAYLOAD = base64.b64encode(ulaw_encode(TONE)).decode()
FRAME = 0.020
#: A Twilio `media` message, all but its timestamp (ms on the stream's clock) made once.
MEDIA = (
    b'{"event":"media","media":{"track":"inbound","timestamp":"%d","payload":"'
    + PAYLOAD.encode()
    + b'"}}'
)
#: A binary message: 20 ms of 16-bit little-endian PCM at 8 kHz, mono.
PCM = TONE.astype("<i2").tobytes()
BINARY_RATE = 8_000
#: Each 20 ms is cut into this many slots; a stream sends in one of them (its phase).
SLOTS = 10
#: Handshakes in flight at once while the streams are opened.
OPENING = 8
ON_TIME_SECONDS = 0.005  # a slot this late is on time
CATCH_UP_SECONDS = 15.0  # the most the measured seconds wait for the generator to be on time
#: Recordings started at once (POSTs in flight).
RECORDING = 8
SERVERS = ("bare-websockets", "bare-picows", "callrec")
BARE_SCRIPTS = {"bare-websockets": "bare_streams.py", "bare-picows": "bare_picows.py"}


@dataclass
class Target:
    """A server to measure: `kind` one of SERVERS; a callrec from `src` (PYTHONPATH), or the
    installed one."""

    kind: str
    label: str
    src: Path | None = None

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        if self.src is not None:
            env["PYTHONPATH"] = os.pathsep.join(
                [str(self.src), *filter(None, [os.environ.get("PYTHONPATH")])]
            )
        return env


@dataclass
class Result:
    server: str
    calls: int
    sent: int  # frames sent while measured
    received: int
    captured: int | None
    p50_ms: float | None
    p99_ms: float | None
    rss_mb: float | None  # with every stream live, at the end of the measured seconds
    client_late_ms: float
    client_late_p99_ms: int | None = None  # the generator's lateness at the frames' p99
    # --sealed only: what the frames cost the server, and whether its files were sealed
    round: int = 0
    server_cpu_s: float | None = None  # CPU seconds (user + system) while the frames flowed
    wall_s: float | None = None  # how long they flowed
    generator_cores: float | None = None  # the load generator's CPU meanwhile (CPU 1)
    others_cores: float | None = None  # what processes not the benchmark's used meanwhile
    capture_files: int | None = None
    sealed_files: int | None = None
    sent_total: int | None = None  # every frame sent (binary streams send from their handshake)
    rss_before_mb: float | None = None  # with one stream open, before the others
    #: the most RSS the server had in the run (its VmHWM: the calls ending together, as a rule)
    rss_peak_mb: float | None = None
    rss_after_mb: float | None = None  # once the calls had ended and the server was idle again
    lag_max_ms: float | None = None
    #: lag p99 over the whole run, the opening included (binary streams send from their
    #: handshake; p50/p99/max above are over the measured seconds)
    p99_whole_ms: float | None = None
    dropped: int = 0  # streams the server closed before the end
    binary: bool = False
    waited_s: float = 0.0  # waited for a quiet machine before the run
    fenced: int | None = None  # callrec: frames dropped while fenced (its presence not renewed)
    fences: int | None = None  # callrec: times its log says it fenced itself
    gated: int | None = None  # callrec: frames dropped at a paused recording's gate (the probe's)
    probe: Probe | None = None  # callrec: UpdateCallRecording answered meanwhile
    #: TCP segments sent on the machine in the measured seconds (loopback: the frames, and the
    #: server's ACKs of them)
    segments: int | None = None

    @property
    def cpu_us_per_frame(self) -> float | None:
        if self.server_cpu_s is None or not self.sent:
            return None
        return self.server_cpu_s / self.sent * 1e6

    @property
    def segments_per_frame(self) -> float | None:
        return self.segments / self.sent if self.segments is not None and self.sent else None

    @property
    def cores(self) -> float | None:
        if self.server_cpu_s is None or not self.wall_s:
            return None
        return self.server_cpu_s / self.wall_s

    @property
    def kept(self) -> int:
        """Frames the server kept: captured by callrec, or dropped at the gate of a recording
        the probe had paused (JSON: every frame is after the recording began); received by a
        floor, or by callrec in binary mode (there the frames before the recording began are not
        captured, by design), less those callrec dropped while fenced."""
        if self.captured is not None and not self.binary:
            return self.captured + (self.gated or 0)
        return self.received - (self.fenced or 0)

    @property
    def lost(self) -> int:
        return (self.sent_total if self.sent_total is not None else self.sent) - self.kept

    @property
    def kb_per_stream(self) -> float | None:
        if self.rss_mb is None or self.rss_before_mb is None or self.calls < 2:
            return None
        return (self.rss_mb - self.rss_before_mb) * 1024 / (self.calls - 1)


# the load generator


class _Peer(WSListener):
    """The generator's end of one stream: it reads nothing but a close."""

    def __init__(self) -> None:
        self.closed = False
        self.on_closed: Callable[[], None] | None = None

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        if frame.msg_type is WSMsgType.CLOSE:
            transport.send_close(frame.get_close_code())
            transport.disconnect()

    def on_ws_disconnected(self, transport: WSTransport) -> None:
        if not self.closed:
            self.closed = True
            if self.on_closed is not None:
                self.on_closed()


def _client_frame(opcode: int, payload: bytes) -> bytes:
    """A whole client WebSocket frame (FIN set) carrying `payload`, masked with the key 0.

    RFC 6455 asks a client for an unpredictable key, against proxies that cache; a load
    generator on loopback has none to fool, and the servers unmask every byte all the same
    (picows and websockets have no shortcut for a zero key), so a frame costs them what a
    browser's would. With the key 0 the masked payload is the payload: nothing to compute."""
    size = len(payload)
    if size < 126:
        length = bytes([0x80 | size])
    elif size < 1 << 16:
        length = bytes([0x80 | 126]) + size.to_bytes(2, "big")
    else:
        length = bytes([0x80 | 127]) + size.to_bytes(8, "big")
    return bytes([0x80 | opcode]) + length + b"\0\0\0\0" + payload


#: A whole binary frame of PCM, made once: every binary stream sends it 50 times a second.
PCM_FRAME = _client_frame(0x2, PCM)


#: A `media` message's text frame header by the message's length (its timestamp's digits vary
#: it), so that a frame is one formatting and one concatenation (0.5 µs; framed whole, 1.3 µs).
MEDIA_HEADERS = {
    len(message): _client_frame(0x1, message)[: -len(message)]
    for message in (MEDIA % 10**digits for digits in range(13))
}


def _media_frame(ms: int) -> bytes:
    """A whole text frame of a `media` message stamped `ms`."""
    message = MEDIA % ms
    return MEDIA_HEADERS[len(message)] + message


@dataclass(slots=True)
class _Stream:
    """One stream of the generator: its frames are written to the socket's descriptor itself,
    a `write(2)` each (picows framing and uvloop's transport cost ~1 µs a frame of user time,
    and the generator's core is the limit: it also runs the server's TCP receive path, on
    loopback). If the socket cannot take a whole frame, the rest, and every frame after it, go
    through the transport, which keeps them in order and writes them when it can."""

    transport: WSTransport
    peer: _Peer
    call_sid: str
    started: float  # monotonic: when `start` was sent (JSON), or the handshake done (binary)
    fd: int = -1  # the socket's descriptor while frames are written to it directly, else -1

    def __post_init__(self) -> None:
        underlying = self.transport.underlying_transport
        if underlying.get_write_buffer_size() == 0:  # nothing queued that a frame could pass
            self.fd = underlying.get_extra_info("socket").fileno()

    def write(self, frame: bytes) -> None:
        if self.fd >= 0:
            try:
                written = os.write(self.fd, frame)
            except OSError:  # full (EAGAIN), or reset: the transport queues it, or finds out
                written = 0
            if written == len(frame):
                return
            self.fd = -1
            frame = frame[written:]
        self.transport.underlying_transport.write(frame)


@dataclass
class Drive:
    sent: int  # frames sent during the measured seconds
    sent_total: int  # every frame sent
    late_ms: float  # the generator's worst lateness during the measured seconds
    late_p99_ms: int | None  # its lateness at the frames' p99 (each frame as late as its slot)
    dropped: int  # streams that closed before the end
    opening_s: float  # from the first handshake to the first measured frame


class _Sender:
    """Sends each stream's frames in its slot of every 20 ms; catches up when late (never skips
    a frame), and measures how late it was, at worst, while `measuring`."""

    def __init__(self, binary: bool) -> None:
        self.binary = binary
        self.slots: list[list[_Stream]] = [[] for _ in range(SLOTS)]
        self.sent = 0
        self.worst = 0.0
        #: Frames sent in the measured seconds by how late their slot went, in 1 ms buckets: a
        #: binary frame has no timestamp, so this lateness is lag at the server too.
        self.lateness = LagHistogram()
        self.measuring = False
        self.stopped = False
        self.punctual = asyncio.Event()  # set while slots go out on time
        self.tick = 0  # the next slot to send, counted from the first
        self.dropped = 0

    def add(self, stream: _Stream, slot: int) -> None:
        streams = self.slots[slot]
        streams.append(stream)

        def closed() -> None:
            self.dropped += not self.stopped
            if stream in streams:
                streams.remove(stream)

        stream.peer.on_closed = closed

    async def on_time(self, within: float) -> None:
        """Wait until a slot goes out on time again, `within` seconds at most."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.punctual.wait(), within)

    def next_slot(self) -> int:
        """The slot whose turn comes next (a stream added now sends its first frame then). The
        loop's own count, not the clock: uvloop's timers wake up to a millisecond early, and a
        slot reckoned from the clock could be the one just sent, a whole 20 ms away (a stream's
        clock starts at its handshake, so that stream's every frame would lag by 20 ms)."""
        return self.tick % SLOTS

    async def run(self) -> None:
        # The collector is off while frames go: a collection of what 2,000 streams hold took up
        # to 39 ms (generation 2, measured), every slot meanwhile late, and a binary frame's
        # lateness is lag at the server. Sending makes no cycles.
        gc.disable()
        try:
            await self._send()
        finally:
            gc.enable()

    async def _send(self) -> None:
        period = FRAME / SLOTS
        monotonic, media, pcm = time.monotonic, _media_frame, PCM_FRAME
        self.tick = 0
        began = monotonic()
        while not self.stopped:
            late = monotonic() - (began + self.tick * period)
            if late <= ON_TIME_SECONDS:
                self.punctual.set()
            else:
                self.punctual.clear()
            streams = self.slots[self.tick % SLOTS]
            if self.measuring:
                self.worst = max(self.worst, late)
                self.lateness.counts[min(int(late * 1000), LagHistogram.LAST)] += len(streams)
            if self.binary:
                for stream in streams:
                    stream.write(pcm)
            else:
                for stream in streams:
                    # The frame's timestamp is when it is sent, on the stream's clock (since
                    # `start`): the server's lag is then the delay from send to capture.
                    stream.write(media(int((monotonic() - stream.started) * 1000)))
            self.sent += len(streams)
            self.tick += 1
            # Late: no sleep, but the loop still turns (writes the sockets could not take).
            await asyncio.sleep(max(0.0, began + self.tick * period - monotonic()))


async def drive(
    url: str,
    calls: int,
    seconds: float,
    headers: dict[str, str],
    account: str,
    *,
    binary: bool = False,
    opening: int = OPENING,
    on_open: Callable[[list[str]], Awaitable[object]] | None = None,
    on_first: Callable[[], object] | None = None,
    on_begin: Callable[[], object] | None = None,
    on_end: Callable[[], object] | None = None,
) -> Drive:
    """Open `calls` streams, `opening` handshakes at a time, then send 50 frames a second on
    each for `seconds`. `on_open` is awaited with the call sids of the streams just opened (to
    start their recordings); with `on_first`, the first stream is opened (and `on_open` awaited
    for it) alone, then `on_first` runs, then the others are opened. `on_begin` runs as the
    measured seconds begin, `on_end` as they end, before the streams close. JSON streams send
    their first frame once all are open; binary ones from their handshake (their clock is the
    samples sent since)."""
    sender = _Sender(binary)
    task = asyncio.get_running_loop().create_task(sender.run()) if binary else None
    gate = asyncio.Semaphore(opening)
    began = time.monotonic()

    async def open_stream(index: int) -> _Stream:
        call_sid = "CA" + secrets.token_hex(16)
        target = url
        if binary:
            target += f"?sampleRate={BINARY_RATE}&channels=1&callSid={call_sid}"
        async with gate:
            transport, peer = await ws_connect(
                _Peer, target, extra_headers=headers, websocket_handshake_timeout=60
            )
        assert isinstance(peer, _Peer)
        if not binary:
            transport.send(
                WSMsgType.TEXT, json.dumps({"event": "connected", "protocol": "Call"}).encode()
            )
            start = {
                "accountSid": account,
                "callSid": call_sid,
                "streamSid": "MZ" + secrets.token_hex(16),
                "tracks": ["inbound"],
                "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000},
            }
            transport.send(WSMsgType.TEXT, json.dumps({"event": "start", "start": start}).encode())
        stream = _Stream(transport, peer, call_sid, time.monotonic())
        if binary:
            sender.add(stream, sender.next_slot())
        return stream

    streams: list[_Stream] = []
    if on_first is not None:
        streams.append(await open_stream(0))
        if on_open is not None:
            await on_open([streams[0].call_sid])
        await asyncio.sleep(0.5)
        on_first()
    opened = await asyncio.gather(*(open_stream(i) for i in range(len(streams), calls)))
    if on_open is not None:
        await on_open([stream.call_sid for stream in opened])
    streams += opened
    if not binary:
        for index, stream in enumerate(streams):
            sender.add(stream, index % SLOTS)
    if task is not None:
        # Binary streams sent while the others opened, and the generator may have fallen behind
        # (opening is its busiest time): the measured seconds begin once it is on time again.
        await sender.on_time(CATCH_UP_SECONDS)
    opening_s = time.monotonic() - began
    sender.measuring = True
    sent0 = sender.sent
    if on_begin is not None:
        on_begin()
    if task is None:  # JSON: the first frames go now
        task = asyncio.get_running_loop().create_task(sender.run())
    await asyncio.sleep(seconds)
    sender.stopped = True
    await task  # its last slot sent: nothing goes after the count
    sent = sender.sent - sent0
    if on_end is not None:
        on_end()
    for stream in streams:
        if not stream.peer.closed:
            stream.transport.send_close(WSCloseCode.OK)
            stream.transport.disconnect()  # once what is buffered is written
    await asyncio.wait_for(
        asyncio.gather(*(stream.transport.wait_disconnected() for stream in streams)), 60
    )
    late_p99 = sender.lateness.percentile_ms(0.99)
    return Drive(sent, sender.sent, sender.worst * 1000, late_p99, sender.dropped, opening_s)


async def _drive(
    url: str,
    calls: int,
    seconds: float,
    headers: dict[str, str],
    on_start: object,
    on_end: Callable[[], object] | None = None,
) -> tuple[int, float]:
    """Open `calls` JSON streams one after the other, then send 50 frames a second on each;
    return (frames sent, worst lateness in ms): a late load generator would flatter the server,
    so it is reported. `on_start` (awaited with the call sids) runs before the first frame,
    `on_end` after the last, before the streams close. (bench/forwarding.py drives with it.)"""
    account = headers.get("X-Account", "AC" + "0" * 32)
    result = await drive(
        url, calls, seconds, headers, account, opening=1,
        on_open=on_start if callable(on_start) else None, on_end=on_end,
    )  # fmt: skip
    return result.sent, result.late_ms


class _LagReading:
    """callrec's frame lag counts as the measured seconds begin, read by a thread (the
    generator's loop never waits for an answer), for the lag over those seconds alone: binary
    streams send from their handshake, so the server's whole-run figures include the opening
    (every handshake's database work beside the frames of the streams open so far)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.counts: dict[str, int] = {}
        self.delay_s = 0.0  # from the measured seconds' start to the reading's answer
        self._thread: threading.Thread | None = None
        # Made now: making a client loads its TLS context, CPU that would fall on the
        # generator's core as the measured seconds begin (a stall of its slots).
        self._http = httpx.Client(timeout=60)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        began = time.monotonic()
        with self._http as http:
            self.counts = http.get(self.url).json()["frame_lag_ms"]["counts"]
        self.delay_s = time.monotonic() - began

    def since(self, counts: dict[str, int]) -> tuple[int | None, int | None, int | None]:
        """(p50, p99, max) ms of the frames counted in `counts` and not at this reading."""
        if self._thread is not None:
            self._thread.join()
        window = LagHistogram()  # the server's buckets, keyed by their upper bound in ms
        for ms, count in counts.items():
            window.counts[int(ms) - 1] = count - self.counts.get(ms, 0)
        return window.percentile_ms(0.5), window.percentile_ms(0.99), window.worst_ms


# the REST probe

#: The probe sends an UpdateCallRecording this often (or as soon as the last is answered).
PROBE_PERIOD = 0.100


class Probe:
    """What an app sees of the REST side while the streams flow: one client (a thread of the
    generator's process, so on CPU 1, with its own keep-alive connection) sends
    UpdateCallRecording on one recording every `PROBE_PERIOD`, Status=paused then
    Status=in-progress in turn (PauseBehavior its default), each once the last is answered, and
    keeps each answer's latency (from just before the request is written to the answer read)
    and status. A thread: the generator's loop never waits for it; it waits for the GIL at
    most a switch interval (5 ms) when the generator is busy."""

    def __init__(self, base: str, auth: tuple[str, str], account: str) -> None:
        self.account = account
        self.path = ""  # set once the recording is known
        self.latencies_ms: list[float] = []
        self.statuses: list[int | str] = []
        #: the same requests' time in the app, from callrec's request log: from the app's
        #: call (the request read, its task started) to the answer handed to the transport
        self.app_ms: list[float] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        # Made now, not in the thread as the measured seconds begin: making a client loads
        # its TLS context (the CA bundle), CPU that would fall on the generator's core then.
        self._http = httpx.Client(base_url=base, auth=auth, timeout=60)

    def aim(self, call_sid: str, recording_sid: str) -> None:
        calls = f"/2010-04-01/Accounts/{self.account}/Calls/{call_sid}"
        self.path = f"{calls}/Recordings/{recording_sid}.json"

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="probe", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Sends no more; the request under way, if any, is answered and counted."""
        self._stop.set()

    def join(self) -> None:
        if self._thread is not None:
            self._thread.join(120)
        self._http.close()

    def _run(self) -> None:
        perf, http = time.perf_counter, self._http
        http.get("/_callrec/health")  # the connection opened before the first measure
        due = time.monotonic()
        while not self._stop.is_set():
            status = ("paused", "in-progress")[len(self.statuses) % 2]
            sent = perf()
            try:
                answer: int | str = http.post(self.path, data={"Status": status}).status_code
            except httpx.HTTPError as error:
                answer = type(error).__name__
            self.latencies_ms.append((perf() - sent) * 1000)
            self.statuses.append(answer)
            due = max(due + PROBE_PERIOD, time.monotonic())
            self._stop.wait(due - time.monotonic())

    @property
    def failed(self) -> int:
        return sum(status != 200 for status in self.statuses)

    def read_log(self, text: str) -> None:
        """The probe's requests' lines in callrec's request log: their time in the app."""
        line = re.compile(r" POST " + re.escape(self.path) + r" \d+ ([\d.]+) ms")
        self.app_ms = [float(ms) for ms in line.findall(text)]

    def percentile(self, share: float, app: bool = False) -> float | None:
        """Nearest rank: of ~100 answers, p99 is the second slowest."""
        return _percentile(self.app_ms if app else self.latencies_ms, share)

    @property
    def worst(self) -> float | None:
        return max(self.latencies_ms, default=None)


def _percentile(values: list[float], share: float) -> float | None:
    if not values:
        return None
    ranked = sorted(values)
    return ranked[max(0, math.ceil(share * len(ranked)) - 1)]


# a run


def _rss_mb(pid: int, field: str = "VmRSS") -> float:
    text = Path(f"/proc/{pid}/status").read_text()
    return int(found(field + r":\s+(\d+)", text)) / 1024


def _settle(pid: int, longest: float = 30.0) -> None:
    """Wait until the server is idle (it may still be catching up on frames sent)."""
    ended = time.monotonic() + longest
    before = cpu_seconds([pid])
    while time.monotonic() < ended:
        time.sleep(0.5)
        now = cpu_seconds([pid])
        if now - before < 0.03:
            return
        before = now


def _commit_label(src: Path) -> str:
    """The git commit of a source tree, "+changes" when its files differ from it."""
    git = ["git", "-C", str(src)]
    commit = subprocess.run([*git, "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True).stdout.strip() or "?"  # fmt: skip
    dirty = subprocess.run([*git, "status", "--porcelain", "--", "."], capture_output=True,
                           text=True).stdout.strip()  # fmt: skip
    return commit + ("+changes" if dirty else "")


def callrec_target(src: Path | None) -> Target:
    if src is None:
        import callrec

        return Target("callrec", f"callrec {_commit_label(Path(callrec.__file__).parent)}")
    src = src.resolve()
    return Target("callrec", f"callrec {_commit_label(src)}", src)


def bench_callrec(
    calls: int, seconds: float, tmp: Path, sealed: bool | None = None, round_: int = 0,
    target: Target | None = None, binary: bool = False, opening: int = OPENING,
    wait: bool = False, probe: bool = False,
) -> Result:  # fmt: skip
    """One fresh server under `calls` streams; with `sealed` not None (--sealed), the account
    encrypts its recordings or not, and its capture files are looked at. `wait`: for a quiet
    machine first (always with `sealed`). `probe`: the REST probe (`Probe`) meanwhile, on the
    first stream's recording."""
    target = target or Target("callrec", "callrec")
    port = free_port()
    name = f"{calls}" if sealed is None else f"{calls}-{'sealed' if sealed else 'plain'}-{round_}"
    name += f"-{secrets.token_hex(3)}"
    log = tmp / f"callrec-{name}.log"
    data = tmp / f"data-{name}"
    command = ["taskset", "-c", "0", sys.executable, "-m", "callrec", "serve", "--port",
               str(port), "--data-dir", str(data), "--stream-grace", "60"]  # fmt: skip
    with log.open("wb") as out:
        server = subprocess.Popen(command, stdout=out, stderr=out, env=target.env())
    base = f"http://127.0.0.1:{port}"
    try:
        _wait(base + "/_callrec/health")
        text = log.read_text()
        account = found(r"TWILIO_ACCOUNT_SID=(\S+)", text)
        token = found(r"TWILIO_AUTH_TOKEN=(\S+)", text)
        auth = base64.b64encode(f"{account}:{token}".encode()).decode()
        headers = {"Authorization": f"Basic {auth}"}
        if sealed:
            _encrypt_recordings(base, data, account, token, target)
        prober = Probe(base, (account, token), account) if probe else None

        async def record(call_sids: list[str]) -> None:
            limits = httpx.Limits(max_connections=RECORDING)
            async with httpx.AsyncClient(base_url=base, auth=(account, token),
                                         limits=limits, timeout=60) as http:  # fmt: skip
                gate = asyncio.Semaphore(RECORDING)

                async def one(sid: str) -> None:
                    path = f"/2010-04-01/Accounts/{account}/Calls/{sid}/Recordings.json"
                    async with gate:
                        for _ in range(400):  # the stream's call may not be made yet
                            response = await http.post(path)
                            if response.status_code != 404:
                                break
                            await asyncio.sleep(0.05)
                    assert response.status_code == 201, response.text
                    if prober is not None and not prober.path:  # the first stream, opened alone
                        prober.aim(sid, response.json()["sid"])

                await asyncio.gather(*(one(sid) for sid in call_sids))

        url = f"ws://127.0.0.1:{port}/streams"
        lag_before = _LagReading(base + "/_callrec/stats.json")
        result = _run(server, url, target.label, calls, seconds, headers, account, record,
                      binary, opening, wait or sealed is not None, prober,
                      on_begin=lag_before.start)  # fmt: skip
        stats = httpx.get(base + "/_callrec/stats.json").json()
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=120)
    lag = stats["frame_lag_ms"]
    result.received, result.captured = stats["frames_received"], stats["frames_captured"]
    result.p50_ms, result.p99_ms, result.lag_max_ms = lag_before.since(lag["counts"])
    result.p99_whole_ms = lag["p99"]
    result.fenced = stats.get("frames_dropped_while_fenced")
    result.gated = stats.get("frames_dropped_while_paused")
    result.probe = prober
    text = log.read_text(errors="replace")
    result.fences = text.count(": fenced")
    if prober is not None and prober.path:
        prober.read_log(text)
    if sealed is not None:
        result.round = round_
        result.capture_files, result.sealed_files = _capture_files(data)
        expected = calls if sealed else 0
        if (result.capture_files, result.sealed_files) != (calls, expected):
            raise RuntimeError(
                f"{name}: {result.sealed_files} of {result.capture_files} capture files sealed,"
                f" {expected} of {calls} expected"
            )
    return result


def bench_bare(
    calls: int, seconds: float, tmp: Path, kind: str = "bare-websockets", binary: bool = False,
    opening: int = OPENING, wait: bool = False,
) -> Result:  # fmt: skip
    port = free_port()
    command = ["taskset", "-c", "0", sys.executable, str(ROOT / "bench" / BARE_SCRIPTS[kind]),
               "--port", str(port)]  # fmt: skip
    server = subprocess.Popen(command, stdout=subprocess.PIPE)
    label = kind.replace("-", " ")
    try:
        _wait_port(port)
        result = _run(server, f"ws://127.0.0.1:{port}/streams", label, calls, seconds, {},
                      "AC" + "0" * 32, None, binary, opening, wait,
                      on_begin=lambda: server.send_signal(signal.SIGUSR1))  # fmt: skip
    finally:
        server.send_signal(signal.SIGTERM)
        out, _ = server.communicate(timeout=120)
    figures = json.loads(out)
    lag = figures["measured_lag_ms"]  # from the SIGUSR1 sent as the measured seconds began
    result.received = figures["frames_received"]
    size = len(PCM) if binary else len(TONE)  # bytes a frame appended: PCM, or μ-law decoded
    if figures["bytes_appended"] != result.received * size:
        raise RuntimeError(f"{kind}: {figures['bytes_appended']} bytes appended, {size} a frame")
    result.p50_ms, result.p99_ms, result.lag_max_ms = lag["p50"], lag["p99"], lag["max"]
    result.p99_whole_ms = figures["frame_lag_ms"]["p99"]
    return result


def _run(
    server: subprocess.Popen[bytes], url: str, label: str, calls: int, seconds: float,
    headers: dict[str, str], account: str,
    record: Callable[[list[str]], Awaitable[object]] | None, binary: bool, opening: int,
    wait: bool, probe: Probe | None = None, on_begin: Callable[[], object] | None = None,
) -> Result:  # fmt: skip
    """The streams against a server that is up; its figures from /proc (the caller adds the
    server's own: frames received, lag). `probe` runs for the measured seconds; `on_begin` as
    they begin."""
    #: (monotonic, server CPU s, this process's CPU s, the machine's busy s, TCP segments
    #: sent), when the first measured frame is about to go and when the measured seconds end
    marks: list[tuple[float, float, float, float, int]] = []
    rss: dict[str, float] = {}

    def mark() -> None:
        busy, _, _ = machine_seconds()
        marks.append(
            (time.monotonic(), cpu_seconds([server.pid]), _own_cpu_seconds(), busy,
             _tcp_segments_sent())
        )  # fmt: skip

    def first() -> None:
        rss["before"] = _rss_mb(server.pid)

    def begin() -> None:
        mark()
        if probe is not None:
            probe.start()
        if on_begin is not None:
            on_begin()

    def end() -> None:
        if probe is not None:
            probe.stop()
        mark()
        rss["live"] = _rss_mb(server.pid)

    waited = wait_for_quiet() if wait else 0.0
    if waited > 2:
        print(f"  waited {waited:.0f} s for the machine to be quiet", flush=True)
    result = uvloop.run(
        drive(url, calls, seconds, headers, account, binary=binary, opening=opening,
              on_open=record, on_first=first, on_begin=begin, on_end=end)
    )  # fmt: skip
    if probe is not None:
        probe.join()
    _settle(server.pid)  # the calls have ended: their recordings are finished meanwhile
    rss["peak"], rss["after"] = _rss_mb(server.pid, "VmHWM"), _rss_mb(server.pid)
    (began, cpu0, own0, busy0, segments0), (ended, cpu1, own1, busy1, segments1) = marks
    others = (busy1 - busy0) - (cpu1 - cpu0) - (own1 - own0)
    return Result(
        label, calls, result.sent, 0, None, None, None, rss["live"], result.late_ms,
        client_late_p99_ms=result.late_p99_ms, server_cpu_s=cpu1 - cpu0, wall_s=ended - began,
        generator_cores=(own1 - own0) / (ended - began),
        others_cores=max(0.0, others) / (ended - began), sent_total=result.sent_total,
        rss_before_mb=rss["before"], rss_peak_mb=rss["peak"], rss_after_mb=rss["after"],
        dropped=result.dropped, binary=binary, waited_s=waited,
        segments=segments1 - segments0,
    )  # fmt: skip


def _encrypt_recordings(base: str, data: Path, account: str, token: str, target: Target) -> None:
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
    subprocess.run(command, check=True, capture_output=True, env=target.env())


def _capture_files(data: Path) -> tuple[int, int]:
    """(capture files, sealed ones) under the data directory; any other magic is an error."""
    from callrec.media.capture import MAGIC, SEALED_MAGIC

    files = sealed = 0
    for path in (data / "media").glob("*.cap"):
        with path.open("rb") as file:
            magic = file.read(len(SEALED_MAGIC))
        if magic not in (MAGIC, SEALED_MAGIC):
            raise RuntimeError(f"{path}: not a capture file ({magic!r})")
        files += 1
        sealed += magic == SEALED_MAGIC
    return files, sealed


def _tcp_segments_sent() -> int:
    """The machine's TCP segments sent so far (Tcp: OutSegs in /proc/net/snmp)."""
    names, values = [line.split() for line in Path("/proc/net/snmp").read_text().splitlines()
                     if line.startswith("Tcp:")]  # fmt: skip
    return int(values[names.index("OutSegs")])


def _own_cpu_seconds() -> float:
    times = os.times()
    return times.user + times.system


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
        bench_dirty = subprocess.run(
            ["git", "-C", str(ROOT), "status", "--porcelain", "bench"],
            capture_output=True,
            text=True,
        ).stdout.strip()
        version = (
            f"bench/ at {commit}"
            + (" with uncommitted changes" if bench_dirty else "")
            + f", callrec imported from {source} (the generator's; each server's is its label)"
        )
    return f"{version}; {platform.machine()}, {os.cpu_count()} cores, Python " + (
        f"{platform.python_version()}."
    )


WIDE_HEADING = "## Live streams per core: the floors and callrec"
#: The goal: this many live streams (50 frames a second each, each recorded) on one core.
GOAL_STREAMS = 2_000
#: A run keeps up when no frame is lost, its lag p99 is at most this, and its core is not
#: saturated.
KEEPS_UP_P99_MS = 50
#: A run that offered less than this share of its calls' frames measured the load generator.
OFFERED = 0.99
#: The goal for memory: a live stream, recorded, holds at most this many KB.
GOAL_KB_PER_STREAM = 60


def _fmt(value: float | None, digits: int = 1) -> str:
    return "" if value is None else f"{value:,.{digits}f}"


def _offered(r: Result, seconds: float) -> float:
    """The share of its calls' frames the generator sent in the measured seconds."""
    return r.sent / (r.calls / FRAME * seconds)


def _probe_cells(r: Result) -> str:
    probe = r.probe
    if probe is None:
        return " | | | | |"
    return (
        f" {_fmt(probe.percentile(0.5))} | {_fmt(probe.percentile(0.99))} | {_fmt(probe.worst)} |"
        f" {_fmt(probe.percentile(0.5, app=True))} / {_fmt(probe.percentile(0.99, app=True))} |"
        f" {probe.failed} of {len(probe.statuses)} |"
    )


def report_wide(
    results: list[Result], targets: list[Target], seconds: float, rounds: int, binary: bool,
    opening: int = OPENING,
) -> str:  # fmt: skip
    heading = f"{WIDE_HEADING} ({'binary PCM' if binary else 'JSON'})"
    order = {t.label: i for i, t in enumerate(targets)}
    several = rounds > 1
    probed = any(r.probe is not None for r in results)
    rows = [
        "| server | calls |" + (" round |" if several else "") + " frames sent | offered"
        " | received | captured | gated (paused) | lost | of which fenced | lag p50 ms"
        " | lag p99 ms | lag max ms"
        + (" | lag p99 ms, whole run" if binary else "")
        + " | server CPU µs / frame | server CPU, cores | TCP segments / frame | RSS MB before"
        " | RSS MB live | KB / stream | RSS MB peak | RSS MB after the calls |"
        + (
            " REST p50 ms | REST p99 ms | REST max ms | REST in the app p50 / p99 ms"
            " | REST not 200 |"
            if probed
            else ""
        )
        + " generator late ms | generator late p99 ms | generator, cores | others, cores |",
        "|---|---:|" + ("---:|" if several else "") + "---:|" * (22 + 5 * probed + binary),
    ]
    for r in sorted(results, key=lambda r: (r.calls, order.get(r.server, 99), r.round)):
        sent = r.sent_total if r.sent_total is not None else r.sent
        rows.append(
            f"| {r.server} | {r.calls:,} |"
            + (f" {r.round + 1} |" if several else "")
            + f" {sent:,} | {_offered(r, seconds) * 100:.0f} % | {r.received:,} | "
            f"{'' if r.captured is None else f'{r.captured:,}'} | "
            f"{'' if r.gated is None else f'{r.gated:,}'} | {r.lost:,} | "
            f"{'' if not r.fenced else f'{r.fenced:,}'} | {r.p50_ms} | "
            f"{r.p99_ms} | {_fmt(r.lag_max_ms, 0)} | "
            + (f"{_fmt(r.p99_whole_ms, 0)} | " if binary else "")
            + f"{_fmt(r.cpu_us_per_frame)}"
            f"{'*' if (r.cores or 0) >= SATURATED else ''} | "
            f"{_fmt(r.cores, 2)} | {_fmt(r.segments_per_frame, 2)} | "
            f"{_fmt(r.rss_before_mb, 0)} | {_fmt(r.rss_mb, 0)} | "
            f"{_fmt(r.kb_per_stream)} | {_fmt(r.rss_peak_mb, 0)} | {_fmt(r.rss_after_mb, 0)} |"
            + (_probe_cells(r) if probed else "")
            + f" {r.client_late_ms:.0f} | {_fmt(r.client_late_p99_ms, 0)} | "
            f"{_fmt(r.generator_cores, 2)} | {_fmt(r.others_cores, 2)} |"
        )
    notes = [
        f"- \\* the server's core was saturated (≥ {SATURATED} busy): frames queued, and the "
        "CPU a frame (CPU over frames sent) understates what a frame costs",
    ]
    if any(r.fenced for r in results):
        notes.append(
            "- 'of which fenced': callrec dropped these frames while fenced (it could no longer "
            "prove it held its calls, so it wrote nothing; its log says `fenced`): at 1c826f1 a "
            "lone SQLite server fenced itself when its saturated loop renewed its presence more "
            "than 3 s late; since 9eba20a a lone SQLite server holds no lease, and a server "
            "that does checks the lease's deadline against each frame's own clock"
        )
    need = 1e6 / (GOAL_STREAMS / FRAME)  # µs of CPU a frame that fill one core at the goal
    for target in targets:
        runs = [r for r in results if r.server == target.label]
        if not runs:
            continue
        offered = [r for r in runs if _offered(r, seconds) >= OFFERED]
        keeps = [
            r for r in offered
            if r.lost == 0 and r.dropped == 0 and (r.p99_ms or 0) <= KEEPS_UP_P99_MS
        ]  # fmt: skip
        most = max((r.calls for r in keeps), default=None)
        busiest = max((r.cores or 0 for r in keeps if r.calls == most), default=0.0)
        # CPU a frame where the core was not saturated (a saturated core takes more frames a
        # wakeup, and queues some: says less); the least loaded point otherwise
        easy = [r for r in runs if (r.cores or 0) < SATURATED]
        least = min(easy or runs, key=lambda r: r.calls)
        cpu = least.cpu_us_per_frame or float("nan")
        ceiling = 1e6 * FRAME / cpu
        # memory where nothing queued (a saturated server also holds the messages it is behind on)
        memory = [r.kb_per_stream for r in (easy or runs) if r.kb_per_stream is not None]
        line = (
            f"- **{target.label}**: keeps up (no frame lost, lag p99 ≤ {KEEPS_UP_P99_MS} ms, "
            f"≥ {OFFERED * 100:.0f} % of the frames offered) at "
            + (
                f"**{most:,} streams** at most of those run (its core {busiest:.2f} busy there"
                + (": saturated, no headroom)" if busiest >= SATURATED else ")")
                if most
                else "**none** of those run"
            )
            + f"; {cpu:.1f} µs of CPU a frame at {least.calls:,} (core {_fmt(least.cores, 2)} "
            + ("busy" if easy else "busy: saturated, understated")
            + f"): one whole core would carry **~{ceiling:,.0f} streams** at that cost (the "
            f"goal, {GOAL_STREAMS:,}, needs ≤ {need:.0f} µs a frame, all of it); memory "
            + (
                f"**{statistics.median(memory):.0f} KB a stream** (median"
                + ("" if easy else ", saturated runs: queued messages included")
                + f"; {min(memory):.0f} to {max(memory):.0f}"
                + (
                    f"; goal ≤ {GOAL_KB_PER_STREAM} KB: "
                    + ("met" if statistics.median(memory) <= GOAL_KB_PER_STREAM else "**missed**")
                    if target.kind == "callrec"
                    else ""
                )
                + ")"
                if memory
                else "not measured"
            )
        )
        probes = [
            (r.calls, r.probe)
            for r in sorted(runs, key=lambda r: (r.calls, r.round))
            if r.probe is not None
        ]
        if probes:
            line += (
                "; REST probe (UpdateCallRecording every 100 ms) p50 / p99 ms (p99 in the app) at "
                + ", ".join(
                    f"{calls:,}: {_fmt(probe.percentile(0.5), 0)} / "
                    f"**{_fmt(probe.percentile(0.99), 0)}** ({len(probe.statuses)} answered; "
                    f"in the app {_fmt(probe.percentile(0.99, True), 0)})"
                    for calls, probe in probes
                )
                + f"; {sum(probe.failed for _, probe in probes)} of "
                f"{sum(len(probe.statuses) for _, probe in probes)} answers not 200"
            )
        notes.append(line)
    if results:
        for calls in sorted({r.calls for r in results}):
            at = [r for r in results if r.calls == calls]
            worst_late = max(r.client_late_ms for r in at)
            cores = max(r.generator_cores or 0 for r in at)
            shares = {r.server: _offered(r, seconds) for r in at}
            short = [server for server, share in shares.items() if share < OFFERED]
            text = (
                f"- the load generator at {calls:,} calls: at most {cores:.2f} of its core, "
                f"{worst_late:,.0f} ms late at worst, "
            )
            if not short:
                text += f"{min(shares.values()) * 100:.0f} % of the frames offered at worst"
            elif len(short) == len(shares):
                text += (
                    f"{min(shares.values()) * 100:.0f} to {max(shares.values()) * 100:.0f} % of "
                    f"the frames offered: **one core of this machine cannot offer {calls:,} "
                    "streams**; these rows measure the generator too, and none of them counts "
                    "as keeping up"
                )
            else:
                text += (
                    "all the frames offered to "
                    + ", ".join(s for s in shares if s not in short)
                    + ", but "
                    + ", ".join(f"{shares[s] * 100:.0f} % to {s}" for s in short)
                    + " (a server that falls behind holds its sends back, and it falls behind "
                    "too): those rows measure the generator too, and do not count as keeping up"
                )
            notes.append(text)
    mode = (
        "raw PCM in binary messages (`/streams?sampleRate=8000&channels=1&callSid=CA…`, HTTP "
        "Basic auth, 320 bytes of 16-bit little-endian PCM a message, 50 a second; each stream "
        "sends from its handshake, its clock the samples sent; the lag is over the measured "
        "seconds (callrec's lag counts read as they begin and after they end, a floor's "
        "taken as they begin, at a SIGUSR1: the frames between), 'whole run' over every "
        "frame, the opening of the others included; 'frames sent' counts them all, 'lost' is sent "
        "less received, less those dropped while fenced: frames before a recording began, "
        "or while the probe had it paused, are received and not captured, by design)"
        if binary
        else "Twilio `media` messages (JSON, 160 bytes of μ-law in base64, 50 a second; 'lost' "
        "is sent less captured less 'gated', the frames callrec dropped at the gate of the "
        "recording the probe had paused — `frames_dropped_while_paused` in /_callrec/stats.json"
        ", dropped by design; frames dropped while fenced count as lost)"
    )
    probe_text = (
        " The REST probe (callrec only): during the measured seconds, one client (a thread of "
        "the generator's process, on CPU 1; httpx, one keep-alive connection) sends "
        "UpdateCallRecording (`POST …/Calls/{CA}/Recordings/{RE}.json`) on the first call's "
        "recording every 100 ms, Status=paused and Status=in-progress in turn, PauseBehavior "
        "its default, each once the last is answered: its latency is from just before the "
        "request is written to the answer read (it may wait for the GIL up to 5 ms when the "
        "generator is busy); ~100 answers a run when each comes within 100 ms, so p99 is the "
        "second slowest; 'in the app': the same requests' time in callrec's app (its request "
        "log: from the app's call, the request read and its task started, to the answer handed "
        "to the transport), the rest being the wait for the server's loop to read the request "
        "and write the answer; 'not 200' counts the other answers (and errors) of all it sent."
        if probed
        else ""
    )
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    command = " ".join(["python", "bench/streams.py", *sys.argv[1:]])
    return "\n".join(
        [
            f"{heading} — {when}",
            "",
            f"`{command}`: one fresh server a run, pinned to CPU 0; the load generator (one "
            "uvloop process: a `picows` client opens the streams, then each frame, prebuilt but "
            "for a JSON message's timestamp, is written whole to its socket, a `write(2)` each) "
            f"on CPU 1. Each call streams {mode} and has a "
            "live recording (callrec; the floors, bench/bare_streams.py on `websockets` and "
            "bench/bare_picows.py on `picows`, parse and decode each message and append it to "
            "the call's buffer, and record nothing). The streams are opened first, "
            f"{opening} handshakes at a time, and their recordings started; then {seconds:g} s "
            "are measured, each stream sending in its own 2 ms slot of every 20 ms (binary "
            "streams send from their handshake: the measured seconds begin once the generator "
            f"is on time again, {CATCH_UP_SECONDS:g} s at most after the last opened). 'offered': "
            "the frames sent in the measured seconds over the calls' 50 a second. Lag: from a "
            "frame's place in real time to its arrival at callrec's hub (captured or gated) or "
            "its decoding (floors), in 1 ms buckets. Server CPU: user + system from /proc over "
            "the measured seconds, per frame sent. 'TCP segments / frame': the machine's TCP "
            "segments sent in the measured seconds over the frames sent (loopback: each frame's "
            "own, and the server's ACKs; one ACK for every second frame is TCP's delayed ACK). "
            "RSS: before, with one stream open and "
            "recording (what the first stream loads is not counted); live, at the end of the "
            "measured seconds; KB / stream: the difference over the other streams; peak: the "
            "most the server held in the run (VmHWM), as a rule while the calls ended together "
            "and callrec finished their recordings; after the calls: once it was idle again."
            f"{probe_text} 'generator late': how far the generator fell behind real time at "
            "worst (beyond a few ms, the row measures the generator); 'generator late p99': "
            "how late the slots of the measured seconds' frames went, at the frames' p99 (a "
            "binary frame carries no timestamp: its lateness is in the server's lag; a JSON "
            "frame is stamped when sent, so it is not); 'generator, cores': its "
            "process's CPU (the probe's included); 'others': what processes not the "
            "benchmark's used meanwhile (the machine is shared); a quiet second was waited for "
            "before each run. This machine's speed drifts by ±15 %: compare rows of one run. "
            f"{_machine()}",
            "",
            *rows,
            "",
            *notes,
            "",
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--calls",
        default=None,
        help="default 200,400,600,800; --servers 1000,1500,2000,2500; --sealed 600",
    )
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument(
        "--servers",
        default=None,
        help=f"measure these side by side (comma-separated: {', '.join(SERVERS)}); a section "
        "of its own",
    )
    parser.add_argument(
        "--callrec-src",
        action="append",
        type=Path,
        default=[],
        help="a callrec source tree to serve (first on PYTHONPATH), labelled by its git commit; "
        "repeat to measure several side by side; without it, the installed callrec",
    )
    parser.add_argument("--binary", action="store_true", help="raw PCM streams, not Twilio JSON")
    parser.add_argument("--opening", type=int, default=OPENING, help="handshakes at once")
    parser.add_argument("--sealed", action="store_true", help="plain against sealed recordings")
    parser.add_argument("--rounds", type=int, default=None, help="--sealed: 2; --servers: 1")
    parser.add_argument(
        "--probe",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="the REST probe against callrec: UpdateCallRecording (paused, then in-progress) on "
        "one recording every 100 ms during the measured seconds, its latency and answers "
        "(default: on with --servers)",
    )
    parser.add_argument("--no-write", action="store_true", help="print, leave the docs alone")
    args = parser.parse_args()
    default_calls = "600" if args.sealed else "1000,1500,2000,2500" if args.servers else None
    calls_list = [int(n) for n in (args.calls or default_calls or "200,400,600,800").split(",")]
    rounds = args.rounds or (2 if args.sealed else 1)
    if args.probe is None:
        args.probe = bool(args.servers) and not args.sealed
    callrecs = [callrec_target(src) for src in args.callrec_src] or [callrec_target(None)]
    os.sched_setaffinity(0, {1})  # the generator stays off the server's core
    results: list[Result] = []
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        if args.sealed:
            for round_ in range(rounds):
                for calls in calls_list:
                    # plain, sealed, then sealed, plain: neither always first after a pause
                    order = (False, True) if round_ % 2 == 0 else (True, False)
                    for sealed in order:
                        results.append(
                            bench_callrec(
                                calls,
                                args.seconds,
                                tmp,
                                sealed,
                                round_,
                                callrecs[0],
                                args.binary,
                                args.opening,
                            )
                        )
                        print(_progress(results[-1]), flush=True)
            section = report_sealed(results, args.seconds, rounds)
            heading = SEALED_HEADING
        elif args.servers:
            targets: list[Target] = []
            for name in args.servers.split(","):
                if name not in SERVERS:
                    parser.error(f"--servers: {name!r} is not one of {', '.join(SERVERS)}")
                if name == "callrec":
                    targets += callrecs
                else:
                    targets.append(Target(name, name.replace("-", " ")))
            step = 0
            for round_ in range(rounds):
                for calls in calls_list:
                    turn = step % len(targets)  # rotating: none always first after a pause
                    step += 1
                    for target in targets[turn:] + targets[:turn]:
                        try:
                            result = _bench(target, calls, args, tmp)
                        except Exception as error:  # one server failing leaves the others
                            print(f"{target.label} {calls}: failed: {error!r}", flush=True)
                            continue
                        result.round = round_
                        results.append(result)
                        print(_wide_progress(result), flush=True)
            section = report_wide(results, targets, args.seconds, rounds, args.binary, args.opening)
            heading = f"{WIDE_HEADING} ({'binary PCM' if args.binary else 'JSON'})"
        else:
            for calls in calls_list:
                results.append(bench_callrec(calls, args.seconds, tmp, None, 0, callrecs[0],
                                             args.binary, args.opening,
                                             probe=args.probe))  # fmt: skip
                results.append(bench_bare(calls, args.seconds, tmp, "bare-websockets",
                                          args.binary, args.opening))  # fmt: skip
                print(_wide_progress(results[-2]), _wide_progress(results[-1]), sep="\n",
                      flush=True)  # fmt: skip
            section = report(results, args.seconds)
            heading = "## Concurrent media streams"
    print(section)
    if not args.no_write:
        replace_section(section, heading)


def _bench(target: Target, calls: int, args: argparse.Namespace, tmp: Path) -> Result:
    if target.kind == "callrec":
        return bench_callrec(calls, args.seconds, tmp, None, 0, target, args.binary,
                             args.opening, wait=True, probe=args.probe)  # fmt: skip
    return bench_bare(calls, args.seconds, tmp, target.kind, args.binary, args.opening,
                      wait=True)  # fmt: skip


def _wide_progress(r: Result) -> str:
    return (
        f"{r.server} {r.calls}: sent {r.sent_total or r.sent:,} received {r.received:,} "
        f"captured {'' if r.captured is None else f'{r.captured:,}'} lost {r.lost:,} "
        f"lag p50 {r.p50_ms} p99 {r.p99_ms} max {r.lag_max_ms} ms, "
        f"{_fmt(r.cpu_us_per_frame)} µs/frame, {_fmt(r.cores, 2)} cores, "
        f"{_fmt(r.segments_per_frame, 2)} TCP segments/frame, "
        + (f"fenced {r.fenced:,} frames ({r.fences} fences), " if r.fenced else "")
        + (f"gated {r.gated:,}, " if r.gated else "")
        + (
            f"REST probe p50 {_fmt(r.probe.percentile(0.5))} p99 {_fmt(r.probe.percentile(0.99))}"
            f" max {_fmt(r.probe.worst)} ms (in the app p50 {_fmt(r.probe.percentile(0.5, True))}"
            f" p99 {_fmt(r.probe.percentile(0.99, True))} ms of {len(r.probe.app_ms)}), "
            f"{len(r.probe.statuses)} answers, {r.probe.failed} "
            f"not 200 ({', '.join(sorted({str(x) for x in r.probe.statuses if x != 200}))}), "
            if r.probe is not None
            else ""
        )
        + f"RSS "
        f"{_fmt(r.rss_before_mb, 0)} -> {_fmt(r.rss_mb, 0)} MB ({_fmt(r.kb_per_stream)} KB a "
        f"stream; peak {_fmt(r.rss_peak_mb, 0)}, after the calls {_fmt(r.rss_after_mb, 0)}), "
        f"late {r.client_late_ms:.0f} ms (p99 {_fmt(r.client_late_p99_ms, 0)}), "
        f"generator {_fmt(r.generator_cores, 2)} cores,"
        f" others {_fmt(r.others_cores, 2)}, dropped {r.dropped}"
    )


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
