"""The console's pages: calls, a call, a recording (its waveform, audio, timeline, callbacks).

A call's or a recording's page is found by its sid alone (a link people can share), then shown
only to whoever may see its account, exactly as the REST API would: anyone else gets a 404.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from callrec.api import forms
from callrec.api.context import Services
from callrec.api.media import MEDIA_TYPES, answer_media
from callrec.console import views
from callrec.console.web import (
    Page,
    PageError,
    Redirect,
    Viewer,
    account_shown,
    page,
    viewer,
)
from callrec.domain.errors import NotFound
from callrec.domain.model import MICROS_PER_SECOND, Call, CallStatus, Recording
from callrec.ids import CALL_SID, RECORDING_SID, is_sid
from callrec.media.peaks import Peaks
from callrec.storage.base import CallFilter, PageRequest, RecordingFilter, TimeRange

CALLS_PER_PAGE = 50
RECORDINGS_PER_CALL = 100
DAY_MICROS = 86_400 * MICROS_PER_SECOND


@dataclass(frozen=True, slots=True)
class CallsQuery:
    """The calls page's filters, as its form and its live updates carry them."""

    account_sid: str
    status: CallStatus | None = None
    day: date | None = None
    sid: str | None = None
    page: int = 0

    def params(self) -> dict[str, str]:
        found = {"account": self.account_sid, "status": self.status or "", "sid": self.sid or ""}
        found["date"] = self.day.isoformat() if self.day else ""
        return {name: value for name, value in found.items() if value}


def calls_query(request: Request, viewer: Viewer) -> CallsQuery:
    query = forms.query(request)
    status = query.get("status") or None
    if status is not None and status not in set(CallStatus):
        raise PageError(400, f"'{status}' is not a call status.")
    day: date | None = None
    if raw_day := query.get("date"):
        try:
            day = date.fromisoformat(raw_day)
        except ValueError:
            raise PageError(400, f"'{raw_day}' is not a date (YYYY-MM-DD).") from None
    raw_page = query.get("page") or "0"
    if not raw_page.isdigit() or int(raw_page) > 10_000:
        raise PageError(400, "That page number is not valid.")
    account = query.get("account") or viewer.session.account_sid
    sid = (query.get("sid") or "").strip() or None
    return CallsQuery(account, CallStatus(status) if status else None, day, sid, int(raw_page))


async def calls_rows(services: Services, query: CallsQuery) -> list[dict[str, Any]]:
    """The calls the query finds, newest first, as the table shows them."""
    found: list[Call]
    if query.sid is not None:
        try:
            found = [await services.calls.fetch(query.account_sid, query.sid)]
        except NotFound:
            found = []
    else:
        where = CallFilter(query.account_sid, status=query.status, start_time=_day(query.day))
        window = PageRequest(CALLS_PER_PAGE, query.page * CALLS_PER_PAGE)
        rows = await services.calls.find(where, window)
        found = [call for _, call in rows[:CALLS_PER_PAGE]]
    counts = await services.calls.recording_counts([call.sid for call in found])
    now = services.clock()
    return [
        {"call": c, "duration": views.call_duration(c, now), "recordings": counts.get(c.sid, 0)}
        for c in found
    ]


def _day(day: date | None) -> TimeRange:
    """Calls started on that day (UTC)."""
    if day is None:
        return TimeRange()
    first = int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp()) * MICROS_PER_SECOND
    return TimeRange(first, first + DAY_MICROS)


async def shown_call(services: Services, viewer: Viewer, sid: str) -> Call:
    if not is_sid(CALL_SID, sid):
        raise NotFound()
    account_sid = await account_shown(services, viewer, await services.calls.account_of(sid))
    return await services.calls.fetch(account_sid, sid)


async def shown_recording(services: Services, viewer: Viewer, sid: str) -> Recording:
    if not is_sid(RECORDING_SID, sid):
        raise NotFound()
    account_sid = await services.recordings.account_of(sid)
    return await services.recordings.fetch(await account_shown(services, viewer, account_sid), sid)


async def call_state(services: Services, call: Call) -> dict[str, Any]:
    """What a call's page shows of it, and updates while it lives."""
    where = RecordingFilter(call.account_sid, call_sid=call.sid)
    rows = await services.recordings.list_of_call(where, PageRequest(RECORDINGS_PER_CALL))
    return {
        "call": call,
        "duration": views.call_duration(call, services.clock()),
        "recordings": [recording for _, recording in rows[:RECORDINGS_PER_CALL]],
    }


async def recording_state(
    services: Services, recording: Recording, viewer: Viewer, kept: dict[str, Peaks] | None = None
) -> dict[str, Any]:
    """What a recording's page shows of it, and updates while it changes. `kept`: waveforms
    already read (a live page asks twice a second; a waveform never changes)."""
    events = await services.recordings.events(recording.account_sid, recording.sid)
    waveform = kept.get(recording.sid) if kept is not None else None
    if waveform is None and recording.status.is_final and recording.duration is not None:
        try:
            waveform = await services.recording_media.waveform(recording)
        except (NotFound, FileNotFoundError):
            waveform = None  # absent, or its audio has gone
        if waveform is not None and kept is not None:
            kept[recording.sid] = waveform
    callbacks = await services.recordings.callbacks(recording.account_sid, recording.sid)
    return {
        "view": views.recording_view(recording, events, services.clock(), waveform),
        "waveform": waveform,
        "callbacks": [views.callback_view(entry) for entry in callbacks],
        "csrf": viewer.csrf,
    }


def routes(services: Services) -> list[Route]:
    async def home(request: Request) -> Response:
        await viewer(services, request)
        raise Redirect("/console/calls")

    async def calls(request: Request) -> Response:
        who = await viewer(services, request)
        query = calls_query(request, who)
        await account_shown(services, who, query.account_sid)
        return page(
            request,
            "calls.html",
            viewer=who,
            query=query,
            rows=await calls_rows(services, query),
            accounts=await services.accounts.family(who.session.account_sid),
            statuses=list(CallStatus),
            per_page=CALLS_PER_PAGE,
        )

    async def call(request: Request) -> Response:
        who = await viewer(services, request)
        found = await shown_call(services, who, request.path_params["sid"])
        state = await call_state(services, found)
        deleted = forms.query(request).get("deleted")
        return page(request, "call.html", viewer=who, deleted=deleted, **state)

    async def recording(request: Request) -> Response:
        who = await viewer(services, request)
        found = await shown_recording(services, who, request.path_params["sid"])
        state = await recording_state(services, found, who)
        names = views.channel_names(found.options)
        return page(request, "recording.html", viewer=who, channel_names=names, **state)

    async def peaks(request: Request) -> Response:
        who = await viewer(services, request, to_page=False)
        found = await shown_recording(services, who, request.path_params["sid"])
        waveform = await services.recording_media.waveform(found)
        return Response(waveform.to_json(), media_type="application/json", headers=_PRIVATE)

    async def audio(request: Request) -> Response:
        who = await viewer(services, request, to_page=False)
        found = await shown_recording(services, who, request.path_params["sid"])
        extension = request.path_params["extension"]
        if extension not in MEDIA_TYPES:
            raise NotFound()
        located = await services.recording_media.file(found, extension, mono=False)
        headers = dict(_PRIVATE)
        if "download" in forms.query(request):
            headers["Content-Disposition"] = f'attachment; filename="{found.sid}.{extension}"'
        # Proxied: the page's player may play only what comes from the console's own origin.
        answer = await answer_media(
            services, request, located, MEDIA_TYPES[extension], headers, redirect=False
        )
        assert isinstance(answer, Response)
        return answer

    return [
        Route("/console", Page(get=home)),
        Route("/console/", Page(get=home)),
        Route("/console/calls", Page(get=calls)),
        Route("/console/calls/{sid}", Page(get=call)),
        Route("/console/recordings/{sid}", Page(get=recording)),
        Route("/console/recordings/{sid}/peaks.json", Page(get=peaks)),
        Route("/console/recordings/{sid}/audio.{extension}", Page(get=audio)),
    ]


#: Audio and waveforms are the account's: kept by no shared cache.
_PRIVATE = {"Cache-Control": "private, no-store"}
