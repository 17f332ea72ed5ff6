"""Twilio's <Stream> from the other side: callrec connects out to the app's WebSocket and sends a
call's audio in the Media Streams protocol (CONTRACT.md §11, §12.3), in real time.

    connected → start (customParameters) → media every 20 ms per track (dtmf) → stop

Bidirectional (<Connect><Stream>): the app's `media` becomes the call's outbound audio (played
in real time, so each `mark` the app sends comes back once the audio before it has played;
`clear` drops what is unplayed and returns its marks at once). The handshake carries
`X-Twilio-Signature` over the URL, signed with the account's auth token."""

from __future__ import annotations

import asyncio
import base64
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import orjson
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, WebSocketException

from callrec.callbacks.signing import signature
from callrec.callbacks.webhook import USER_AGENT

log = logging.getLogger(__name__)

RATE = 8_000
FRAME_SAMPLES = 160  # 20 ms of μ-law
FRAME_SECONDS = FRAME_SAMPLES / RATE
CONNECT_TIMEOUT_SECONDS = 10.0
#: A frame of audio (μ-law) of `track` starting at the stream's sample `first`.
Audio = Callable[[str, int], bytes]


@dataclass(frozen=True, slots=True)
class StreamTarget:
    url: str
    stream_sid: str
    account_sid: str
    call_sid: str
    tracks: tuple[str, ...]  # "inbound", "outbound"
    parameters: tuple[tuple[str, str], ...]
    bidirectional: bool


class StreamClient:
    """One outgoing stream; `run` returns when it is stopped or the app closes it."""

    def __init__(self, target: StreamTarget, token: str, audio: Audio) -> None:
        self._target = target
        self._token = token
        self._audio = audio
        self._sequence = 0
        self._keys: asyncio.Queue[str] = asyncio.Queue()
        self._played_until = 0.0  # monotonic time the app's audio so far ends playing
        self._marks: list[tuple[float, str]] = []  # (when played, name), in order
        self.began = 0.0  # monotonic time the stream started
        #: The app's audio (bidirectional): when each payload starts playing, and its μ-law.
        self.heard: list[tuple[float, bytes]] = []
        self._cleared_at: list[float] = []
        #: Set once connected (the moment of Twilio's `stream-started`).
        self.started = asyncio.Event()

    def press(self, digits: str) -> None:
        """The far end pressed keys: sent as `dtmf` events."""
        for key in digits:
            self._keys.put_nowait(key)

    async def run(self, stop: asyncio.Event) -> str | None:
        """Stream until `stop` is set or the app closes; why it could not connect, if it could
        not (None: it streamed)."""
        headers = {"X-Twilio-Signature": signature(self._token, self._target.url)}
        try:
            async with asyncio.timeout(CONNECT_TIMEOUT_SECONDS):
                socket = await connect(
                    self._target.url, additional_headers=headers, user_agent_header=USER_AGENT
                )
        except (OSError, TimeoutError, WebSocketException) as error:
            log.warning("stream %s: cannot connect: %r", self._target.url, error)
            return f"cannot connect: {error}"
        self.started.set()
        async with socket:
            listening = asyncio.get_running_loop().create_task(self._listen(socket))
            try:
                await self._talk(socket, stop, listening)
            except ConnectionClosed:
                pass  # the app closed the socket as a message was being sent: it ended the stream
            finally:
                listening.cancel()
        return None

    async def _talk(
        self, socket: ClientConnection, stop: asyncio.Event, listening: asyncio.Task[None]
    ) -> None:
        target = self._target
        await socket.send(
            orjson.dumps({"event": "connected", "protocol": "Call", "version": "1.0.0"})
        )
        await self._send(socket, "start", {
            "accountSid": target.account_sid, "callSid": target.call_sid,
            "streamSid": target.stream_sid, "tracks": list(target.tracks),
            "customParameters": dict(target.parameters),
            "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": RATE, "channels": 1},
        })  # fmt: skip
        began = self.began = time.monotonic()
        stopping = asyncio.ensure_future(stop.wait())
        try:
            await self._stream(socket, stopping, listening, began)
        finally:
            stopping.cancel()
        if not listening.done():
            stopped = {"accountSid": target.account_sid, "callSid": target.call_sid}
            await self._send(socket, "stop", stopped)

    async def _stream(
        self,
        socket: ClientConnection,
        stopping: asyncio.Future[Any],
        listening: asyncio.Future[Any],
        began: float,
    ) -> None:
        """A frame per track every 20 ms, on time, until stopped or the app closes."""
        target = self._target
        chunk = 0
        while not stopping.done() and not listening.done():
            for track in target.tracks:
                await self._send(socket, "media", {
                    "track": track, "chunk": str(chunk + 1),
                    "timestamp": str(round(chunk * FRAME_SECONDS * 1000)),
                    "payload": base64.b64encode(self._audio(track, chunk * FRAME_SAMPLES)).decode(),
                })  # fmt: skip
            while not self._keys.empty():
                digit = self._keys.get_nowait()
                await self._send(socket, "dtmf", {"track": "inbound_track", "digit": digit})
            await self._return_marks(socket, time.monotonic())
            chunk += 1
            pause = began + chunk * FRAME_SECONDS - time.monotonic()
            if pause > 0:
                await asyncio.wait([stopping, listening], timeout=pause)

    async def _send(self, socket: ClientConnection, event: str, body: Mapping[str, object]) -> None:
        self._sequence += 1
        await socket.send(orjson.dumps({
            "event": event, "sequenceNumber": str(self._sequence),
            "streamSid": self._target.stream_sid, event: body,
        }))  # fmt: skip

    async def _listen(self, socket: ClientConnection) -> None:
        """What the app sends back (bidirectional only): audio to play, marks, clears."""
        try:
            async for message in socket:
                if not self._target.bidirectional:
                    continue
                try:
                    event = orjson.loads(message)
                except orjson.JSONDecodeError:
                    continue
                self._heard(event if isinstance(event, dict) else {})
        except WebSocketException:
            pass

    def _heard(self, event: dict[str, object]) -> None:
        now = time.monotonic()
        kind = event.get("event")
        body = event.get(str(kind))
        if kind == "media" and isinstance(body, dict):
            try:
                payload = base64.b64decode(str(body.get("payload", "")), validate=True)
            except ValueError:
                return  # not base64: nothing to play
            starts = max(self._played_until, now)
            self.heard.append((starts, payload))
            self._played_until = starts + len(payload) / RATE
        elif kind == "mark" and isinstance(body, dict):
            self._marks.append((max(self._played_until, now), str(body.get("name", ""))))
        elif kind == "clear":
            self._cleared_at.append(now)
            self._played_until = now
            self._marks = [(now, name) for _, name in self._marks]

    def played_audio(self, until: float) -> bytes:
        """The app's audio as the call played it, from the stream's start to `until` (when it
        ended): μ-law, silence where the app sent nothing, a `clear` cutting what had not
        played."""
        if not self.began:
            return b""  # it never started (the app could not be reached)
        out = bytearray(b"\xff" * max(0, round((until - self.began) * RATE)))  # μ-law silence
        for start, payload in self.heard:
            cut = min((c for c in self._cleared_at if c >= start), default=until)
            at = max(0, round((start - self.began) * RATE))
            n = max(0, min(len(payload), round((min(cut, until) - start) * RATE), len(out) - at))
            out[at : at + n] = payload[:n]
        return bytes(out)

    async def _return_marks(self, socket: ClientConnection, now: float) -> None:
        while self._marks and self._marks[0][0] <= now:
            _, name = self._marks.pop(0)
            await self._send(socket, "mark", {"name": name})
