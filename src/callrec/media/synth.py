"""Synthetic audio for calls created through the REST API, which have no far end.

The audio is a pure function of (call sid, track, sample index, rate): nothing is generated or
stored while no one records, and a recording of it renders exactly like a captured one. Each
track is a different tone under a syllable-like envelope, distinct and never silent for long.
"""

from __future__ import annotations

import hashlib
from functools import lru_cache

import numpy as np
import numpy.typing as npt

from callrec.domain.model import RecordingTrack

AMPLITUDE = 8_000  # about -12 dBFS
SYLLABLES_PER_SECOND = 3.0
Track = RecordingTrack


def tone_hz(call_sid: str, track: Track) -> float:
    """The track's tone: inbound 200 to 399 Hz, outbound 500 to 699 Hz, chosen by the call sid."""
    digest = hashlib.blake2b(call_sid.encode(), digest_size=4).digest()
    if track is RecordingTrack.INBOUND:
        return 200.0 + digest[0] % 200
    return 500.0 + digest[1] % 200


def samples(
    call_sid: str, track: Track, first: int, count: int, rate: int
) -> npt.NDArray[np.int16]:
    """`count` samples of the track from sample index `first` of the call's media clock.

    Whole-hertz tone and envelope repeat every second, so an hour is one second, tiled."""
    second = _one_second(tone_hz(call_sid, track), rate)
    start = first % rate
    reps = -(-(start + count) // rate)
    return np.tile(second, reps)[start : start + count]


@lru_cache(maxsize=64)
def _one_second(hz: float, rate: int) -> npt.NDArray[np.int16]:
    n = np.arange(rate, dtype=np.float64) / rate
    envelope = 0.55 + 0.45 * np.sin(2 * np.pi * SYLLABLES_PER_SECOND * n)
    wave = np.sin(2 * np.pi * hz * n) * envelope * AMPLITUDE
    return wave.astype(np.int16)
