"""What a call's flow made heard, laid over its synthetic audio (pure): a <Play>'s decoded file
where it played, silence where the far end was silent (docs/ARCHITECTURE.md, "Call flows")."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from callrec.domain.model import MICROS_PER_SECOND, AudioSpan, RecordingTrack
from callrec.media.render import Samples

#: The rate decoded files are kept at (media/decode.py).
PLAYED_RATE = 8_000


def overlay(
    samples: Samples,
    track: RecordingTrack,
    first: int,
    rate: int,
    spans: Sequence[AudioSpan],
    load: Callable[[str], Samples],
) -> Samples:
    """`samples` of `track` (from sample `first` of the media clock at `rate`) with `spans`
    laid over them; each played file loops to fill its span."""
    out = samples
    for span in spans:
        if span.track is not track:
            continue
        at = span.start * rate // MICROS_PER_SECOND
        begin = max(0, at - first)
        end = min(len(samples), span.end * rate // MICROS_PER_SECOND - first)
        if begin >= end:
            continue
        if out is samples:
            out = samples.copy()
        if span.played is None:
            out[begin:end] = 0
            continue
        played = _at_rate(load(span.played), rate)
        if len(played):
            out[begin:end] = played[(np.arange(begin, end) + first - at) % len(played)]
    return out


def _at_rate(played: Samples, rate: int) -> Samples:
    if rate == PLAYED_RATE or not len(played):
        return played
    count = len(played) * rate // PLAYED_RATE
    positions = np.arange(count) * (PLAYED_RATE / rate)
    resampled = np.interp(positions, np.arange(len(played)), played.astype(np.float64))
    converted: Samples = resampled.astype(np.int16)
    return converted
