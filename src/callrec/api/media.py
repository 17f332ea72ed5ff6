"""Recording media (CONTRACT.md §7): `…/Recordings/{RE}` or `{RE}.wav` as WAV, `{RE}.mp3` as MP3,
with `RequestedChannels`, HTTP Range and a correct Content-Length (Starlette's FileResponse)."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from functools import partial
from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse
from starlette.routing import Route
from starlette.types import ASGIApp

from callrec.api import forms
from callrec.api.auth import authorize
from callrec.api.context import Services
from callrec.api.errors import ApiError, invalid, not_found
from callrec.api.resource import Resource
from callrec.domain.errors import NotFound
from callrec.domain.model import RecordingStatus
from callrec.media.files import write_mono_wav, write_mp3

MEDIA = "/2010-04-01/Accounts/{account_sid}/Recordings/{name}"
_NAME = re.compile(r"(RE[0-9a-f]{32})(?:\.(wav|mp3))?")
MEDIA_TYPES = {"wav": "audio/x-wav", "mp3": "audio/mpeg"}


def routes(services: Services) -> list[Route]:
    files = services.files
    # Files being made now: concurrent first requests of one file wait for the same making.
    making: dict[Path, asyncio.Future[None]] = {}

    async def download(request: Request) -> ASGIApp:
        account_sid = request.path_params["account_sid"]
        if not services.public_media:
            await authorize(services.accounts, request, account_sid)
        match = _NAME.fullmatch(request.path_params["name"])
        if match is None:
            raise not_found(request.url.path)
        sid, extension = match.group(1), match.group(2) or "wav"
        recording = await services.recordings.fetch(account_sid, sid)
        if recording.status is not RecordingStatus.COMPLETED:
            raise not_found(request.url.path)
        channels = forms.query(request).get("RequestedChannels")
        if channels not in (None, "", "1", "2"):
            raise invalid("RequestedChannels", "RequestedChannels must be 1 or 2")
        recorded = recording.options.channel_count
        if channels == "2" and recorded == 1:
            raise ApiError(400, 16113, "Dual-channel media was asked of a mono recording")
        mono = channels == "1" and recorded == 2
        path = files.variant(sid, extension, mono)
        if not path.exists():
            missing: FileNotFoundError | None = None
            try:
                await made(path, partial(_make, sid, mono, extension))
            except FileNotFoundError as error:
                missing = error  # its WAV went: deleted meanwhile, or a real fault
            # A DELETE may have landed while the file was made: none of its audio may outlive it.
            if not await _exists(account_sid, sid):
                files.delete(sid)
                raise not_found(request.url.path)
            if missing is not None:
                raise missing
        return FileResponse(path, media_type=MEDIA_TYPES[extension])

    async def made(path: Path, make: Callable[[], None]) -> None:
        """Make the file in a thread, once for all who ask at the same time."""
        pending = making.get(path)
        if pending is None:
            pending = making[path] = asyncio.get_running_loop().run_in_executor(None, make)
            pending.add_done_callback(lambda _: making.pop(path, None))
        await asyncio.shield(pending)  # a client that leaves does not stop it for the others

    async def _exists(account_sid: str, sid: str) -> bool:
        try:
            await services.recordings.fetch(account_sid, sid)
        except NotFound:
            return False
        return True

    def _make(sid: str, mono: bool, extension: str) -> None:
        wav = files.wav(sid)
        if mono:
            write_mono_wav(wav, files.variant(sid, "wav", True))
            wav = files.variant(sid, "wav", True)
        if extension == "mp3":
            write_mp3(wav, files.variant(sid, "mp3", mono))

    return [Route(MEDIA, Resource(get=download))]
