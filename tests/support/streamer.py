"""A media stream client for tests: speaks Twilio's Media Streams protocol (or raw PCM) to a real
callrec WebSocket, in real time, from a thread, while the test drives the REST API."""

from __future__ import annotations

import base64
import contextlib
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from callrec.media.codec import ulaw_encode

FRAME_SECONDS = 0.020
RATE = 8_000
FRAME_SAMPLES = int(RATE * FRAME_SECONDS)


def tone(
    hz: float, frame: int, rate: int = RATE, samples: int = FRAME_SAMPLES
) -> npt.NDArray[np.int16]:
    n = np.arange(frame * samples, (frame + 1) * samples) / rate
    return (np.sin(2 * np.pi * hz * n) * 8000).astype(np.int16)


@dataclass
class TwilioStreamer:
    """Sends `start`, then a media message per track every 20 ms, then `stop`."""

    url: str
    account_sid: str
    call_sid: str
    headers: dict[str, str]
    #: (track, frame index) -> 160 samples of PCM, μ-law encoded on the way out
    audio: Callable[[str, int], npt.NDArray[np.int16]]
    sent: int = 0  # frames sent so far, per track
    payloads: dict[int, bytes] = field(default_factory=dict)  # inbound μ-law by frame index
    stop_requested: threading.Event = field(default_factory=threading.Event)
    send_stop: bool = True
    closed_by_server: bool = False
    _thread: threading.Thread | None = None

    def start(self) -> TwilioStreamer:
        self._exit = contextlib.ExitStack()
        self._connection = self._exit.enter_context(
            connect(self.url, additional_headers=self.headers)
        )
        self._send({"event": "connected", "protocol": "Call", "version": "1.0.0"})
        self._send(
            {
                "event": "start",
                "sequenceNumber": "1",
                "streamSid": "MZ" + "0" * 32,
                "start": {
                    "accountSid": self.account_sid,
                    "callSid": self.call_sid,
                    "streamSid": "MZ" + "0" * 32,
                    "tracks": ["inbound", "outbound"],
                    "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
                    "customParameters": {},
                },
            }
        )
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def wait_for_frame(self, frame: int, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while self.sent < frame:
            if time.monotonic() > deadline:
                raise AssertionError(f"stream stuck at frame {self.sent}")
            time.sleep(0.002)

    def finish(self) -> None:
        self.stop_requested.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def _run(self) -> None:
        try:
            self._stream()
        except ConnectionClosed:
            self.closed_by_server = True
        finally:
            self._exit.close()

    def _stream(self) -> None:
        began = time.monotonic()
        connection: ClientConnection = self._connection
        frame = 0
        while not self.stop_requested.is_set():
            for track in ("inbound", "outbound"):
                payload = ulaw_encode(self.audio(track, frame))
                if track == "inbound":
                    self.payloads[frame] = payload
                self._send(
                    {
                        "event": "media",
                        "sequenceNumber": str(frame + 2),
                        "streamSid": "MZ" + "0" * 32,
                        "media": {
                            "track": track,
                            "chunk": str(frame + 1),
                            "timestamp": str(frame * 20),
                            "payload": base64.b64encode(payload).decode(),
                        },
                    }
                )
            frame += 1
            self.sent = frame
            delay = began + frame * FRAME_SECONDS - time.monotonic()
            if delay > 0:
                time.sleep(delay)
        if self.send_stop:
            self._send(
                {
                    "event": "stop",
                    "stop": {"accountSid": self.account_sid, "callSid": self.call_sid},
                }
            )
        connection.close()

    def _send(self, message: dict[str, object]) -> None:
        self._connection.send(json.dumps(message))
