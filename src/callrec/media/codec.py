"""G.711 μ-law, the encoding of Twilio Media Streams, to and from 16-bit linear PCM."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from callrec.media.encoding import Audio, Encoding

_BIAS = 0x84
_CLIP = 32_635


def _decode_table() -> npt.NDArray[np.int16]:
    codes = ~np.arange(256, dtype=np.int32) & 0xFF
    sign = codes & 0x80
    exponent = (codes >> 4) & 0x07
    mantissa = codes & 0x0F
    magnitude = (((mantissa << 3) + _BIAS) << exponent) - _BIAS
    return np.where(sign != 0, -magnitude, magnitude).astype(np.int16)


ULAW_TO_PCM = _decode_table()


def ulaw_decode(data: Audio) -> npt.NDArray[np.int16]:
    return ULAW_TO_PCM[np.frombuffer(data, dtype=np.uint8)]


def ulaw_encode(pcm: npt.NDArray[np.int16]) -> bytes:
    """Linear PCM to μ-law (ITU-T G.711), vectorized."""
    x = pcm.astype(np.int32)
    sign = np.where(x < 0, 0x80, 0x00)
    magnitude = np.minimum(np.abs(x), _CLIP) + _BIAS
    exponent = np.floor(np.log2(magnitude)).astype(np.int32) - 7
    exponent = np.clip(exponent, 0, 7)
    mantissa = (magnitude >> (exponent + 3)) & 0x0F
    code = ~(sign | (exponent << 4) | mantissa) & 0xFF
    encoded: bytes = code.astype(np.uint8).tobytes()
    return encoded


def transcode(data: Audio, source: Encoding, target: Encoding) -> bytes:
    """Audio from one capture encoding to another (μ-law and 16-bit little-endian PCM)."""
    if source is target:
        return bytes(data)
    if source is Encoding.MULAW:
        return ulaw_decode(data).astype("<i2").tobytes()
    return ulaw_encode(np.frombuffer(data[: len(data) // 2 * 2], dtype="<i2").astype(np.int16))
