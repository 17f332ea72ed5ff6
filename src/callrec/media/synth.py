"""Synthetic audio for calls created through the REST API, which have no far end.

The audio is a pure function of (call sid, track, sample index, rate): nothing is generated or
stored while no one records, and a recording of it renders exactly like a captured one. Each
track is a different tone under a syllable-like envelope, distinct and never silent for long.
"""

from __future__ import annotations

import hashlib

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
    """`count` samples of the track from sample index `first` of the call's media clock."""
    n = np.arange(first, first + count, dtype=np.float64) / rate
    envelope = 0.55 + 0.45 * np.sin(2 * np.pi * SYLLABLES_PER_SECOND * n)
    wave = np.sin(2 * np.pi * tone_hz(call_sid, track) * n) * envelope * AMPLITUDE
    return wave.astype(np.int16)
