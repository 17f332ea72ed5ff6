"""Where a recording's audio lives on disk, and writing it: WAV once, MP3 on first request.

Every file of a recording is named after it (`RE….wav`, `RE…-mono.mp3`, …) and written whole,
atomically (a reader sees all of it or none). With `at_rest`, each is sealed with a key of its
own derived from the deployment's secret (media/sealed.py) and read back through `get`."""

from __future__ import annotations

import hashlib
import hmac
import io
import os
import wave
from pathlib import Path

import lameenc  # type: ignore[import-not-found]  # ships no type information
import numpy as np
import numpy.typing as npt

from callrec.media.sealed import MAGIC, is_sealed, seal, unseal

MP3_KBPS = 32


class MediaFiles:
    def __init__(self, root: Path, secret: bytes = b"", at_rest: bool = False) -> None:
        self.root = root
        self._secret = secret
        #: Seal every file of a recording written here (`--encrypt-at-rest`).
        self.at_rest = at_rest
        root.mkdir(parents=True, exist_ok=True)

    def beside(self, root: Path) -> MediaFiles:
        """The same files' rules in another directory (a scratch one)."""
        return MediaFiles(root, self._secret, self.at_rest)

    def file_key(self, path: Path) -> bytes:
        """The key of a sealed file: its recording's own (the file is named after it)."""
        return self._derive(f"file {path.name[:34]}")

    def put(self, path: Path, data: bytes) -> None:
        """Write the file whole and atomically; sealed if files rest encrypted here."""
        write_atomically(path, seal(data, self.file_key(path)) if self.at_rest else data)

    def get(self, path: Path) -> bytes:
        """The file's content, unsealed if it was sealed."""
        data = path.read_bytes()
        return unseal(data, self.file_key(path)) if is_sealed(data) else data

    def is_sealed(self, path: Path) -> bool:
        with path.open("rb") as file:
            return is_sealed(file.read(len(MAGIC)))

    def write_wav(self, path: Path, audio: npt.NDArray[np.int16], rate: int) -> None:
        self.put(path, wav_bytes(audio, rate))

    def read_wav(self, path: Path) -> tuple[npt.NDArray[np.int16], int]:
        with wave.open(io.BytesIO(self.get(path)), "rb") as source:
            channels, rate = source.getnchannels(), source.getframerate()
            data = np.frombuffer(source.readframes(source.getnframes()), dtype="<i2")
        return data.reshape(-1, channels).astype(np.int16), rate

    def _derive(self, purpose: str) -> bytes:
        if not self._secret:
            raise ValueError("no secret to seal files with")
        return hmac.new(self._secret, purpose.encode(), hashlib.sha256).digest()

    def capture(self, sid: str) -> Path:
        return self.root / f"{sid}.cap"

    def capture_key(self, sid: str) -> bytes:
        """The key of the recording's sealed capture file: its own, derived from the
        deployment's secret, so that every process of it can append to the file and render it."""
        return self._derive(f"capture {sid}")

    def wav(self, sid: str) -> Path:
        return self.root / f"{sid}.wav"

    def mp3(self, sid: str) -> Path:
        return self.root / f"{sid}.mp3"

    def peaks(self, sid: str) -> Path:
        """The console's waveform of the recording (media/peaks.py)."""
        return self.root / f"{sid}.peaks.json"

    def variant(self, sid: str, extension: str, mono: bool) -> Path:
        """The file served for a download: as recorded, or downmixed to one channel."""
        return self.root / (f"{sid}-mono.{extension}" if mono else f"{sid}.{extension}")

    def played(self, name: str) -> Path:
        """A <Play>'s decoded audio (raw 16-bit mono 8 kHz), named by its content's digest."""
        return self.root / "played" / f"{name}.pcm"

    def keep_played(self, name: str, samples: npt.NDArray[np.int16]) -> None:
        """Write it once (a file of that name has that content already)."""
        path = self.played(name)
        if path.exists():
            return
        path.parent.mkdir(exist_ok=True)
        partial = path.with_suffix(f".{os.getpid()}.partial")
        partial.write_bytes(samples.astype("<i2").tobytes())
        _commit(partial, path)

    def load_played(self, name: str) -> npt.NDArray[np.int16]:
        return np.frombuffer(self.played(name).read_bytes(), dtype="<i2").astype(np.int16)

    def delete(self, sid: str) -> None:
        for path in self.root.glob(f"{sid}*"):
            path.unlink(missing_ok=True)


def wav_bytes(audio: npt.NDArray[np.int16], rate: int) -> bytes:
    """The WAV file in memory (to be encrypted before any of it reaches the disk)."""
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        _fill(out, audio, rate)
    return buffer.getvalue()


def _fill(out: wave.Wave_write, audio: npt.NDArray[np.int16], rate: int) -> None:
    out.setnchannels(audio.shape[1])
    out.setsampwidth(2)
    out.setframerate(rate)
    out.writeframes(audio.astype("<i2").tobytes())


def write_atomically(path: Path, data: bytes) -> None:
    partial = path.with_name(f"{path.name}.{os.getpid()}.partial")
    partial.write_bytes(data)
    _commit(partial, path)


def downmix(audio: npt.NDArray[np.int16]) -> npt.NDArray[np.int16]:
    if audio.shape[1] == 1:
        return audio
    mixed: npt.NDArray[np.int16] = (audio.astype(np.int32).sum(axis=1) // audio.shape[1]).astype(
        np.int16
    )
    return mixed.reshape(-1, 1)


def write_mono_wav(files: MediaFiles, wav_path: Path, mono_path: Path) -> None:
    audio, rate = files.read_wav(wav_path)
    files.write_wav(mono_path, downmix(audio), rate)


def write_mp3(files: MediaFiles, wav_path: Path, mp3_path: Path) -> None:
    """Encode the WAV with LAME (made once, then served from disk)."""
    audio, rate = files.read_wav(wav_path)
    encoder = lameenc.Encoder()
    encoder.set_bit_rate(MP3_KBPS * audio.shape[1])
    encoder.set_in_sample_rate(rate)
    encoder.set_channels(audio.shape[1])
    encoder.set_quality(5)
    data = encoder.encode(audio.astype("<i2").tobytes()) + encoder.flush()
    files.put(mp3_path, bytes(data))


def _commit(partial: Path, final: Path) -> None:
    with partial.open("rb") as file:
        os.fsync(file.fileno())
    os.replace(partial, final)
