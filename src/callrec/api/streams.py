"""The media stream WebSocket (CONTRACT.md §11): Twilio's Media Streams protocol in JSON text
messages, or raw 16-bit little-endian PCM in binary messages (jambonz, FreeSWITCH audio forks).

Authentication, before anything is recorded: HTTP Basic on the handshake, or an
`X-Twilio-Signature` of the WebSocket URL checked with the token of the account that `start`
names. Anything else closes the connection (policy violation, 1008).

Binary PCM: `?sampleRate=16000&channels=2[&callSid=CA…][&accountSid=AC…]`, Basic auth only;
one channel is the inbound track, two are inbound and outbound interleaved.
"""

from __future__ import annotations

import logging
from functools import partial

import numpy as np
from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

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
POLICY_VIOLATION = 1008
NORMAL_CLOSURE = 1000
INTERNAL_ERROR = 1011  # the database is unreachable: nothing of the stream could be kept
SERVICE_RESTART = 1012  # this process was taken over: connect again, to any process
TRY_AGAIN_LATER = 1013  # the call's stream is still connected to another process
RATES = (8_000, 16_000, 24_000, 32_000, 44_100, 48_000)


def routes(services: Services, path: str) -> list[WebSocketRoute]:
    accounts, streams = services.accounts, services.streams

    async def stream(websocket: WebSocket) -> None:
        if services.draining.started:
            # Shutting down: refused before the handshake (HTTP 403), so the media server
            # connects again, to another process.
            return await websocket.close(SERVICE_RESTART)
        principal: Principal | None = None
        basic = websocket.headers.get("authorization")
        if basic is not None:
            principal = await accounts.authenticate_basic(basic)
            if principal is None:
                return await websocket.close(POLICY_VIOLATION)
        elif "x-twilio-signature" not in websocket.headers:
            return await websocket.close(POLICY_VIOLATION)
        await websocket.accept()
        try:
            if "sampleRate" in websocket.query_params:
                await _binary(websocket, principal)
            else:
                await _twilio(websocket, principal)
        except (ProtocolError, DomainError) as error:
            log.info("stream refused: %s", error or type(error).__name__)
            await websocket.close(POLICY_VIOLATION)
        except (CallBusy, Unreachable) as error:
            log.info("stream refused for now: %r", error)
            await websocket.close(TRY_AGAIN_LATER)
        except StorageError as error:
            log.warning("stream dropped: %s", error)
            await websocket.close(INTERNAL_ERROR)

    async def _twilio(websocket: WebSocket, principal: Principal | None) -> None:
        call_sid: str | None = None
        try:
            while True:
                message = parse(await _text(websocket))
                if isinstance(message, Media):
                    if call_sid is None:
                        raise ProtocolError("media before start")
                    streams.frame(call_sid, message.track, message.offset, message.payload)
                elif isinstance(message, Start):
                    if call_sid is not None:
                        raise ProtocolError("a second start")
                    if not await _may_stream(websocket, principal, message.account_sid):
                        raise ProtocolError("not authenticated for this account")
                    call = await streams.attach(
                        message.account_sid, message.call_sid, message.rate, Encoding.MULAW,
                        partial(websocket.close, SERVICE_RESTART),
                    )  # fmt: skip
                    call_sid = call.sid
                elif isinstance(message, Stop):
                    if call_sid is not None:
                        await streams.detach(call_sid, stopped=True)
                        call_sid = None
                    await websocket.close()
                    return
        except WebSocketDisconnect:
            pass
        finally:
            if call_sid is not None:
                await streams.detach(call_sid, stopped=False)

    async def _may_stream(
        websocket: WebSocket, principal: Principal | None, account_sid: str
    ) -> bool:
        if principal is not None:
            return await accounts.may_act_on(principal, account_sid)
        token = await accounts.auth_token(account_sid)
        given = websocket.headers.get("x-twilio-signature", "")
        return token is not None and is_valid(token, _signed_urls(websocket), given)

    def _signed_urls(websocket: WebSocket) -> list[str]:
        """The URL Twilio signed, as it may look from here: ws or wss (TLS may end before us),
        and under the public URL if one is set."""
        url = websocket.url
        tail = url.path + (f"?{url.query}" if url.query else "")
        hosts = [url.netloc]
        if services.public_url:
            hosts.append(services.public_url.split("://", 1)[-1].rstrip("/"))
        return [f"{scheme}://{host}{tail}" for host in hosts for scheme in ("wss", "ws")]

    async def _binary(websocket: WebSocket, principal: Principal | None) -> None:
        if principal is None:
            raise ProtocolError("binary streams authenticate with HTTP Basic")
        query = websocket.query_params
        rate, channels = _int(query.get("sampleRate")), _int(query.get("channels", "1"))
        if rate not in RATES or channels not in (1, 2):
            raise ProtocolError("sampleRate or channels not supported")
        account_sid = query.get("accountSid") or principal.account_sid
        call_sid = query.get("callSid") or None
        if not is_sid(ACCOUNT_SID, account_sid) or (call_sid and not is_sid(CALL_SID, call_sid)):
            raise ProtocolError("bad accountSid or callSid")
        if not await accounts.may_act_on(principal, account_sid):
            raise ProtocolError("not authenticated for this account")
        call = await streams.attach(
            account_sid, call_sid, rate, Encoding.PCM16, partial(websocket.close, SERVICE_RESTART)
        )
        received = 0  # samples per channel so far: the offset of the next frame
        stopped = False
        try:
            while True:
                message = await websocket.receive()
                if message["type"] == "websocket.disconnect":
                    # No `stop` message in this protocol: a normal closure ends the call.
                    stopped = message.get("code", NORMAL_CLOSURE) == NORMAL_CLOSURE
                    return
                data = message.get("bytes")
                if data is None:
                    raise ProtocolError("a text message on a binary stream")
                samples = np.frombuffer(data[: len(data) // (2 * channels) * 2 * channels], "<i2")
                frames = samples.reshape(-1, channels)
                offset = received * MICROS_PER_SECOND // rate
                for channel, track in zip(
                    range(channels), (RecordingTrack.INBOUND, RecordingTrack.OUTBOUND), strict=False
                ):
                    streams.frame(call.sid, track, offset, frames[:, channel].tobytes())
                received += len(frames)
        finally:  # whatever ended it: a refused or dropped stream gets the grace time
            await streams.detach(call.sid, stopped=stopped)

    return [WebSocketRoute(path, stream)]


async def _text(websocket: WebSocket) -> str:
    """The next text message (Starlette's receive_text, without its per-message state checks)."""
    message = await websocket.receive()
    if message["type"] == "websocket.disconnect":
        raise WebSocketDisconnect(message.get("code", 1000))
    text = message.get("text")
    if text is None:
        raise ProtocolError("a binary message on a Twilio media stream")
    return str(text)


def _int(value: str | None) -> int | None:
    return int(value) if value is not None and value.isdigit() else None
