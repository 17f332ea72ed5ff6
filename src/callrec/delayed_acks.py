"""Delayed ACKs on the media streams' sockets: one ACK for every second frame, not every frame.

A media server writes a small message every 20 ms and callrec answers nothing. Linux ACKs such a
flow in one of two ways (`__tcp_cleanup_rbuf`, net/ipv4/tcp.c): in its interactive ("pingpong")
mode, a read that drains the socket sends an ACK for every second small segment; out of it, for
every one. A socket enters that mode when it answers soon after it received (the handshake's
101 does), and leaves it whenever its delayed-ACK timer fires: one frame more than 40 ms after
the last, or a read as late. A stream never answers, so once out it stays out, and under load
one by one they all drift out: measured at 1,500 binary streams, 0.85 ACKs a frame against 0.5.
Over a network each ACK not sent saves ~1 µs; on the benchmark's loopback, where the server's core
also took the sender's receipt of each ACK it sent, 2.1 to 3.4 µs of the server's CPU a frame
(docs/BENCHMARKS.md, "Delayed ACKs on the stream sockets"). So every half second each stream's
socket is put back (TCP_QUICKACK off: the kernel's way in): 2 µs a socket, a sweep of 2,000
streams 4 ms (micro), 0.8 % of the core.

The cost, for a sender that keeps Nagle's algorithm on (asyncio's and Go's sockets turn it off
by default, and picows and the `websockets` package on their own): a small segment waits for the
last one's ACK, so once every half second one frame may wait up to 20 ms for the timer's ACK
(which also takes the socket out of the mode again).
"""

from __future__ import annotations

import asyncio
import socket
from typing import Any

from callrec.background import BackgroundTasks

INTERVAL_SECONDS = 0.5
_QUICKACK: int | None = getattr(socket, "TCP_QUICKACK", None)  # Linux only


class DelayedAcks:
    """The live streams' sockets, put back in delayed-ACK mode every `INTERVAL_SECONDS`."""

    def __init__(self) -> None:
        self._sockets: dict[asyncio.BaseTransport, Any] = {}  # its socket (uvloop's, or Python's)
        self._sweeps = BackgroundTasks("putting the streams' sockets back in delayed-ACK mode")

    def keep(self, transport: asyncio.BaseTransport) -> None:
        sock = transport.get_extra_info("socket")
        if _QUICKACK is not None and sock is not None:
            self._sockets[transport] = sock

    def forget(self, transport: asyncio.BaseTransport) -> None:
        self._sockets.pop(transport, None)

    def start(self) -> None:
        if _QUICKACK is not None:
            self._sweeps.spawn(self._forever())

    async def close(self) -> None:
        await self._sweeps.close()

    async def _forever(self) -> None:
        while True:
            await asyncio.sleep(INTERVAL_SECONDS)
            self.delay_acks()

    def delay_acks(self) -> None:
        for transport, sock in list(self._sockets.items()):
            if transport.is_closing():  # gone without its stream being told (a failed handshake)
                del self._sockets[transport]
                continue
            try:
                sock.setsockopt(socket.IPPROTO_TCP, _QUICKACK, 0)
            except OSError:  # closed under us
                del self._sockets[transport]
