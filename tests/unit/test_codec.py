"""G.711 μ-law: decoding every code and encoding round trips."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from callrec.media.codec import ULAW_TO_PCM, ulaw_decode, ulaw_encode


def test_known_codes() -> None:
    assert ULAW_TO_PCM[0xFF] == 0
    assert ULAW_TO_PCM[0x7F] == 0
    assert ULAW_TO_PCM[0x00] == -32124
    assert ULAW_TO_PCM[0x80] == 32124


def test_every_code_survives_a_round_trip() -> None:
    codes = bytes(range(256))
    again = ulaw_encode(ulaw_decode(codes))
    for code, back in zip(codes, again, strict=True):
        assert back == code or {code, back} == {0x7F, 0xFF}  # +0 and -0


@given(arrays(np.int16, st.integers(0, 500)))
def test_pcm_round_trip_is_within_quantization(pcm: npt.NDArray[np.int16]) -> None:
    decoded = ulaw_decode(ulaw_encode(pcm)).astype(np.int32)
    original = np.clip(pcm.astype(np.int32), -32635, 32635)
    # μ-law steps grow with magnitude: the error stays under 1/16 of the value, plus a floor.
    assert np.all(np.abs(decoded - original) <= np.abs(original) // 16 + 8)
