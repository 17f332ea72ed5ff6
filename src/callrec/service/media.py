"""Turning a stopped recording into its audio file: the bridge from the timeline to media/."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass

from callrec.domain.model import (
    AudioSpan,
    Call,
    EncryptionDetails,
    Recording,
    RecordingEvent,
    RecordingTrack,
)
from callrec.encryption import encrypt
from callrec.media import capture, synth
from callrec.media.capture import Captured
from callrec.media.files import MediaFiles, wav_bytes
from callrec.media.overlay import overlay
from callrec.media.peaks import peaks
from callrec.media.render import Rendered, Samples, render, timeline
from callrec.media.store import S3Store

SYNTHETIC_RATE = 8_000


@dataclass(frozen=True, slots=True)
class SealWith:
    """The public key a recording's audio is to be encrypted with (Voice Recording
    Encryption)."""

    key_sid: str
    pem: str


def render_to_disk(
    files: MediaFiles,
    recording: Recording,
    events: Sequence[RecordingEvent],
    call: Call | None,
    spans: Sequence[AudioSpan] = (),
    seal: SealWith | None = None,
) -> tuple[Rendered, EncryptionDetails | None]:
    """Render the recording from its timeline and capture file, with what the call's flow made
    heard (`spans`) over its synthetic audio; write the WAV unless absent. With `seal`, only
    the encrypted WAV is written (and no waveform: its peaks would tell of the audio)."""
    path = files.capture(recording.sid)
    if path.exists():
        key = files.capture_key(recording.sid) if capture.is_sealed(path) else None
        captured = capture.read(path, key)
    else:
        captured = Captured.empty(SYNTHETIC_RATE)
    streamed_from = call.stream_media_at if call is not None else None

    def synthetic(track: RecordingTrack, first: int, count: int, rate: int) -> Samples:
        made = synth.samples(recording.call_sid, track, first, count, rate)
        return overlay(made, track, first, rate, spans, files.load_played)

    rendered = render(timeline(events), recording.options, captured, synthetic, streamed_from)
    if rendered.absent_code is not None:
        return rendered, None
    if seal is not None:
        sealed, details = encrypt(wav_bytes(rendered.audio, rendered.rate), seal.key_sid, seal.pem)
        files.put(files.wav(recording.sid), sealed)
        return rendered, details
    files.write_wav(files.wav(recording.sid), rendered.audio, rendered.rate)
    # The console's waveform, while the audio is at hand (tens of ms for an hour).
    found = peaks(rendered.audio, rendered.rate, lead_trimmed=rendered.lead_trimmed)
    files.put(files.peaks(recording.sid), found.to_json())
    return rendered, None


async def forget(files: MediaFiles, store: S3Store | None, sid: str) -> None:
    """Delete every file of the recording: in the data directory, and in the media store."""
    files.delete(sid)
    if store is not None:
        await asyncio.to_thread(store.delete_recording, sid)


async def keep(files: MediaFiles, store: S3Store | None, sid: str) -> None:
    """A rendered recording's files to the media store, if there is one: its WAV and its
    waveform go up, and only then are the local copies dropped (the recording is `completed`
    once its media can be served)."""
    if store is None:
        return

    def upload() -> None:
        for path in (files.wav(sid), files.peaks(sid)):
            if path.exists():
                store.put(path.name, files.get(path))  # the store keeps its own at rest
                path.unlink()

    await asyncio.to_thread(upload)
