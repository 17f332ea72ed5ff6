"""Routes of the call Recordings and account Recordings resources, UpdateCallRecording first."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp

from callrec.api import forms, paging, params, render
from callrec.api.auth import authorize
from callrec.api.context import Services
from callrec.api.errors import invalid, not_found
from callrec.api.resource import Resource
from callrec.domain.model import PauseBehavior, RecordingStatus, Trim
from callrec.ids import RECORDING_SID, is_sid
from callrec.service.recordings import CURRENT
from callrec.storage.base import RecordingFilter

CALL_RECORDINGS = "/2010-04-01/Accounts/{account_sid}/Calls/{call_sid}/Recordings.json"
CALL_RECORDING = "/2010-04-01/Accounts/{account_sid}/Calls/{call_sid}/Recordings/{sid}.json"
RECORDINGS = "/2010-04-01/Accounts/{account_sid}/Recordings.json"
RECORDING = "/2010-04-01/Accounts/{account_sid}/Recordings/{sid}.json"


def _recording_sid(request: Request) -> str:
    """The `RE…` sid in the path; anything else names nothing (`Twilio.CURRENT` included)."""
    sid: str = request.path_params["sid"]
    if not is_sid(RECORDING_SID, sid):
        raise not_found(request.url.path)
    return sid


def routes(services: Services) -> list[Route]:
    async def create(request: Request) -> ASGIApp:
        account_sid = request.path_params["account_sid"]
        principal = await authorize(services.accounts, request, account_sid)
        form = await forms.body(request)
        options = params.recording_options(form, trim_default=Trim.DO_NOT_TRIM)
        recording = await services.recordings.start(
            account_sid, request.path_params["call_sid"], options, principal.credential_sid
        )
        return render.json_response(render.call_recording(recording), 201)

    async def update(request: Request) -> ASGIApp:
        account_sid = request.path_params["account_sid"]
        principal = await authorize(services.accounts, request, account_sid)
        form = await forms.body(request)
        status = params.optional_choice(form, "Status", RecordingStatus)
        if status is None:
            raise invalid("Status", "Required parameter Status missing")
        behavior = params.choice(form, "PauseBehavior", PauseBehavior, PauseBehavior.SILENCE)
        sid = request.path_params["sid"]
        if sid != CURRENT:
            sid = _recording_sid(request)
        recording = await services.recordings.update(
            account_sid,
            request.path_params["call_sid"],
            sid,
            status,
            behavior,
            principal.credential_sid,
        )
        return render.json_response(render.call_recording(recording))

    async def fetch_of_call(request: Request) -> ASGIApp:
        account_sid = request.path_params["account_sid"]
        await authorize(services.accounts, request, account_sid)
        recording = await services.recordings.fetch(
            account_sid, _recording_sid(request), call_sid=request.path_params["call_sid"]
        )
        return render.json_response(render.call_recording(recording))

    async def list_of_call(request: Request) -> ASGIApp:
        account_sid = request.path_params["account_sid"]
        await authorize(services.accounts, request, account_sid)
        query = forms.query(request)
        page = paging.parse(query)
        created, echo = params.date_filter(query, "DateCreated")
        where = RecordingFilter(
            account_sid, call_sid=request.path_params["call_sid"], date_created=created
        )
        rows = await services.recordings.list_of_call(where, page.request)
        items = [render.call_recording(recording) for _, recording in rows[: page.size]]
        body = paging.envelope("recordings", request.url.path, echo, page, rows, items)
        return render.json_response(body)

    async def delete_of_call(request: Request) -> ASGIApp:
        account_sid = request.path_params["account_sid"]
        principal = await authorize(services.accounts, request, account_sid)
        await services.recordings.delete(
            account_sid,
            _recording_sid(request),
            principal.credential_sid,
            call_sid=request.path_params["call_sid"],
        )
        return Response(status_code=204)

    async def fetch(request: Request) -> ASGIApp:
        account_sid = request.path_params["account_sid"]
        await authorize(services.accounts, request, account_sid)
        include_deleted = params.boolean(forms.query(request), "IncludeSoftDeleted")
        recording = await services.recordings.fetch(
            account_sid, _recording_sid(request), include_deleted=include_deleted
        )
        return render.json_response(render.account_recording(recording, services.base_url(request)))

    async def list_(request: Request) -> ASGIApp:
        account_sid = request.path_params["account_sid"]
        await authorize(services.accounts, request, account_sid)
        query = forms.query(request)
        page = paging.parse(query)
        created, echo = params.date_filter(query, "DateCreated")
        include_deleted = params.boolean(query, "IncludeSoftDeleted")
        call_sid = query.get("CallSid") or None
        conference_sid = query.get("ConferenceSid") or None
        for name in ("CallSid", "ConferenceSid", "IncludeSoftDeleted"):
            if value := query.get(name):
                echo.append((name, value))
        if conference_sid is not None:
            rows = []  # callrec records no conferences
        else:
            where = RecordingFilter(account_sid, call_sid, created, include_deleted)
            rows = await services.recordings.find(where, page.request)
        base_url = services.base_url(request)
        items = [render.account_recording(r, base_url) for _, r in rows[: page.size]]
        body = paging.envelope("recordings", request.url.path, echo, page, rows, items)
        return render.json_response(body)

    async def delete(request: Request) -> ASGIApp:
        account_sid = request.path_params["account_sid"]
        principal = await authorize(services.accounts, request, account_sid)
        await services.recordings.delete(
            account_sid, _recording_sid(request), principal.credential_sid
        )
        return Response(status_code=204)

    forward = services.forward
    return [
        # UpdateCallRecording's path first: the router tries routes in order.
        Route(
            CALL_RECORDING,
            Resource(forward, post=update, get=fetch_of_call, delete=delete_of_call),
        ),
        Route(CALL_RECORDINGS, Resource(forward, post=create, get=list_of_call)),
        Route(RECORDINGS, Resource(get=list_)),
        Route(RECORDING, Resource(get=fetch, delete=delete)),
    ]
