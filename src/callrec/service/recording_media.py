"""A completed recording's files as they are asked for: WAV or MP3, as recorded or downmixed to
mono, and the console's waveform. Each is made on first request, in a thread, once for all who
ask at the same time, and kept: in the data directory, or in the media store (S3), where a form
is made from the WAV fetched into a directory of its own, stored, and the local copies dropped."""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from callrec.domain.errors import EncryptedMedia, NotFound
from callrec.domain.model import Recording, RecordingStatus
from callrec.media.files import MediaFiles, write_mono_wav, write_mp3
from callrec.media.peaks import Peaks, peaks
from callrec.media.store import S3Store
from callrec.service.media import forget
from callrec.service.recordings import RecordingService

EXTENSIONS = ("wav", "mp3")


@dataclass(frozen=True, slots=True)
class Stored:
    """A file in the media store, by its name there."""

    name: str


class RecordingMedia:
    def __init__(
        self, recordings: RecordingService, files: MediaFiles, store: S3Store | None = None
    ) -> None:
        self._recordings = recordings
        self._files = files
        self._store = store
        self._making: dict[Path, asyncio.Future[None]] = {}

    async def file(self, recording: Recording, extension: str, mono: bool) -> Path | Stored:
        """The recording's audio file (NotFound unless completed, and still there)."""
        if recording.status is not RecordingStatus.COMPLETED or extension not in EXTENSIONS:
            raise NotFound()
        if recording.encryption is not None and (extension != "wav" or mono):
            raise EncryptedMedia()  # only its owner can decrypt it, to make anything else
        path = self._files.variant(recording.sid, extension, mono)
        store = self._store
        if store is None:
            if not path.exists():
                make = partial(_make, self._files, recording.sid, mono, extension)
                await self._made_once(recording, path, make)
            return path
        if not await asyncio.to_thread(store.exists, path.name):
            make = partial(self._make_stored, store, recording.sid, mono, extension)
            await self._made_once(recording, path, make)
        return Stored(path.name)

    async def waveform(self, recording: Recording) -> Peaks:
        """The console's peaks of the recording (media/peaks.py), made from its WAV if the
        render did not (a recording rendered before peaks were kept; its trim is unknown)."""
        if recording.status is not RecordingStatus.COMPLETED or recording.encryption is not None:
            raise NotFound()  # an encrypted recording has none: they would tell of its audio
        path = self._files.peaks(recording.sid)
        store = self._store
        if store is None:
            if not path.exists():
                make = partial(_make_peaks, self._files, recording.sid)
                await self._made_once(recording, path, make)
            return Peaks.from_json(self._files.get(path))
        data = await asyncio.to_thread(store.read, path.name)
        if data is None:
            make = partial(self._make_stored_peaks, store, recording.sid)
            await self._made_once(recording, path, make)
            data = await asyncio.to_thread(store.read, path.name)
            if data is None:
                raise NotFound()
        return Peaks.from_json(data)

    async def _made_once(self, recording: Recording, path: Path, make: Callable[[], None]) -> None:
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
        sid = recording.sid
        if not await self._exists(recording.account_sid, sid):
            await forget(self._files, self._store, sid)
            raise NotFound()
        if missing is not None:
            raise missing

    async def _exists(self, account_sid: str, sid: str) -> bool:
        try:
            await self._recordings.fetch(account_sid, sid)
        except NotFound:
            return False
        return True

    def _make_stored(self, store: S3Store, sid: str, mono: bool, extension: str) -> None:
        """Make a form of the stored WAV, in a directory of its own, and store it."""
        with tempfile.TemporaryDirectory(dir=self._files.root) as folder:
            local = self._fetched(store, Path(folder), sid)
            _make(local, sid, mono, extension)
            made = local.variant(sid, extension, mono)
            store.put(made.name, local.get(made))

    def _make_stored_peaks(self, store: S3Store, sid: str) -> None:
        with tempfile.TemporaryDirectory(dir=self._files.root) as folder:
            local = self._fetched(store, Path(folder), sid)
            _make_peaks(local, sid)
            store.put(local.peaks(sid).name, local.get(local.peaks(sid)))

    def _fetched(self, store: S3Store, folder: Path, sid: str) -> MediaFiles:
        """The stored WAV, in `folder` under the data directory's rules (sealed at rest)."""
        local = self._files.beside(folder)
        data = store.read(local.wav(sid).name)
        if data is None:
            raise FileNotFoundError(sid)
        local.put(local.wav(sid), data)
        return local


def _make(files: MediaFiles, sid: str, mono: bool, extension: str) -> None:
    wav = files.wav(sid)
    if mono:
        write_mono_wav(files, wav, files.variant(sid, "wav", True))
        wav = files.variant(sid, "wav", True)
    if extension == "mp3":
        write_mp3(files, wav, files.variant(sid, "mp3", mono))


def _make_peaks(files: MediaFiles, sid: str) -> None:
    audio, rate = files.read_wav(files.wav(sid))
    files.put(files.peaks(sid), peaks(audio, rate).to_json())
