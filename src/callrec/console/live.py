"""Live pages: server-sent events that carry a page's changing part, rendered again.

Each stream reads what its page shows every LIVE_POLL_SECONDS and sends it when it changed. The
database is read, not this process's memory, so a change made by any process of a deployment
shows. A stream ends after STREAM_SECONDS and the browser's EventSource opens the next one: the
session is checked again each time. A server that begins to shut down ends them at once
(`Draining`): they would hold it for its whole grace.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from callrec.api.context import Services
from callrec.console.pages import (
    call_state,
    calls_query,
    calls_rows,
    recording_state,
    shown_call,
    shown_recording,
)
from callrec.console.web import Page, account_shown, templates, viewer
from callrec.domain.errors import NotFound
from callrec.draining import Draining
from callrec.media.peaks import Peaks
from callrec.storage.base import StorageError

LIVE_POLL_SECONDS = 0.5
STREAM_SECONDS = 60.0
KEEPALIVE_SECONDS = 15.0
#: How soon the browser reconnects once a stream ends.
RECONNECT_MS = 500

Snapshot = Callable[[], Awaitable[dict[str, Any]]]


class Gone(Exception):
    """What the page shows no longer exists (a deleted recording)."""


def event_stream(snapshot: Snapshot, draining: Draining) -> Response:
    return StreamingResponse(
        _events(snapshot, draining),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


async def _events(snapshot: Snapshot, draining: Draining) -> AsyncIterator[bytes]:
    yield f"retry: {RECONNECT_MS}\n\n".encode()
    started = last_sent = time.monotonic()
    last: bytes | None = None
    while time.monotonic() - started < STREAM_SECONDS and not draining.started:
        data: bytes | None
        try:
            data = orjson.dumps(await snapshot())
        except Gone:
            yield b'data: {"gone":true}\n\n'
            return
        except StorageError:
            data = last  # the database is away: the page keeps what it shows
        if data != last and data is not None:
            yield b"data: " + data + b"\n\n"
            last, last_sent = data, time.monotonic()
        elif time.monotonic() - last_sent > KEEPALIVE_SECONDS:
            yield b": still here\n\n"
            last_sent = time.monotonic()
        await draining.sleep(LIVE_POLL_SECONDS)


def _fragment(name: str, **context: Any) -> str:
    return templates.get_template(name).render(**context)


def routes(services: Services) -> list[Route]:
    async def calls(request: Request) -> Response:
        who = await viewer(services, request, to_page=False)
        query = calls_query(request, who)
        await account_shown(services, who, query.account_sid)

        async def snapshot() -> dict[str, Any]:
            rows = await calls_rows(services, query)
            return {"html": _fragment("_calls_rows.html", rows=rows)}

        return event_stream(snapshot, services.draining)

    async def call(request: Request) -> Response:
        who = await viewer(services, request, to_page=False)
        sid = (await shown_call(services, who, request.path_params["sid"])).sid

        async def snapshot() -> dict[str, Any]:
            state = await call_state(services, await shown_call(services, who, sid))
            return {"status": state["call"].status, "html": _fragment("_call_state.html", **state)}

        return event_stream(snapshot, services.draining)

    async def recording(request: Request) -> Response:
        who = await viewer(services, request, to_page=False)
        sid = (await shown_recording(services, who, request.path_params["sid"])).sid
        kept: dict[str, Peaks] = {}

        async def snapshot() -> dict[str, Any]:
            try:
                found = await shown_recording(services, who, sid)
            except NotFound:
                raise Gone() from None
            state = await recording_state(services, found, who, kept)
            html = _fragment("_recording_state.html", **state)
            return {"status": found.status, "html": html}

        return event_stream(snapshot, services.draining)

    return [
        Route("/console/live/calls", Page(get=calls)),
        Route("/console/live/calls/{sid}", Page(get=call)),
        Route("/console/live/recordings/{sid}", Page(get=recording)),
    ]
