"""The capture file: a recording's captured frames, appended as they arrive.

    file   := header record*
    header := b"CRCAPv1\\0" rate:u32le
    record := track:u8 pad:3 media_at:i64le count:u32le crc32:u32le samples:i16le[count]

`crc32` covers the record's first 16 bytes and its samples, so a tail torn by a crash is found
and cut off when the file is read or reopened: everything before it is kept. Only frames that
passed the gate (the recording was in progress) are ever written here.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np
import numpy.typing as npt

from callrec.domain.model import Micros, RecordingTrack

MAGIC = b"CRCAPv1\0"
_HEADER = struct.Struct("<8sI")
_RECORD = struct.Struct("<B3xqI")  # track, media_at, count
_CRC = struct.Struct("<I")
TRACK_CODES = {RecordingTrack.INBOUND: 0, RecordingTrack.OUTBOUND: 1}
TRACKS = {code: track for track, code in TRACK_CODES.items()}


@dataclass(frozen=True, slots=True)
class Frame:
    track: RecordingTrack
    media_at: Micros
    samples: npt.NDArray[np.int16]


class CaptureWriter:
    """Appends frames to one recording's capture file (creating it, or resuming after a crash)."""

    def __init__(self, path: Path, rate: int) -> None:
        self.path = path
        if path.exists():
            rate, valid_end = _scan(path)
            with path.open("r+b") as file:
                file.truncate(valid_end)  # cut a torn tail before appending after it
            self._file: BinaryIO = path.open("ab")
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._file = path.open("wb")
            self._file.write(_HEADER.pack(MAGIC, rate))
        self.rate = rate

    def append(self, track: RecordingTrack, media_at: Micros, pcm: bytes) -> None:
        head = _RECORD.pack(TRACK_CODES[track], media_at, len(pcm) // 2)
        crc = zlib.crc32(pcm, zlib.crc32(head))
        self._file.write(head + _CRC.pack(crc) + pcm)

    def flush(self) -> None:
        """Hand what was written to the OS: a crash of the process no longer loses it."""
        self._file.flush()

    def close(self) -> None:
        self._file.close()


def read(path: Path) -> tuple[int, list[Frame]]:
    """The sample rate and every intact frame of a capture file, in the order written."""
    with path.open("rb") as file:
        rate = _read_header(file)
        return rate, list(_records(file))


def _read_header(file: BinaryIO) -> int:
    header = file.read(_HEADER.size)
    if len(header) < _HEADER.size:
        raise ValueError("not a capture file: too short")
    magic, rate = _HEADER.unpack(header)
    if magic != MAGIC:
        raise ValueError("not a capture file")
    return int(rate)


def _records(file: BinaryIO) -> Iterator[Frame]:
    while True:
        head = file.read(_RECORD.size + _CRC.size)
        if len(head) < _RECORD.size + _CRC.size:
            return
        code, media_at, count = _RECORD.unpack_from(head)
        (crc,) = _CRC.unpack_from(head, _RECORD.size)
        pcm = file.read(count * 2)
        if len(pcm) < count * 2 or code not in TRACKS:
            return
        if zlib.crc32(pcm, zlib.crc32(head[: _RECORD.size])) != crc:
            return
        yield Frame(TRACKS[code], media_at, np.frombuffer(pcm, dtype="<i2").astype(np.int16))


def _scan(path: Path) -> tuple[int, int]:
    """The rate and the byte offset where the intact records end."""
    with path.open("rb") as file:
        rate = _read_header(file)
        end = file.tell()
        for frame in _records(file):
            end += _RECORD.size + _CRC.size + frame.samples.size * 2
        return rate, end
