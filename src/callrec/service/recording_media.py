"""A completed recording's files as they are asked for: WAV or MP3, as recorded or downmixed to
mono, and the console's waveform. Each is made on first request, in a thread, once for all who
ask at the same time, and kept."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from functools import partial
from pathlib import Path

from callrec.domain.errors import EncryptedMedia, NotFound
from callrec.domain.model import Recording, RecordingStatus
from callrec.media.files import MediaFiles, read_wav, write_mono_wav, write_mp3
from callrec.media.peaks import Peaks, peaks, write_peaks
from callrec.service.recordings import RecordingService

EXTENSIONS = ("wav", "mp3")


class RecordingMedia:
    def __init__(self, recordings: RecordingService, files: MediaFiles) -> None:
        self._recordings = recordings
        self._files = files
        self._making: dict[Path, asyncio.Future[None]] = {}

    async def file(self, recording: Recording, extension: str, mono: bool) -> Path:
        """The recording's audio file (NotFound unless completed, and still there)."""
        if recording.status is not RecordingStatus.COMPLETED or extension not in EXTENSIONS:
            raise NotFound()
        if recording.encryption is not None and (extension != "wav" or mono):
            raise EncryptedMedia()  # only its owner can decrypt it, to make anything else
        path = self._files.variant(recording.sid, extension, mono)
        if not path.exists():
            make = partial(self._make, recording.sid, mono, extension)
            await self._made_once(recording.sid, path, make)
        return path

    async def waveform(self, recording: Recording) -> Peaks:
        """The console's peaks of the recording (media/peaks.py), made from its WAV if the
        render did not (a recording rendered before peaks were kept; its trim is unknown)."""
        if recording.status is not RecordingStatus.COMPLETED or recording.encryption is not None:
            raise NotFound()  # an encrypted recording has none: they would tell of its audio
        path = self._files.peaks(recording.sid)
        if not path.exists():
            await self._made_once(recording.sid, path, partial(self._make_peaks, recording.sid))
        return Peaks.from_json(path.read_bytes())

    async def _made_once(self, sid: str, path: Path, make: Callable[[], None]) -> None:
        """Make the file in a thread, once for all who ask at the same time; then make sure a
        DELETE that landed meanwhile left none of the recording's audio behind."""
        pending = self._making.get(path)
        if pending is None:
            pending = self._making[path] = asyncio.get_running_loop().run_in_executor(None, make)
            pending.add_done_callback(lambda _: self._making.pop(path, None))
        missing: FileNotFoundError | None = None
        try:
            await asyncio.shield(pending)  # a client that leaves does not stop it for the others
        except FileNotFoundError as error:
            missing = error  # its WAV went: deleted meanwhile, or a real fault
        if not await self._exists(sid):
            self._files.delete(sid)
            raise NotFound()
        if missing is not None:
            raise missing

    async def _exists(self, sid: str) -> bool:
        try:
            account_sid = await self._recordings.account_of(sid)
            await self._recordings.fetch(account_sid, sid)
        except NotFound:
            return False
        return True

    def _make(self, sid: str, mono: bool, extension: str) -> None:
        wav = self._files.wav(sid)
        if mono:
            write_mono_wav(wav, self._files.variant(sid, "wav", True))
            wav = self._files.variant(sid, "wav", True)
        if extension == "mp3":
            write_mp3(wav, self._files.variant(sid, "mp3", mono))

    def _make_peaks(self, sid: str) -> None:
        audio, rate = read_wav(self._files.wav(sid))
        write_peaks(self._files.peaks(sid), peaks(audio, rate))
