"""How long a <Play>'s file plays, read from its WAV or MP3 headers."""

from __future__ import annotations

import io
import wave

import lameenc  # type: ignore[import-not-found]  # ships no type information
import numpy as np
import pytest

from callrec.media.audio_length import NotAudio, seconds_of

RATE = 8_000


def _tone(seconds: float) -> bytes:
    samples = np.arange(int(seconds * RATE)) / RATE
    return (np.sin(2 * np.pi * 440 * samples) * 8_000).astype(np.int16).tobytes()


def tone_wav(seconds: float) -> bytes:
    out = io.BytesIO()
    with wave.open(out, "wb") as audio:
        audio.setnchannels(1)
        audio.setsampwidth(2)
        audio.setframerate(RATE)
        audio.writeframes(_tone(seconds))
    return out.getvalue()


def tone_mp3(seconds: float) -> bytes:
    encoder = lameenc.Encoder()
    encoder.set_bit_rate(32)
    encoder.set_in_sample_rate(RATE)
    encoder.set_channels(1)
    return bytes(encoder.encode(_tone(seconds)) + encoder.flush())


def test_a_wav_plays_as_long_as_its_samples() -> None:
    assert seconds_of(tone_wav(2.5)) == pytest.approx(2.5)


def test_an_mp3_plays_about_as_long_as_what_was_encoded() -> None:
    assert seconds_of(tone_mp3(2.5)) == pytest.approx(2.5, abs=0.2)  # the encoder pads a frame


@pytest.mark.parametrize("data", [b"", b"RIFF1234WAVE", b"<html>not found</html>", tone_wav(0)])
def test_what_is_not_audio_is_refused(data: bytes) -> None:
    with pytest.raises(NotAudio):
        seconds_of(data)
