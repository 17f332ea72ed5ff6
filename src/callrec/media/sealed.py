"""A file sealed at rest (`--encrypt-at-rest`): AES-256-GCM in segments, so that any byte range
of a long recording can be read back without decrypting the rest.

    file    := magic length:u64le segment:u32le prefix:u8[8] sealed-segment*
    sealed  := ciphertext(segment bytes, the last one shorter) tag:u8[16]

Segment `i`'s nonce is `prefix` then `i` (u32, big-endian); its associated data is the header
and `i`, so segments can be neither moved, dropped nor taken from another file. `prefix` is
random for each file, and each file has its own key (MediaFiles.file_key).
"""

from __future__ import annotations

import os
import struct
from collections.abc import Callable, Iterator

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

MAGIC = b"CRSEAL1\0"
_HEADER = struct.Struct("<8sQI8s")
HEADER_BYTES = _HEADER.size
SEGMENT_BYTES = 64 * 1024
TAG_BYTES = 16


def is_sealed(head: bytes) -> bool:
    return head[: len(MAGIC)] == MAGIC


def seal(data: bytes, key: bytes) -> bytes:
    header = _HEADER.pack(MAGIC, len(data), SEGMENT_BYTES, os.urandom(8))
    cipher, parts = AESGCM(key), [header]
    for index, start in enumerate(range(0, len(data), SEGMENT_BYTES)):
        nonce, aad = _nonce_and_aad(header, index)
        parts.append(cipher.encrypt(nonce, data[start : start + SEGMENT_BYTES], aad))
    return b"".join(parts)


def plain_length(header: bytes) -> int:
    _, length, _, _ = _HEADER.unpack_from(header)
    return int(length)


def unseal(sealed: bytes, key: bytes) -> bytes:
    """The whole file (cryptography.exceptions.InvalidTag if it was altered)."""
    length = plain_length(sealed)
    return b"".join(unseal_range(lambda at, size: sealed[at : at + size], key, 0, length))


def unseal_range(
    read_at: Callable[[int, int], bytes], key: bytes, start: int, end: int
) -> Iterator[bytes]:
    """Plaintext bytes [start, end) of a sealed file, read with `read_at(offset, size)`, one
    segment at a time."""
    header = read_at(0, HEADER_BYTES)
    magic, length, segment, _ = _HEADER.unpack_from(header)
    if magic != MAGIC:
        raise ValueError("not a sealed file")
    cipher, end = AESGCM(key), min(end, length)
    index = start // segment
    while index * segment < end:
        offset = HEADER_BYTES + index * (segment + TAG_BYTES)
        size = min(segment, length - index * segment)
        nonce, aad = _nonce_and_aad(header, index)
        plain = cipher.decrypt(nonce, read_at(offset, size + TAG_BYTES), aad)
        first = index * segment
        yield plain[max(0, start - first) : end - first]
        index += 1


def _nonce_and_aad(header: bytes, index: int) -> tuple[bytes, bytes]:
    prefix = header[-8:]
    return prefix + struct.pack(">I", index), header + struct.pack("<I", index)
