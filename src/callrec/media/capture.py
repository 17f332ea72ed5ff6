"""The capture file: a recording's captured audio, appended as it arrives.

    file   := header record*
    header := b"CRCAPv2\\0" rate:u32le block:u32le          (block = samples per record, 20 ms)
    record := track:u8 pad:u8 count:u16le check:u32le media_at:i64le samples:i16le[block]

Records have one fixed size, so the file reads back as one NumPy array, a torn tail (a record
cut short by a crash) is simply the bytes past the last whole record, and the renderer places an
hour of audio with a few vectorized assignments. A frame longer than a block becomes several
records; `count` says how many samples of a record are real. `check` (the samples' sum with the
other fields, mod 2**32) catches a record that was torn in the middle: reading stops there and
everything before is kept. Only frames that passed the gate (recording in progress) get here.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np
import numpy.typing as npt

from callrec.domain.model import MICROS_PER_SECOND, Micros, RecordingTrack

MAGIC = b"CRCAPv2\0"
_HEAD = struct.Struct("<BBHIq")
HEADER_BYTES = 16
BLOCKS_PER_SECOND = 50  # 20 ms, Twilio's frame
TRACK_CODES = {RecordingTrack.INBOUND: 0, RecordingTrack.OUTBOUND: 1}
TRACKS = {code: track for track, code in TRACK_CODES.items()}


def _record_type(block: int) -> np.dtype[np.void]:
    return np.dtype(
        [
            ("track", "u1"),
            ("pad", "u1"),
            ("count", "<u2"),
            ("check", "<u4"),
            ("media_at", "<i8"),
            ("samples", "<i2", (block,)),
        ]
    )


def _check(records: npt.NDArray[np.void]) -> npt.NDArray[np.uint32]:
    total = records["samples"].sum(axis=1, dtype=np.int64)
    total += records["media_at"]
    total += records["count"].astype(np.int64) * 65_537
    total += records["track"].astype(np.int64) * 257
    check: npt.NDArray[np.uint32] = (total & 0xFFFFFFFF).astype(np.uint32)
    return check


@dataclass(frozen=True, slots=True)
class Captured:
    """Every intact record of a capture file, as arrays (one row per record)."""

    rate: int
    track: npt.NDArray[np.uint8]
    media_at: npt.NDArray[np.int64]
    count: npt.NDArray[np.uint16]
    samples: npt.NDArray[np.int16]  # (records, block)

    @classmethod
    def empty(cls, rate: int) -> Captured:
        return cls(
            rate,
            np.zeros(0, np.uint8),
            np.zeros(0, np.int64),
            np.zeros(0, np.uint16),
            np.zeros((0, rate // BLOCKS_PER_SECOND), np.int16),
        )

    def of(self, track: RecordingTrack) -> Captured:
        rows = self.track == TRACK_CODES[track]
        return Captured(
            self.rate, self.track[rows], self.media_at[rows], self.count[rows], self.samples[rows]
        )


class CaptureWriter:
    """Appends frames to one recording's capture file (creating it, or resuming after a crash)."""

    def __init__(self, path: Path, rate: int) -> None:
        self.path = path
        if path.exists():
            rate, block, valid_end = _scan(path)
            with path.open("r+b") as file:
                file.truncate(valid_end)  # cut a torn tail before appending after it
            self._file: BinaryIO = path.open("ab")
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            block = rate // BLOCKS_PER_SECOND
            self._file = path.open("wb")
            self._file.write(_header(rate, block))
        self.rate, self.block = rate, block
        self._type = _record_type(block)

    def append(self, track: RecordingTrack, media_at: Micros, pcm: bytes) -> None:
        """Append 16-bit PCM that begins at `media_at` on the call's media clock."""
        samples = np.frombuffer(pcm[: len(pcm) // 2 * 2], dtype="<i2")
        if samples.size == 0:
            return
        if samples.size <= self.block:  # one frame, one record: the hot path, kept short
            code = TRACK_CODES[track]
            check = int(samples.sum(dtype=np.int64)) + media_at + samples.size * 65_537 + code * 257
            head = _HEAD.pack(code, 0, samples.size, check & 0xFFFFFFFF, media_at)
            padding = bytes(2 * (self.block - samples.size))
            self._file.write(head + samples.tobytes() + padding)
            return
        count = -(-samples.size // self.block)
        records = np.zeros(count, dtype=self._type)
        records["track"] = TRACK_CODES[track]
        records["media_at"] = (
            media_at + np.arange(count) * self.block * MICROS_PER_SECOND // self.rate
        )
        records["count"] = np.minimum(self.block, samples.size - np.arange(count) * self.block)
        padded = np.zeros(count * self.block, dtype=np.int16)
        padded[: samples.size] = samples
        records["samples"] = padded.reshape(count, self.block)
        records["check"] = _check(records)
        self._file.write(records.tobytes())

    def flush(self) -> None:
        """Hand what was written to the OS: a crash of the process no longer loses it."""
        self._file.flush()

    def close(self) -> None:
        self._file.close()


def read(path: Path) -> Captured:
    """Every intact record of a capture file, in the order written."""
    data = path.read_bytes()
    rate, block = _parse_header(data)
    records = _records(data, block)
    return Captured(
        rate, records["track"], records["media_at"], records["count"], records["samples"]
    )


def _header(rate: int, block: int) -> bytes:
    return MAGIC + rate.to_bytes(4, "little") + block.to_bytes(4, "little")


def _parse_header(data: bytes) -> tuple[int, int]:
    if len(data) < HEADER_BYTES or data[:8] != MAGIC:
        raise ValueError("not a capture file")
    rate, block = int.from_bytes(data[8:12], "little"), int.from_bytes(data[12:16], "little")
    if rate <= 0 or block <= 0:
        raise ValueError("not a capture file: bad header")
    return rate, block


def _records(data: bytes, block: int) -> npt.NDArray[np.void]:
    kind = _record_type(block)
    whole = (len(data) - HEADER_BYTES) // kind.itemsize
    records = np.frombuffer(data, dtype=kind, count=whole, offset=HEADER_BYTES)
    bad = np.flatnonzero(
        (_check(records) != records["check"]) | (records["count"] > block) | (records["track"] > 1)
    )
    return records[: bad[0]] if bad.size else records


def _scan(path: Path) -> tuple[int, int, int]:
    """The rate, the block, and the byte offset where the intact records end."""
    data = path.read_bytes()
    rate, block = _parse_header(data)
    return rate, block, HEADER_BYTES + len(_records(data, block)) * _record_type(block).itemsize
