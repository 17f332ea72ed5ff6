"""Recording media (CONTRACT.md §7): `…/Recordings/{RE}` or `{RE}.wav` as WAV, `{RE}.mp3` as MP3,
with `RequestedChannels`, HTTP Range and a correct Content-Length (Starlette's FileResponse)."""

from __future__ import annotations

import re

from starlette.requests import Request
from starlette.responses import FileResponse
from starlette.routing import Route
from starlette.types import ASGIApp

from callrec.api import forms
from callrec.api.auth import authorize
from callrec.api.context import Services
from callrec.api.errors import ApiError, invalid, not_found
from callrec.api.resource import Resource
from callrec.domain.model import RecordingStatus

MEDIA = "/2010-04-01/Accounts/{account_sid}/Recordings/{name}"
_NAME = re.compile(r"(RE[0-9a-f]{32})(?:\.(wav|mp3))?")
MEDIA_TYPES = {"wav": "audio/x-wav", "mp3": "audio/mpeg"}


def routes(services: Services) -> list[Route]:
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
        if mono and recording.encryption is not None:
            raise ApiError(400, 400, "The recording is encrypted: only its channels as recorded")
        path = await services.recording_media.file(recording, extension, mono)
        return FileResponse(path, media_type=MEDIA_TYPES[extension])

    return [Route(MEDIA, Resource(get=download))]
