"""Recording media (CONTRACT.md §7): `…/Recordings/{RE}` or `{RE}.wav` as WAV, `{RE}.mp3` as MP3,
with `RequestedChannels`, HTTP Range and a correct Content-Length (Starlette's FileResponse)."""

from __future__ import annotations

import asyncio
import os
import re
from collections.abc import Iterator
from pathlib import Path

from starlette.concurrency import iterate_in_threadpool
from starlette.requests import Request
from starlette.responses import FileResponse, RedirectResponse, Response, StreamingResponse
from starlette.routing import Route
from starlette.types import ASGIApp

from callrec.api import forms
from callrec.api.auth import authorize
from callrec.api.context import Services
from callrec.api.errors import ApiError, invalid, not_found
from callrec.api.resource import Resource
from callrec.domain.model import RecordingStatus
from callrec.media import sealed
from callrec.media.files import MediaFiles
from callrec.media.sealed import plain_length, unseal_range
from callrec.service.recording_media import Stored

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
        located = await services.recording_media.file(recording, extension, mono)
        return await answer_media(services, request, located, MEDIA_TYPES[extension])

    return [Route(MEDIA, Resource(get=download))]


async def answer_media(
    services: Services,
    request: Request,
    located: Path | Stored,
    media_type: str,
    headers: dict[str, str] | None = None,
    redirect: bool = True,
) -> ASGIApp:
    """A file of a recording: from the data directory (Range honoured); from the media store,
    a redirect to a short-lived signed URL, as Twilio answers (`--media-urls redirect`), or
    its bytes passed through (`proxy`, and always with `redirect` False)."""
    if isinstance(located, Path):
        if services.files.is_sealed(located):  # --encrypt-at-rest: unsealed as it is sent
            return _unsealed(services.files, located, media_type, headers, request)
        return FileResponse(located, media_type=media_type, headers=headers)
    store = services.media_store
    assert store is not None
    if redirect and services.media_urls == "redirect":
        url = await asyncio.to_thread(store.signed_url, located.name, media_type)
        return RedirectResponse(url, 302, headers=headers)
    byte_range = request.headers.get("range")
    fetched = await asyncio.to_thread(store.fetch, located.name, byte_range)
    if fetched is None:
        raise not_found(request.url.path)
    answer_headers = {**(headers or {}), "Accept-Ranges": "bytes"}
    answer_headers["Content-Length"] = str(fetched.length)
    if fetched.content_range:
        answer_headers["Content-Range"] = fetched.content_range
    status = 206 if fetched.content_range else 200
    chunks = iterate_in_threadpool(fetched.chunks)
    return StreamingResponse(chunks, status, answer_headers, media_type=media_type)


def _unsealed(
    files: MediaFiles,
    path: Path,
    media_type: str,
    headers: dict[str, str] | None,
    request: Request,
) -> ASGIApp:
    """A file sealed at rest, decrypted segment by segment as it is sent; one HTTP range is
    honoured as FileResponse honours it for a plain file."""
    key = files.file_key(path)
    with path.open("rb") as file:
        length = plain_length(file.read(sealed.HEADER_BYTES))
    start, end, status = 0, length, 200
    answer_headers = {**(headers or {}), "Accept-Ranges": "bytes"}
    asked = _single_range(request.headers.get("range"), length)
    if asked == "unsatisfiable":
        return Response(status_code=416, headers={"Content-Range": f"bytes */{length}"})
    if isinstance(asked, tuple):
        (start, end), status = asked, 206
        answer_headers["Content-Range"] = f"bytes {start}-{end - 1}/{length}"
    answer_headers["Content-Length"] = str(end - start)

    def chunks() -> Iterator[bytes]:
        with path.open("rb") as file:
            descriptor = file.fileno()
            yield from unseal_range(
                lambda at, size: os.pread(descriptor, size, at), key, start, end
            )

    body = iterate_in_threadpool(chunks())
    return StreamingResponse(body, status, answer_headers, media_type=media_type)


def _single_range(header: str | None, length: int) -> tuple[int, int] | str | None:
    """[start, end) of a one-range `Range: bytes=…` header; None to send it all (no header,
    or one this does not serve: several ranges), "unsatisfiable" past the end."""
    match = re.fullmatch(r"bytes=(\d*)-(\d*)", (header or "").strip())
    if match is None or match.group(1) == match.group(2) == "":
        return None
    first, last = match.group(1), match.group(2)
    if first == "":
        start, end = max(0, length - int(last)), length
    else:
        start, end = int(first), min(length, int(last) + 1) if last else length
    if start >= length or start >= end:
        return "unsatisfiable"
    return start, end
