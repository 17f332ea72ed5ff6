"""The capture file: a recording's captured audio, appended as it arrives, as it arrived.

    file   := header record*
    header := b"CRCAPv3\\0" rate:u32le block:u32le encoding:u8 pad:u8[7]
    record := track:u8 pad:u8 count:u16le check:u32le media_at:i64le data:u8[block * width]

`encoding` is μ-law (1 byte a sample, what Twilio sends: stored as is, decoded only when the
recording is rendered) or 16-bit little-endian PCM (2 bytes). `block` is the samples of one
record (20 ms), so every record has one size: the file reads back as one NumPy array, a torn
tail (a record cut short by a crash) is just the bytes past the last whole record, and the
renderer places an hour of audio with a few slice assignments. A frame longer than a block
becomes several records; `count` says how many samples of a record are real. `check` is the
Adler-32 of the record's data, computed for all records at once when reading: reading stops at
the first record that fails it, and everything before is kept. Only frames that passed the gate
(the recording was in progress) ever get here.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np
import numpy.typing as npt

from callrec.domain.model import MICROS_PER_SECOND, Micros, RecordingTrack
from callrec.media.codec import ULAW_TO_PCM
from callrec.media.encoding import Encoding

MAGIC = b"CRCAPv3\0"
_FILE_HEADER = struct.Struct("<8sIIB7x")
HEADER_BYTES = _FILE_HEADER.size
_RECORD_HEAD = struct.Struct("<BBHIq")
BLOCKS_PER_SECOND = 50  # 20 ms, Twilio's frame
TRACK_CODES = {RecordingTrack.INBOUND: 0, RecordingTrack.OUTBOUND: 1}
TRACKS = {code: track for track, code in TRACK_CODES.items()}
_ADLER = 65_521
_CHECK_CHUNK = 16_384


def _record_type(block: int, encoding: Encoding) -> np.dtype[np.void]:
    return np.dtype(
        [
            ("track", "u1"),
            ("pad", "u1"),
            ("count", "<u2"),
            ("check", "<u4"),
            ("media_at", "<i8"),
            ("data", "u1", (block * encoding.width,)),
        ]
    )


def _adler32(data: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint32]:
    """Adler-32 of each row, as zlib computes it for one; by chunks, to bound memory."""
    n = data.shape[1]
    weights = np.arange(n, 0, -1, dtype=np.int64)
    checks = np.empty(len(data), dtype=np.uint32)
    for lo in range(0, len(data), _CHECK_CHUNK):
        rows = data[lo : lo + _CHECK_CHUNK]
        a = (1 + rows.sum(axis=1, dtype=np.int64)) % _ADLER
        b = (n + rows @ weights) % _ADLER
        checks[lo : lo + _CHECK_CHUNK] = (b << 16) | a
    return checks


@dataclass(frozen=True, slots=True)
class Captured:
    """Every intact record of a capture file, decoded to 16-bit PCM (one row per record)."""

    rate: int
    track: npt.NDArray[np.uint8]
    media_at: npt.NDArray[np.int64]
    count: npt.NDArray[np.uint16]
    samples: npt.NDArray[np.int16]  # (records, block)

    @classmethod
    def empty(cls, rate: int) -> Captured:
        block = rate // BLOCKS_PER_SECOND
        return cls(
            rate,
            np.zeros(0, np.uint8),
            np.zeros(0, np.int64),
            np.zeros(0, np.uint16),
            np.zeros((0, block), np.int16),
        )

    def of(self, track: RecordingTrack) -> Captured:
        rows = self.track == TRACK_CODES[track]
        return Captured(
            self.rate, self.track[rows], self.media_at[rows], self.count[rows], self.samples[rows]
        )


class CaptureWriter:
    """Appends frames to one recording's capture file (creating it, or resuming after a crash)."""

    def __init__(self, path: Path, rate: int, encoding: Encoding) -> None:
        self.path = path
        if path.exists():
            rate, block, encoding, valid_end = _scan(path)
            with path.open("r+b") as file:
                file.truncate(valid_end)  # cut a torn tail before appending after it
            self._file: BinaryIO = path.open("ab")
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            block = rate // BLOCKS_PER_SECOND
            self._file = path.open("wb")
            self._file.write(_FILE_HEADER.pack(MAGIC, rate, block, encoding))
        self.rate, self.block, self.encoding = rate, block, encoding
        self._bytes = block * encoding.width

    def append(self, track: RecordingTrack, media_at: Micros, data: bytes) -> None:
        """Append audio in the file's encoding that begins at `media_at` on the media clock."""
        width, size = self.encoding.width, self._bytes
        code = TRACK_CODES[track]
        if len(data) == size:  # one whole frame: the hot path, kept short
            self._file.write(_RECORD_HEAD.pack(code, 0, self.block, zlib.adler32(data), media_at))
            self._file.write(data)
            return
        data = data[: len(data) // width * width]
        step = self.block * MICROS_PER_SECOND // self.rate
        for index, start in enumerate(range(0, len(data), size)):
            piece = data[start : start + size]
            if len(piece) < size:
                piece += bytes(size - len(piece))
            count = min(self.block, (len(data) - start) // width)
            head = _RECORD_HEAD.pack(code, 0, count, zlib.adler32(piece), media_at + index * step)
            self._file.write(head + piece)

    def flush(self) -> None:
        """Hand what was written to the OS: a crash of the process no longer loses it."""
        self._file.flush()

    def close(self) -> None:
        self._file.close()


def read(path: Path) -> Captured:
    """Every intact record of a capture file, in the order written, as 16-bit PCM."""
    data = path.read_bytes()
    rate, block, encoding = _parse_header(data)
    records = _records(data, block, encoding)
    raw = records["data"]
    mulaw = encoding is Encoding.MULAW
    samples = ULAW_TO_PCM[raw] if mulaw else raw.view("<i2").astype(np.int16)
    return Captured(rate, records["track"], records["media_at"], records["count"], samples)


def _parse_header(data: bytes) -> tuple[int, int, Encoding]:
    if len(data) < HEADER_BYTES:
        raise ValueError("not a capture file: too short")
    magic, rate, block, encoding = _FILE_HEADER.unpack_from(data)
    if magic != MAGIC or rate <= 0 or block <= 0 or encoding not in (1, 2):
        raise ValueError("not a capture file")
    return int(rate), int(block), Encoding(encoding)


def _records(data: bytes, block: int, encoding: Encoding) -> npt.NDArray[np.void]:
    kind = _record_type(block, encoding)
    whole = (len(data) - HEADER_BYTES) // kind.itemsize
    records = np.frombuffer(data, dtype=kind, count=whole, offset=HEADER_BYTES)
    bad = np.flatnonzero(
        (_adler32(records["data"]) != records["check"])
        | (records["count"] > block)
        | (records["track"] > 1)
    )
    return records[: bad[0]] if bad.size else records


def _scan(path: Path) -> tuple[int, int, Encoding, int]:
    """The header's fields, and the byte offset where the intact records end."""
    data = path.read_bytes()
    rate, block, encoding = _parse_header(data)
    intact = len(_records(data, block, encoding))
    return rate, block, encoding, HEADER_BYTES + intact * _record_type(block, encoding).itemsize
