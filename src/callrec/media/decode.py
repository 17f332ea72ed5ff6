"""A <Play>'s WAV or MP3 file as the call's audio: 16-bit mono samples at 8 kHz (miniaudio
decodes and resamples), so that what is played is what a recording of the call hears."""

from __future__ import annotations

import miniaudio  # type: ignore[import-untyped]  # ships no type information
import numpy as np

from callrec.media.render import Samples

RATE = 8_000


class NotAudio(Exception):
    """Not a WAV, MP3 (or FLAC, Vorbis) file that can be decoded, or no sound in it."""


def decode(data: bytes) -> Samples:
    try:
        decoded = miniaudio.decode(
            data, output_format=miniaudio.SampleFormat.SIGNED16, nchannels=1, sample_rate=RATE
        )
    except miniaudio.MiniaudioError as error:
        raise NotAudio(str(error)) from error
    samples: Samples = np.frombuffer(decoded.samples.tobytes(), dtype=np.int16)
    if not len(samples):
        raise NotAudio("no audio in it")
    return samples
