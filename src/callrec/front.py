"""The server's listener: the first request on each connection decides who serves it. A
WebSocket handshake to the media streams' path goes to picows (api.streams), anything else to
uvicorn's HTTP protocol, exactly as if uvicorn had accepted the connection itself. One port, one
URL scheme, and the media path on a WebSocket stack that handles a message in a few
microseconds (docs/ARCHITECTURE.md, "Media streams at speed"; docs/BENCHMARKS.md).

A handshake is admitted (its credentials checked against the database) before picows answers
it, so a refused one is an HTTP 403 as before. The streams join uvicorn's connections, so a
stopping server closes them (1012: connect again, to another process) and waits for what their
ending writes, as it does for any request.
"""

from __future__ import annotations

import asyncio
import logging
from functools import partial
from http import HTTPStatus
from typing import Any, cast

import httptools
from picows import (
    WSAutoPingStrategy,
    WSUpgradeRequest,
    WSUpgradeResponse,
    WSUpgradeResponseWithListener,
)
from picows.picows import WSProtocol  # type: ignore[attr-defined]  # not in its stubs
from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState

from callrec.api.streams import SERVICE_RESTART, Stream, StreamEndpoint, Upgrade
from callrec.delayed_acks import DelayedAcks

log = logging.getLogger(__name__)
MAX_HEAD_BYTES = 16 * 1024  # a longer request head goes to uvicorn, which refuses it
HANDSHAKE_TIMEOUT_SECONDS = 5.0
MAX_MESSAGE_BYTES = 1024 * 1024  # far beyond any media message (2 s of 48 kHz stereo PCM: 384 KB)
READ_BUFFER_BYTES = 2048  # grows as needed; small, because a server holds thousands of streams
# picows logs every connection at INFO: a line per stream is more than an operator wants.
_socket_log = logging.getLogger("callrec.streams.sockets")
_socket_log.setLevel(logging.WARNING)


def listener(endpoint: StreamEndpoint, acks: DelayedAcks) -> type[asyncio.Protocol]:
    """The protocol for uvicorn's `Config(http=…)`: uvicorn calls it as it calls a protocol
    class, with its config and state."""
    return cast("type[asyncio.Protocol]", partial(Front, endpoint, acks))


class Front(asyncio.Protocol):
    """A new connection, until its first request's head says who serves it."""

    def __init__(
        self,
        endpoint: StreamEndpoint,
        acks: DelayedAcks,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        self._endpoint = endpoint
        self._acks = acks
        self._http = (config, server_state, app_state, _loop)
        self._state = server_state
        self._line = b"GET " + endpoint.path.encode()
        self._head = bytearray()
        self._transport: asyncio.Transport | None = None
        self._lost = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)

    def connection_lost(self, exc: Exception | None) -> None:
        self._lost = True

    def data_received(self, data: bytes) -> None:
        head = self._head
        head += data
        line = self._line
        if len(head) < len(line) + 1 and line.startswith(head):
            return  # too little to tell yet
        if not head.startswith(line) or bytes(head[len(line) : len(line) + 1]) not in (b" ", b"?"):
            return self._to_http()
        if b"\r\n\r\n" not in head:
            if len(head) > MAX_HEAD_BYTES:
                self._to_http()
            return
        upgrade = _upgrade(bytes(head))
        if upgrade is None:
            return self._to_http()
        assert self._transport is not None
        self._transport.pause_reading()  # until it is admitted: nothing is read meanwhile
        self._spawn(self._admit(upgrade))

    def _to_http(self) -> None:
        assert self._transport is not None
        protocol = HttpToolsProtocol(*self._http)
        self._transport.set_protocol(protocol)
        protocol.connection_made(cast(asyncio.Transport, OneWriteAnswers(self._transport)))
        protocol.data_received(bytes(self._head))

    async def _admit(self, upgrade: Upgrade) -> None:
        try:
            admitted = await self._endpoint.admit(upgrade, self._spawn)
        except Exception:
            log.exception("a media stream's handshake failed")
            admitted = HTTPStatus.INTERNAL_SERVER_ERROR
        transport = self._transport
        if self._lost or transport is None:
            return
        if isinstance(admitted, Stream):
            stream = admitted
            connection = _StreamConnection(stream)
            self._state.connections.add(connection)  # type: ignore[arg-type]
            self._acks.keep(transport)

            def gone() -> None:
                self._state.connections.discard(connection)
                self._acks.forget(transport)

            stream.gone = gone

            def answer(request: WSUpgradeRequest) -> Stream | WSUpgradeResponseWithListener:
                return stream

        else:
            refusal = _refusal(admitted)

            def answer(request: WSUpgradeRequest) -> Stream | WSUpgradeResponseWithListener:
                return refusal

        protocol = _ws_protocol(answer)
        transport.set_protocol(protocol)
        protocol.connection_made(transport)
        head = bytes(self._head)
        protocol.get_buffer(len(head))[: len(head)] = head
        protocol.buffer_updated(len(head))
        transport.resume_reading()

    def _spawn(self, work: Any) -> None:
        """Run `work` as a task the server waits for before it stops."""
        task: asyncio.Task[None] = asyncio.get_running_loop().create_task(work)
        self._state.tasks.add(task)
        task.add_done_callback(_finished)
        task.add_done_callback(self._state.tasks.discard)


class _StreamConnection:
    """A stream, as uvicorn's shutdown sees a connection."""

    def __init__(self, stream: Stream) -> None:
        self._stream = stream

    def shutdown(self) -> None:
        self._stream.close(SERVICE_RESTART)


def _upgrade(head: bytes) -> Upgrade | None:
    """The handshake the head asks for; None if it is not a WebSocket upgrade."""
    parsed = _Head()
    parser = httptools.HttpRequestParser(parsed)
    try:
        parser.feed_data(head)
    except httptools.HttpParserUpgrade:
        pass  # the head is complete, and asks for an upgrade
    except httptools.HttpParserError:
        return None
    if not parsed.complete or parsed.headers.get("upgrade", "").lower() != "websocket":
        return None
    url = httptools.parse_url(parsed.url)
    return Upgrade(
        host=parsed.headers.get("host", ""),
        path=(url.path or b"").decode("latin-1"),
        query=(url.query or b"").decode("latin-1"),
        headers=parsed.headers,
    )


class _Head:
    """httptools' callbacks: the request's target and headers."""

    def __init__(self) -> None:
        self.url = b""
        self.headers: dict[str, str] = {}
        self.complete = False

    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers[name.decode("latin-1").lower()] = value.decode("latin-1")

    def on_headers_complete(self) -> None:
        self.complete = True


def _refusal(status: HTTPStatus) -> WSUpgradeResponseWithListener:
    response = WSUpgradeResponse.create_error_response(status, status.phrase.encode())
    return WSUpgradeResponseWithListener(response, None)


def _ws_protocol(answer: Any) -> WSProtocol:
    """picows' server protocol for one accepted connection, made as `picows.ws_create_server`
    makes it (its arguments are positional: the version is pinned in pyproject.toml)."""
    return WSProtocol(
        None,  # host and port: a client's
        None,  # path: a client's
        False,  # the server's side
        answer,
        _socket_log,
        True,  # disconnect on an exception in a listener
        HANDSHAKE_TIMEOUT_SECONDS,
        False,  # no pings of our own: the media server keeps the socket busy
        20,
        20,
        WSAutoPingStrategy.PING_WHEN_IDLE,
        True,  # answer pings
        MAX_MESSAGE_BYTES,
        None,  # extra headers
        READ_BUFFER_BYTES,
    )


def _finished(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("a media stream's work failed", exc_info=task.exception())


class OneWriteAnswers:
    """The transport uvicorn's HTTP protocol writes to: an answer's head and its body in one
    write. uvicorn writes them in two calls, one after the other — two system calls and two TCP
    segments an answer (measured: a few µs of CPU an answer, and on UpdateCallRecording its
    largest single share after the event loop's own). A head is held until the next write,
    which it joins; if none comes in the same turn of the loop (HEAD, 204, a body still being
    read), it goes alone at the loop's next turn. Whatever is written stays in order."""

    __slots__ = ("_held", "_loop", "_transport")

    def __init__(self, transport: asyncio.Transport) -> None:
        self._transport = transport
        self._held: bytes | None = None
        self._loop = asyncio.get_running_loop()

    def write(self, data: bytes | bytearray | memoryview) -> None:
        held = self._held
        if held is not None:
            self._held = None
            self._transport.write(held + data)
        elif data[:9] == b"HTTP/1.1 " and data[-4:] == b"\r\n\r\n":
            self._held = bytes(data)
            self._loop.call_soon(self._release)
        else:
            self._transport.write(data)

    def _release(self) -> None:
        held, self._held = self._held, None
        if held is not None and not self._transport.is_closing():
            self._transport.write(held)

    def close(self) -> None:
        self._release()
        self._transport.close()

    def is_closing(self) -> bool:
        return self._transport.is_closing()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)  # the rest, as the transport has it
