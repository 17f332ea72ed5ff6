"""Files sealed at rest: any byte range reads back exactly; an altered, moved or foreign segment
is refused rather than read."""

from __future__ import annotations

import pytest
from cryptography.exceptions import InvalidTag
from hypothesis import given
from hypothesis import strategies as st

from callrec.media.sealed import (
    HEADER_BYTES,
    SEGMENT_BYTES,
    TAG_BYTES,
    is_sealed,
    seal,
    unseal,
    unseal_range,
)

KEY = bytes(range(32))


def _read(blob: bytes, start: int, end: int) -> bytes:
    return b"".join(unseal_range(lambda at, size: blob[at : at + size], KEY, start, end))


@given(
    st.binary(max_size=3 * SEGMENT_BYTES + 17),
    st.integers(0, 4 * SEGMENT_BYTES),
    st.integers(0, 4 * SEGMENT_BYTES),
)
def test_every_range_reads_back_exactly(data: bytes, a: int, b: int) -> None:
    blob = seal(data, KEY)
    assert is_sealed(blob)
    start, end = min(a, b), max(a, b)
    assert _read(blob, start, end) == data[start:end]
    assert unseal(blob, KEY) == data


def test_an_altered_or_reordered_file_is_refused() -> None:
    data = bytes(range(256)) * (SEGMENT_BYTES // 128)  # two segments
    blob = bytearray(seal(data, KEY))
    flipped = bytearray(blob)
    flipped[HEADER_BYTES + 5] ^= 1
    with pytest.raises(InvalidTag):
        unseal(bytes(flipped), KEY)
    size = SEGMENT_BYTES + TAG_BYTES
    first, second = blob[HEADER_BYTES : HEADER_BYTES + size], blob[HEADER_BYTES + size :]
    with pytest.raises(InvalidTag):
        unseal(bytes(blob[:HEADER_BYTES] + second + first), KEY)
    with pytest.raises(InvalidTag):
        unseal(bytes(blob), bytes(32))
