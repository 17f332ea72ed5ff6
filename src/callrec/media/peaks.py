"""A recording's waveform for the console: min and max per column, from the rendered audio.

An hour of dual audio is 57.6 M samples; a page draws a few thousand columns of it. The peaks are
computed once (when the recording is rendered, or on first view) and kept beside the WAV as a
small JSON file, served as it is: 4,000 columns of two channels are about 70 KB.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np

from callrec.media.render import Samples

#: Columns of a waveform (at most: a shorter recording has one per sample).
COLUMNS = 4_000


@dataclass(frozen=True, slots=True)
class Peaks:
    """Per channel, the lowest and highest sample of each column, scaled to -128..127."""

    rate: int
    samples: int
    lows: list[list[int]]
    highs: list[list[int]]
    #: Samples that trim-silence cut from the front of the audio: where the timeline's time 0 is.
    lead_trimmed: int = 0

    @property
    def seconds(self) -> float:
        return self.samples / self.rate

    def to_json(self) -> bytes:
        return json.dumps(
            {
                "rate": self.rate,
                "samples": self.samples,
                "lead_trimmed": self.lead_trimmed,
                "lows": self.lows,
                "highs": self.highs,
            },
            separators=(",", ":"),
        ).encode()

    @classmethod
    def from_json(cls, data: bytes) -> Peaks:
        raw = json.loads(data)
        return cls(raw["rate"], raw["samples"], raw["lows"], raw["highs"], raw["lead_trimmed"])


def peaks(audio: Samples, rate: int, columns: int = COLUMNS, lead_trimmed: int = 0) -> Peaks:
    """Min/max of `audio` (samples by channels) over `columns` equal runs of samples.

    Column `c` covers samples [c·n/columns, (c+1)·n/columns): every sample falls in exactly one
    column, and none is empty. Scaled by a right shift (floor), so -32768 is -128 and 32767 127."""
    count, channels = audio.shape
    columns = min(columns, count)
    if columns == 0:
        empty: list[list[int]] = [[] for _ in range(channels)]
        return Peaks(rate, 0, empty, empty, lead_trimmed)
    starts = (np.arange(columns, dtype=np.int64) * count) // columns
    lows = np.minimum.reduceat(audio, starts, axis=0) >> 8
    highs = np.maximum.reduceat(audio, starts, axis=0) >> 8
    return Peaks(rate, count, lows.T.tolist(), highs.T.tolist(), lead_trimmed)
