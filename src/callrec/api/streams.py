"""The media stream WebSocket (CONTRACT.md §11): Twilio's Media Streams protocol in JSON text
messages, or raw 16-bit little-endian PCM in binary messages (jambonz, FreeSWITCH audio forks).

Authentication, before anything is recorded: HTTP Basic on the handshake, or an
`X-Twilio-Signature` of the WebSocket URL checked with the token of the account that `start`
names. No credentials, or wrong ones, are refused at the handshake (HTTP 403); anything else
wrong closes the connection (policy violation, 1008).

Binary PCM: `?sampleRate=16000&channels=2[&callSid=CA…][&accountSid=AC…]`, Basic auth only;
one channel is the inbound track, two are inbound and outbound interleaved.

The sockets are picows' (docs/ARCHITECTURE.md, "Media streams at speed"; `callrec.front` hands
them over): a message is handled by a plain call on the event loop as soon as it is parsed, with
no task, queue or await of its own, so a gate closed by a REST update is closed before the next
frame is looked at. What must wait on the database (attaching the call, stopping it) runs as a
task while the socket reads nothing more; the messages already read wait, in order, until it is
done.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qs

import numpy as np
from picows import WSCloseCode, WSFrame, WSListener, WSMsgType, WSTransport

from callrec.api.context import Services
from callrec.callbacks.signing import is_valid
from callrec.domain.errors import DomainError
from callrec.domain.model import MICROS_PER_SECOND, RecordingTrack
from callrec.ids import ACCOUNT_SID, CALL_SID, is_sid
from callrec.media.encoding import Encoding
from callrec.media.stream_protocol import Media, ProtocolError, Start, Stop, parse
from callrec.peers import CallBusy, Unreachable
from callrec.service.accounts import Principal
from callrec.storage.base import StorageError

log = logging.getLogger(__name__)
NORMAL_CLOSURE = 1000
POLICY_VIOLATION = 1008
INTERNAL_ERROR = 1011  # the database is unreachable: nothing of the stream could be kept
SERVICE_RESTART = 1012  # this process is stopping, or was taken over: connect again, anywhere
TRY_AGAIN_LATER = 1013  # the call's stream is still connected to another process
RATES = (8_000, 16_000, 24_000, 32_000, 44_100, 48_000)
#: Runs a stream's database work as a task the server waits for when it stops.
Spawn = Callable[[Coroutine[Any, Any, None]], None]
_TEXT, _BINARY = WSMsgType.TEXT, WSMsgType.BINARY
_INBOUND = RecordingTrack.INBOUND
_Message = tuple[WSMsgType, bytes | memoryview]


@dataclass(frozen=True, slots=True)
class Upgrade:
    """A WebSocket handshake to the streams path, as the listener read it."""

    host: str
    path: str
    query: str
    headers: Mapping[str, str]  # names in lower case


class StreamEndpoint:
    """Admits media streams: each handshake gets its stream, or is refused before it."""

    def __init__(self, services: Services, path: str) -> None:
        self._services = services
        self.path = path

    async def admit(self, upgrade: Upgrade, spawn: Spawn) -> Stream | HTTPStatus:
        """The stream to serve this handshake, or the HTTP status that refuses it."""
        services, headers = self._services, upgrade.headers
        if services.draining.started:
            # Shutting down: refused before the handshake, so the media server connects again,
            # to another process.
            return HTTPStatus.FORBIDDEN
        principal: Principal | None = None
        basic = headers.get("authorization")
        try:
            if basic is not None:
                principal = await services.accounts.authenticate_basic(basic)
                if principal is None:
                    return HTTPStatus.FORBIDDEN
            elif "x-twilio-signature" not in headers:
                return HTTPStatus.FORBIDDEN
        except StorageError as error:
            log.warning("stream refused, the database does not answer: %s", error)
            return HTTPStatus.SERVICE_UNAVAILABLE
        query = {name: values[-1] for name, values in parse_qs(upgrade.query).items()}
        if "sampleRate" in query:
            return _BinaryStream(services, upgrade, principal, spawn, query)
        return _TwilioStream(services, upgrade, principal, spawn)


class Stream(WSListener):
    """One media stream's socket: its messages in order, and its call attached and detached."""

    # Slots: its fields are read for every frame, thousands of streams apart in memory; a slot
    # is one load where an instance dict is a hash lookup (perf: docs/BENCHMARKS.md).
    __slots__ = (
        "_call_sid",
        "_closing",
        "_disconnected",
        "_fragments",
        "_frame",
        "_held",
        "_principal",
        "_services",
        "_spawn",
        "_stopped",
        "_transport",
        "_upgrade",
        "gone",
    )

    def __init__(
        self, services: Services, upgrade: Upgrade, principal: Principal | None, spawn: Spawn
    ) -> None:
        super().__init__()
        self._services = services
        self._upgrade = upgrade
        self._principal = principal
        self._spawn = spawn
        self._frame = services.streams.frame
        self._transport: WSTransport | None = None
        #: Messages read while the stream waits on the database (None: it does not).
        self._held: deque[_Message] | None = None
        self._fragments: tuple[WSMsgType, bytearray] | None = None
        self._call_sid: str | None = None  # attached
        self._closing = False
        self._disconnected = False
        self._stopped = False  # the stream ended as its protocol says a call ends
        #: Told once the socket is gone (the server stops waiting for it).
        self.gone: Callable[[], None] = lambda: None

    # what the protocol's messages do: the subclasses

    def _message(self, kind: WSMsgType, data: bytes | memoryview) -> None:
        raise NotImplementedError

    def _peer_closed(self, code: int) -> None:
        """The client closed the socket with `code`."""

    # the socket

    def on_ws_connected(self, transport: WSTransport) -> None:
        self._transport = transport

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        kind = frame.msg_type
        if (kind is _TEXT or kind is _BINARY) and frame.fin:  # a whole message: the hot path
            if self._held is None and not self._closing:
                self._message(kind, frame.get_payload_as_memoryview())
            elif self._held is not None:
                self._held.append((kind, frame.get_payload_as_bytes()))
        elif kind is _TEXT or kind is _BINARY:
            self._fragments = (kind, bytearray(frame.get_payload_as_memoryview()))
        elif kind is WSMsgType.CONTINUATION and self._fragments is not None:
            self._fragments[1].extend(frame.get_payload_as_memoryview())
            if frame.fin:
                first, data = self._fragments
                self._fragments = None
                if self._held is not None:
                    self._held.append((first, bytes(data)))
                elif not self._closing:
                    self._message(first, bytes(data))
        elif kind is WSMsgType.CLOSE:
            code: int = frame.get_close_code().value
            self._peer_closed(code)
            if not self._closing:
                self._closing = True
                transport.send_close(WSCloseCode(code))
            transport.disconnect()

    def on_ws_disconnected(self, transport: WSTransport) -> None:
        self._disconnected = True
        self.gone()
        if self._held is None:  # else the work waited on ends the stream when it is done
            self._spawn(self._end())

    def close(self, code: int) -> None:
        """Close the socket with `code`; the stream then ends as a dropped one does."""
        if self._closing or self._transport is None:
            return
        self._closing = True
        self._transport.send_close(WSCloseCode(code))
        self._transport.disconnect()

    async def close_for_restart(self) -> None:
        self.close(SERVICE_RESTART)

    def _refuse(self, why: object) -> None:
        log.info("stream refused: %s", why or type(why).__name__)
        self.close(POLICY_VIOLATION)

    # waiting on the database

    def _wait_for(self, work: Coroutine[Any, Any, None]) -> None:
        """Run `work` while the socket reads nothing more; what was read already waits."""
        assert self._transport is not None
        self._held = deque()
        self._transport.underlying_transport.pause_reading()
        self._spawn(self._waited(work))

    async def _waited(self, work: Awaitable[None]) -> None:
        try:
            await work
        except (ProtocolError, DomainError) as error:
            self._refuse(error)
        except (CallBusy, Unreachable) as error:
            log.info("stream refused for now: %r", error)
            self.close(TRY_AGAIN_LATER)
        except StorageError as error:
            log.warning("stream dropped: %s", error)
            self.close(INTERNAL_ERROR)
        held, self._held = self._held or deque(), None
        while held and self._held is None and not self._closing:
            self._message(*held.popleft())
        if self._held is not None:  # a held message began more work: the rest wait on it
            self._held.extendleft(reversed(held))
        elif self._disconnected:
            await self._end()
        elif not self._closing and self._transport is not None:
            self._transport.underlying_transport.resume_reading()

    async def _end(self) -> None:
        """The socket is gone: a stream that stopped ends its call now, one that dropped gets
        the grace time to come back."""
        sid, self._call_sid = self._call_sid, None
        if sid is None:
            return
        try:
            await self._services.streams.detach(sid, stopped=self._stopped)
        except StorageError as error:
            log.warning("the stream of %s ended, and the database does not answer: %s", sid, error)


class _TwilioStream(Stream):
    """connected → start → media* → stop, in JSON text messages."""

    __slots__ = ()

    def _message(self, kind: WSMsgType, data: bytes | memoryview) -> None:
        if kind is not _TEXT:
            return self._refuse("a binary message on a Twilio media stream")
        try:
            message = parse(data)
        except ProtocolError as error:
            return self._refuse(error)
        if type(message) is Media:
            if self._call_sid is None:
                return self._refuse("media before start")
            self._frame(self._call_sid, message.track, message.offset, message.payload)
        elif isinstance(message, Start):
            if self._call_sid is not None:
                return self._refuse("a second start")
            self._wait_for(self._start(message))
        elif isinstance(message, Stop):
            self._wait_for(self._stop())

    async def _start(self, start: Start) -> None:
        if not await self._may_stream(start.account_sid):
            raise ProtocolError("not authenticated for this account")
        call = await self._services.streams.attach(
            start.account_sid,
            start.call_sid,
            start.rate,
            Encoding.MULAW,
            len(start.tracks),
            self.close_for_restart,
        )
        self._call_sid = call.sid

    async def _stop(self) -> None:
        sid, self._call_sid = self._call_sid, None
        if sid is not None:
            await self._services.streams.detach(sid, stopped=True)
        self.close(NORMAL_CLOSURE)

    async def _may_stream(self, account_sid: str) -> bool:
        accounts = self._services.accounts
        if self._principal is not None:
            return await accounts.may_act_on(self._principal, account_sid)
        token = await accounts.auth_token(account_sid)
        given = self._upgrade.headers.get("x-twilio-signature", "")
        return token is not None and is_valid(token, self._signed_urls(), given)

    def _signed_urls(self) -> list[str]:
        """The URL Twilio signed, as it may look from here: ws or wss (TLS may end before us),
        and under the public URL if one is set."""
        upgrade, public_url = self._upgrade, self._services.public_url
        tail = upgrade.path + (f"?{upgrade.query}" if upgrade.query else "")
        hosts = [upgrade.host]
        if public_url:
            hosts.append(public_url.split("://", 1)[-1].rstrip("/"))
        return [f"{scheme}://{host}{tail}" for host in hosts for scheme in ("wss", "ws")]


class _BinaryStream(Stream):
    """16-bit little-endian PCM in binary messages from the first; a normal closure ends the
    call (this protocol has no `stop`)."""

    __slots__ = ("_channels", "_query", "_rate", "_received")

    def __init__(
        self,
        services: Services,
        upgrade: Upgrade,
        principal: Principal | None,
        spawn: Spawn,
        query: Mapping[str, str],
    ) -> None:
        super().__init__(services, upgrade, principal, spawn)
        self._query = query
        self._channels = 1
        self._rate = 0
        self._received = 0  # samples per channel so far: the offset of the next frame

    def on_ws_connected(self, transport: WSTransport) -> None:
        super().on_ws_connected(transport)
        self._wait_for(self._attach())

    async def _attach(self) -> None:
        principal, query = self._principal, self._query
        if principal is None:
            raise ProtocolError("binary streams authenticate with HTTP Basic")
        rate, channels = _int(query.get("sampleRate")), _int(query.get("channels", "1"))
        if rate not in RATES or channels not in (1, 2):
            raise ProtocolError("sampleRate or channels not supported")
        account_sid = query.get("accountSid") or principal.account_sid
        call_sid = query.get("callSid") or None
        if not is_sid(ACCOUNT_SID, account_sid) or (call_sid and not is_sid(CALL_SID, call_sid)):
            raise ProtocolError("bad accountSid or callSid")
        if not await self._services.accounts.may_act_on(principal, account_sid):
            raise ProtocolError("not authenticated for this account")
        assert rate is not None
        self._rate, self._channels = rate, channels
        call = await self._services.streams.attach(
            account_sid, call_sid, rate, Encoding.PCM16, channels, self.close_for_restart
        )
        self._call_sid = call.sid

    def _message(self, kind: WSMsgType, data: bytes | memoryview) -> None:
        sid = self._call_sid
        if kind is not _BINARY:
            return self._refuse("a text message on a binary stream")
        if sid is None:
            return
        offset = self._received * MICROS_PER_SECOND // self._rate
        if self._channels == 1:
            # Handed on as picows read it, not copied: the capture copies it before returning.
            samples = len(data) // 2
            self._frame(sid, _INBOUND, offset, data if len(data) % 2 == 0 else data[: samples * 2])
        else:
            whole = len(data) // 4 * 4
            frames = np.frombuffer(data[:whole], "<i2").reshape(-1, 2)
            samples = len(frames)
            self._frame(sid, RecordingTrack.INBOUND, offset, frames[:, 0].tobytes())
            self._frame(sid, RecordingTrack.OUTBOUND, offset, frames[:, 1].tobytes())
        self._received += samples

    def _peer_closed(self, code: int) -> None:
        self._stopped = code == NORMAL_CLOSURE


def _int(value: str | None) -> int | None:
    return int(value) if value is not None and value.isdigit() else None
