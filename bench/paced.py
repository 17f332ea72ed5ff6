"""An open-loop HTTP load: requests sent at a set rate, whatever the answers' speed.

wrk keeps each connection busy (a closed loop): the server's throughput and its connections'
count then set the latency (Little's law), and at saturation the tail is queueing. A latency
goal is a promise at a rate, so this sends request i at `start + i / rate` on a free keep-alive
connection (or, if none is free, on the next one to become free), and times each answer from
that scheduled moment: a slow answer delays the requests behind it and they count it, as the
app's users would (no coordinated omission). One request in flight per connection.

The requests are prebuilt (raw HTTP/1.1 bytes, read from a file of JSON strings) and sent in
turn; answers are read with httptools. Prints one JSON object: the figures and how late the
sender itself ran.

    python bench/paced.py --url http://127.0.0.1:PORT --requests FILE --rate 5000 --seconds 10
                          [--connections 50]
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import time
from pathlib import Path
from typing import cast
from urllib.parse import urlsplit

import httptools
import uvloop

#: The sender wakes this often and sends every request whose moment has come.
TICK_SECONDS = 0.001


class _Connection(asyncio.Protocol):
    """One keep-alive connection; `sent` is the scheduled moment of its request in flight."""

    def __init__(self, load: _Load) -> None:
        self._load = load
        self._parser = httptools.HttpResponseParser(self)
        self.transport: asyncio.Transport | None = None
        self.sent: float | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's: not a subclass

    def data_received(self, data: bytes) -> None:
        self._parser.feed_data(data)

    def on_message_complete(self) -> None:
        status, scheduled = self._parser.get_status_code(), self.sent
        assert scheduled is not None
        self.sent = None
        self._load.answered(self, scheduled, status)

    def connection_lost(self, exc: Exception | None) -> None:
        self._load.lost += 1
        self._load.drained.set()  # an answer will never come: stop waiting for it


class _Load:
    def __init__(self, requests: list[bytes], rate: float, seconds: float) -> None:
        self._requests, self._rate, self._seconds = requests, rate, seconds
        self._idle: collections.deque[_Connection] = collections.deque()
        self._waiting: collections.deque[float] = collections.deque()  # scheduled moments
        self._next = 0
        self.latencies: list[float] = []
        self.moments: list[float] = []  # each answer's scheduled moment, as latencies
        self.errors = 0
        self.lost = 0
        self.worst_late = 0.0
        self.backlog = 0  # requests still waiting for a connection when the sending ended
        self._end = 0.0
        self._connections = 0
        self.drained = asyncio.Event()  # sending is over and every answer is in

    def send(self, connection: _Connection, scheduled: float) -> None:
        connection.sent = scheduled
        request = self._requests[self._next % len(self._requests)]
        self._next += 1
        assert connection.transport is not None
        connection.transport.write(request)

    def answered(self, connection: _Connection, scheduled: float, status: int) -> None:
        now = time.monotonic()
        if scheduled < self._end:
            self.latencies.append(now - scheduled)
            self.moments.append(scheduled)
            self.errors += not 200 <= status < 300
        if self._waiting:
            self.send(connection, self._waiting.popleft())
        else:
            self._idle.append(connection)
            if len(self._idle) == self._connections and now >= self._end:
                self.drained.set()

    async def run(self, host: str, port: int, connections: int) -> None:
        """Send for the seconds asked; wait for the answers of what was sent."""
        loop = asyncio.get_running_loop()
        self._connections = connections
        for _ in range(connections):
            _, protocol = await loop.create_connection(lambda: _Connection(self), host, port)
            self._idle.append(protocol)
        start = time.monotonic()
        self._end = start + self._seconds
        scheduled = 0
        while (now := time.monotonic()) < self._end:
            self.worst_late = max(self.worst_late, now - (start + scheduled / self._rate))
            while start + scheduled / self._rate <= now:
                moment = start + scheduled / self._rate
                if self._idle:
                    self.send(self._idle.popleft(), moment)
                else:
                    self._waiting.append(moment)
                scheduled += 1
            await asyncio.sleep(TICK_SECONDS)
        self.backlog = len(self._waiting)
        if len(self._idle) < connections:
            await self.drained.wait()


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] if ordered else 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("--requests", type=Path, required=True, help="a JSON list of strings")
    parser.add_argument("--rate", type=float, required=True, help="requests a second")
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--dump", type=Path, help="write each answer's moment and latency here")
    args = parser.parse_args()
    parts = urlsplit(args.url)
    requests = [text.encode() for text in json.loads(args.requests.read_text())]
    load = _Load(requests, args.rate, args.seconds)
    uvloop.run(load.run(parts.hostname or "127.0.0.1", parts.port or 80, args.connections))
    latencies = load.latencies
    if args.dump:
        start = min(load.moments, default=0.0)
        pairs = zip(load.moments, latencies, strict=True)
        lines = [f"# moment (s after the first, at {start:.4f} monotonic), latency (ms)\n"]
        lines += (f"{m - start:.4f} {s * 1000:.3f}\n" for m, s in pairs)
        args.dump.write_text("".join(lines))
    print(json.dumps({
        "requests": len(latencies),
        "rate": len(latencies) / args.seconds,
        "errors": load.errors,
        "lost_connections": load.lost,
        "p50_ms": _percentile(latencies, 0.50) * 1000,
        "p99_ms": _percentile(latencies, 0.99) * 1000,
        "p999_ms": _percentile(latencies, 0.999) * 1000,
        "max_ms": max(latencies, default=0.0) * 1000,
        "sender_late_ms": load.worst_late * 1000,
        "backlog": load.backlog,
    }))  # fmt: skip


if __name__ == "__main__":
    main()
