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

A sealed capture file (a recording whose account encrypts its recordings: no plaintext audio
rests on disk) has the magic `CRCAPs1\0`, and each record's data is AES-256-GCM ciphertext under
the recording's own key (derived from the server's secret, MediaFiles.capture_key), between its
12-byte nonce (a random prefix for each writer of the file, then a counter) and the 16-byte
tag; `check` covers the ciphertext, so torn tails are found as in a plain file, and the tag
proves each record when it is read. (With `--encrypt-at-rest`, every capture file is sealed.)
"""

from __future__ import annotations

import os
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np
import numpy.typing as npt
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from callrec.domain.model import MICROS_PER_SECOND, Micros, RecordingTrack
from callrec.media.codec import ULAW_TO_PCM
from callrec.media.encoding import Audio, Encoding

MAGIC = b"CRCAPv3\0"
SEALED_MAGIC = b"CRCAPs1\0"
NONCE_BYTES, TAG_BYTES = 12, 16
_FILE_HEADER = struct.Struct("<8sIIB7x")
HEADER_BYTES = _FILE_HEADER.size
_RECORD_HEAD = struct.Struct("<BBHIq")
_HEAD_BYTES = _RECORD_HEAD.size
_pack_head_into, _adler32_of = _RECORD_HEAD.pack_into, zlib.adler32
BLOCKS_PER_SECOND = 50  # 20 ms, Twilio's frame
TRACK_CODES = {RecordingTrack.INBOUND: 0, RecordingTrack.OUTBOUND: 1}
TRACKS = {code: track for track, code in TRACK_CODES.items()}
_ADLER = 65_521
_CHECK_CHUNK = 16_384
#: Records a writer's buffer holds for each track it is told to expect: a flush interval's (half
#: a second, 25 frames) and room for a late flusher. ~11 KB a track for 8 kHz PCM, ~6 for μ-law.
BUFFERED_RECORDS_A_TRACK = 32


def _record_type(block: int, encoding: Encoding, sealed: bool = False) -> np.dtype[np.void]:
    fields: list[tuple[str, str] | tuple[str, str, tuple[int]]] = [
        ("track", "u1"),
        ("pad", "u1"),
        ("count", "<u2"),
        ("check", "<u4"),
        ("media_at", "<i8"),
    ]
    size = block * encoding.width
    if sealed:
        fields += [("nonce", "u1", (NONCE_BYTES,)), ("data", "u1", (size + TAG_BYTES,))]
    else:
        fields.append(("data", "u1", (size,)))
    return np.dtype(fields)


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
    """Appends frames to one recording's capture file (creating it, or resuming after a crash);
    with `key`, a sealed one (an existing file stays as it was begun).

    Records wait in a buffer of fixed size, made with the writer and never grown or freed:
    buffers grown by each frame and freed at each flush left the heap full of holes after 2,000
    streams opened at once (docs/BENCHMARKS.md, "Memory kept after 2,000 streams open at once").
    It holds a flush interval's records of the `tracks` the stream sends, and then some; a
    flusher late enough to let it fill (or more tracks than told) has it written as the next
    record comes."""

    # Read for every frame, thousands of writers apart in memory: slots, not an instance dict.
    __slots__ = (
        "_buffer",
        "_bytes",
        "_cipher",
        "_file",
        "_filled",
        "_nonce_prefix",
        "_record_bytes",
        "_sealed_records",
        "_written",
        "block",
        "encoding",
        "path",
        "rate",
    )

    def __init__(
        self, path: Path, rate: int, encoding: Encoding, key: bytes | None = None, tracks: int = 2
    ) -> None:
        self.path = path
        if path.exists():
            rate, block, encoding, sealed, valid_end = _scan(path)
            if sealed and key is None:
                raise ValueError(f"{path} is sealed: its key is needed to append to it")
            with path.open("r+b") as file:
                file.truncate(valid_end)  # cut a torn tail before appending after it
            header = b""
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            block, sealed, valid_end = rate // BLOCKS_PER_SECOND, key is not None, 0
            magic = SEALED_MAGIC if sealed else MAGIC
            header = _FILE_HEADER.pack(magic, rate, block, encoding)
        # Appended to, always: a write the OS refused part of is cut off by truncating alone.
        self._file: BinaryIO = path.open("ab", buffering=0)
        self._written = valid_end  # the file's length: whole records, and the header
        self.rate, self.block, self.encoding = rate, block, encoding
        self._bytes = block * encoding.width
        self._record_bytes = _record_type(block, encoding, sealed).itemsize
        # A view, written through: a bytearray's own slice assignment copies a view it is
        # given into a new bytearray first (136 against 62 ns a frame, measured).
        records = BUFFERED_RECORDS_A_TRACK * tracks
        self._buffer = memoryview(bytearray(HEADER_BYTES + records * self._record_bytes))
        self._buffer[: len(header)] = header
        self._filled = len(header)
        self._cipher = AESGCM(key) if sealed and key is not None else None
        # Nonces: a random prefix for this writer, then a counter. A system call for random
        # bytes on every frame cost more than the encryption (measured: 0.43 against 0.50 us).
        self._nonce_prefix, self._sealed_records = os.urandom(8), 0

    def append(self, track: RecordingTrack, media_at: Micros, data: Audio) -> None:
        """Append audio in the file's encoding that begins at `media_at` on the media clock
        (copied: `data` may be a view of a buffer that is reused once this returns)."""
        code = TRACK_CODES[track]
        if self._cipher is not None:
            self._append_sealed(code, media_at, data)
            return
        if len(data) == self._bytes:  # one whole frame: the hot path, kept short
            at = self._filled
            end = at + self._record_bytes
            if end > len(self._buffer):
                self.flush()
                at, end = 0, self._record_bytes
            buffer = self._buffer
            _pack_head_into(buffer, at, code, 0, self.block, _adler32_of(data), media_at)
            buffer[at + _HEAD_BYTES : end] = data
            self._filled = end
            return
        for count, piece, at_ in self._pieces(media_at, data):
            at = self._claim()
            _pack_head_into(self._buffer, at, code, 0, count, zlib.adler32(piece), at_)
            self._buffer[at + _HEAD_BYTES : self._filled] = piece

    def _append_sealed(self, code: int, media_at: Micros, data: Audio) -> None:
        if len(data) == self._bytes:  # one whole frame: the hot path, kept short
            self._put_sealed(code, self.block, data, media_at)
            return
        for count, piece, at_ in self._pieces(media_at, data):
            self._put_sealed(code, count, piece, at_)

    def _put_sealed(self, code: int, count: int, data: Audio, media_at: Micros) -> None:
        assert self._cipher is not None
        nonce = self._next_nonce()
        sealed = self._cipher.encrypt(nonce, data, None)
        at = self._claim()
        buffer, data_at = self._buffer, at + _HEAD_BYTES + NONCE_BYTES
        _pack_head_into(buffer, at, code, 0, count, _adler32_of(sealed), media_at)
        buffer[at + _HEAD_BYTES : data_at] = nonce
        buffer[data_at : self._filled] = sealed

    def _pieces(self, media_at: Micros, data: Audio) -> list[tuple[int, bytes, Micros]]:
        """A frame that is not one block long, as whole blocks (the last padded with silence's
        zero bytes): each one's real samples, its bytes and where it begins."""
        width, size = self.encoding.width, self._bytes
        data = data[: len(data) // width * width]
        step = self.block * MICROS_PER_SECOND // self.rate
        return [
            (
                min(self.block, (len(data) - start) // width),
                bytes(data[start : start + size]).ljust(size, b"\0"),
                media_at + index * step,
            )
            for index, start in enumerate(range(0, len(data), size))
        ]

    def _claim(self) -> int:
        """Where the next record goes in the buffer (flushed first, if full)."""
        if self._filled + self._record_bytes > len(self._buffer):
            self.flush()
        at = self._filled
        self._filled = at + self._record_bytes
        return at

    def _next_nonce(self) -> bytes:
        self._sealed_records += 1
        return self._nonce_prefix + self._sealed_records.to_bytes(4, "big")

    def flush(self) -> None:
        """Hand what was appended to the OS in one write: a crash of the process no longer
        loses it. (A write a frame cost more than the frame's other work, at thousands of
        streams; docs/BENCHMARKS.md.) Raises OSError when the OS refuses the write (a full
        disk): the file is cut back to its whole records, and what was appended stays here, to
        be written by the next flush; a full buffer then takes no more."""
        if not self._filled:
            return
        written, pending = 0, self._buffer[: self._filled]
        try:
            while written < len(pending):  # unbuffered: a write may take less than all
                written += self._file.write(pending[written:]) or 0
        except OSError:
            if written:
                self._file.truncate(self._written)  # no record torn in the middle of the file
            raise
        self._written += written
        self._filled = 0

    def close(self) -> None:
        """Flush, and close the file even if the OS refuses the flush (OSError, raised)."""
        try:
            self.flush()
        finally:
            self._file.close()


def is_sealed(path: Path) -> bool:
    with path.open("rb") as file:
        return file.read(len(SEALED_MAGIC)) == SEALED_MAGIC


def read(path: Path, key: bytes | None = None) -> Captured:
    """Every intact record of a capture file, in the order written, as 16-bit PCM (a sealed
    file's records decrypted with `key`; one whose tag fails ends the reading, as a torn tail)."""
    data = path.read_bytes()
    rate, block, encoding, sealed = _parse_header(data)
    records = _records(data, block, encoding, sealed)
    raw = records["data"]
    if sealed:
        if key is None:
            raise ValueError(f"{path} is sealed: its key is needed to read it")
        raw, records = _opened(records, AESGCM(key))
    mulaw = encoding is Encoding.MULAW
    samples = ULAW_TO_PCM[raw] if mulaw else raw.view("<i2").astype(np.int16)
    return Captured(rate, records["track"], records["media_at"], records["count"], samples)


def _opened(
    records: npt.NDArray[np.void], cipher: AESGCM
) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.void]]:
    """The records' plaintext data, up to the first whose tag fails."""
    plain = []
    for nonce, sealed in zip(records["nonce"], records["data"], strict=True):
        try:
            plain.append(cipher.decrypt(nonce.tobytes(), sealed.tobytes(), None))
        except InvalidTag:
            break
    size = records["data"].shape[1] - TAG_BYTES
    raw = np.frombuffer(b"".join(plain), dtype=np.uint8).reshape(-1, size)
    return raw, records[: len(plain)]


def _parse_header(data: bytes) -> tuple[int, int, Encoding, bool]:
    if len(data) < HEADER_BYTES:
        raise ValueError("not a capture file: too short")
    magic, rate, block, encoding = _FILE_HEADER.unpack_from(data)
    if magic not in (MAGIC, SEALED_MAGIC) or rate <= 0 or block <= 0 or encoding not in (1, 2):
        raise ValueError("not a capture file")
    return int(rate), int(block), Encoding(encoding), magic == SEALED_MAGIC


def _records(
    data: bytes, block: int, encoding: Encoding, sealed: bool = False
) -> npt.NDArray[np.void]:
    kind = _record_type(block, encoding, sealed)
    whole = (len(data) - HEADER_BYTES) // kind.itemsize
    records = np.frombuffer(data, dtype=kind, count=whole, offset=HEADER_BYTES)
    bad = np.flatnonzero(
        (_adler32(records["data"]) != records["check"])
        | (records["count"] > block)
        | (records["track"] > 1)
    )
    return records[: bad[0]] if bad.size else records


def _scan(path: Path) -> tuple[int, int, Encoding, bool, int]:
    """The header's fields, and the byte offset where the intact records end."""
    data = path.read_bytes()
    rate, block, encoding, sealed = _parse_header(data)
    intact = len(_records(data, block, encoding, sealed))
    size = _record_type(block, encoding, sealed).itemsize
    return rate, block, encoding, sealed, HEADER_BYTES + intact * size
