"""Listening to what callrec recorded: the WAV of a recording, its loudest frequency, its longest
silence, and whether any of a secret's bytes were kept anywhere under a data directory."""

from __future__ import annotations

import base64
import io
import wave
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import numpy.typing as npt

from callrec.media.codec import ulaw_decode
from tests.support.server import ServerProcess
from tests.support.streamer import RATE, tone

INBOUND_HZ, OUTBOUND_HZ = 440.0, 1000.0
#: Below this a sample is silence (the renderer's own threshold is 100 too).
QUIET = 100


def basic_auth(sid: str, token: str) -> dict[str, str]:
    encoded = base64.b64encode(f"{sid}:{token}".encode()).decode()
    return {"Authorization": f"Basic {encoded}"}


def ws_url(server: ServerProcess, query: str = "") -> str:
    return f"ws://127.0.0.1:{server.port}/streams{query}"


def wav(server: ServerProcess, sid: str, token: str, recording_sid: str) -> npt.NDArray[np.int16]:
    """The recording's audio as served, (samples, channels); 8 kHz is checked."""
    response = httpx.get(
        f"{server.base_url}/2010-04-01/Accounts/{sid}/Recordings/{recording_sid}.wav",
        auth=(sid, token),
    )
    assert response.status_code == 200
    with wave.open(io.BytesIO(response.content)) as source:
        data = np.frombuffer(source.readframes(source.getnframes()), dtype="<i2")
        assert source.getframerate() == RATE
        return data.reshape(-1, source.getnchannels())


def dominant_hz(samples: npt.NDArray[np.int16]) -> float:
    spectrum = np.abs(np.fft.rfft(samples.astype(np.float64)))
    return float(np.fft.rfftfreq(samples.size, 1 / RATE)[int(np.argmax(spectrum[1:])) + 1])


def longest_silence(samples: npt.NDArray[np.int16]) -> int:
    """The longest run of silent samples."""
    quiet = np.abs(samples.astype(np.int32)) <= QUIET
    best = run = 0
    for value in quiet:
        run = run + 1 if value else 0
        best = max(best, run)
    return best


@dataclass(frozen=True)
class Timeline:
    """A recording's Events.json on its media clock, in samples at 8 kHz."""

    start: int
    stop: int
    pauses: list[tuple[int, int, str]]  # (begin, end, behaviour)

    @classmethod
    def of(cls, events: list[dict[str, Any]]) -> Timeline:
        def at(event: dict[str, Any]) -> int:
            return int(event["media_at_ms"]) * RATE // 1000

        start = stop = 0
        pauses: list[tuple[int, int, str]] = []
        paused: dict[str, Any] | None = None
        for event in events:
            if event["kind"] == "started":
                start = at(event)
            elif event["kind"] == "paused":
                paused = event
            elif event["kind"] in ("resumed", "stopped") and paused is not None:
                pauses.append((at(paused), at(event), paused["pause_behavior"]))
                paused = None
            if event["kind"] == "stopped":
                stop = at(event)
        return cls(start, stop, pauses)

    @property
    def samples(self) -> int:
        """How long the audio must be: start to stop, less every skip span."""
        skipped = sum(end - begin for begin, end, how in self.pauses if how == "skip")
        return self.stop - self.start - skipped


@dataclass
class Caller:
    """The audio of a streamed call: a tone on each track, and on the inbound track, while
    `secret` is set, random noise (a card number being read out), findable byte for byte."""

    secret: bool = False
    secret_frames: set[int] = field(default_factory=set)
    _noise: np.random.Generator = field(default_factory=lambda: np.random.default_rng(7))

    def __call__(self, track: str, frame: int) -> npt.NDArray[np.int16]:
        if track == "inbound" and self.secret:
            self.secret_frames.add(frame)
            return self._noise.integers(-20000, 20000, 160).astype(np.int16)
        return tone(INBOUND_HZ if track == "inbound" else OUTBOUND_HZ, frame)


def secret_kept(data_dir: Path, payloads: dict[int, bytes], frames: set[int]) -> list[int]:
    """The secret frames found anywhere under `data_dir`, as sent (μ-law) or decoded (PCM)."""
    stored = b"".join(path.read_bytes() for path in data_dir.rglob("*") if path.is_file())
    found = []
    for frame in sorted(frames):
        mulaw = payloads[frame]
        if mulaw in stored or ulaw_decode(mulaw).astype("<i2").tobytes() in stored:
            found.append(frame)
    return found
