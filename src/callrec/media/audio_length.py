"""How long a WAV or MP3 file plays (pure; mutagen reads the headers): what a <Play> takes."""

from __future__ import annotations

import io

from mutagen import MutagenError
from mutagen.mp3 import MP3
from mutagen.wave import WAVE


class NotAudio(Exception):
    """Neither a WAV nor an MP3 file that can be read."""


def seconds_of(data: bytes) -> float:
    """The playing time of `data`, a WAV (RIFF) or else an MP3 file."""
    kind = WAVE if data[:4] == b"RIFF" else MP3
    try:
        info = kind(io.BytesIO(data)).info
    except (MutagenError, ValueError, OSError) as error:
        raise NotAudio(str(error)) from error
    seconds = float(info.length) if info is not None else 0.0
    if not seconds > 0:
        raise NotAudio("no audio in it")
    return seconds
