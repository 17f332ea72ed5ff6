"""A <Play>'s file decoded into the call's audio, and laid over its synthetic audio."""

from __future__ import annotations

import io
import wave

import lameenc  # type: ignore[import-not-found]  # ships no type information
import numpy as np
import pytest

from callrec.domain.model import MICROS_PER_SECOND, AudioSpan, RecordingTrack
from callrec.media.decode import NotAudio, decode
from callrec.media.overlay import overlay

RATE = 8_000


def _tone(seconds: float, rate: int = RATE) -> bytes:
    samples = np.arange(int(seconds * rate)) / rate
    return (np.sin(2 * np.pi * 440 * samples) * 8_000).astype(np.int16).tobytes()


def tone_wav(seconds: float, rate: int = RATE) -> bytes:
    """A 440 Hz tone as a 16-bit mono WAV."""
    out = io.BytesIO()
    with wave.open(out, "wb") as audio:
        audio.setnchannels(1)
        audio.setsampwidth(2)
        audio.setframerate(rate)
        audio.writeframes(_tone(seconds, rate))
    return out.getvalue()


def tone_mp3(seconds: float) -> bytes:
    encoder = lameenc.Encoder()
    encoder.set_bit_rate(32)
    encoder.set_in_sample_rate(RATE)
    encoder.set_channels(1)
    return bytes(encoder.encode(_tone(seconds)) + encoder.flush())


def test_a_wav_is_decoded_at_8_khz_whatever_its_rate() -> None:
    assert len(decode(tone_wav(2.5))) == 20_000
    assert len(decode(tone_wav(1.0, rate=16_000))) == 8_000


def test_an_mp3_decodes_to_about_what_was_encoded() -> None:
    assert len(decode(tone_mp3(2.5))) / RATE == pytest.approx(2.5, abs=0.2)  # a frame of padding


@pytest.mark.parametrize("data", [b"", b"RIFF1234WAVE", b"<html>not found</html>", tone_wav(0)])
def test_what_is_not_audio_is_refused(data: bytes) -> None:
    with pytest.raises(NotAudio):
        decode(data)


def _span(track: RecordingTrack, start: float, end: float, played: str | None) -> AudioSpan:
    at = MICROS_PER_SECOND
    return AudioSpan("CA1", track, round(start * at), round(end * at), played)


def test_spans_are_laid_over_their_track_only() -> None:
    base = np.full(4 * RATE, 7, dtype=np.int16)  # four seconds, from second 10 of the call
    played = np.arange(RATE // 2, dtype=np.int16)  # half a second, looped to fill its span
    spans = [
        _span(RecordingTrack.OUTBOUND, 11.0, 12.5, "tone"),
        _span(RecordingTrack.INBOUND, 12.0, 13.0, None),
        _span(RecordingTrack.OUTBOUND, 20.0, 21.0, None),  # after this stretch
    ]
    out = overlay(base, RecordingTrack.OUTBOUND, 10 * RATE, RATE, spans, lambda name: played)
    assert (out[:RATE] == 7).all()
    assert (out[RATE : RATE + RATE // 2] == played).all()
    assert (out[2 * RATE : 2 * RATE + RATE // 2] == played).all()  # looped
    assert (out[RATE * 5 // 2 :] == 7).all()
    silent = overlay(base, RecordingTrack.INBOUND, 10 * RATE, RATE, spans, lambda name: played)
    assert (silent[2 * RATE : 3 * RATE] == 0).all()
    assert (silent[: 2 * RATE] == 7).all()
    assert (base == 7).all()  # the input is left alone
