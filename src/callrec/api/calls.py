"""Routes of the Calls resource: create, fetch, list, update (hang up), delete."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp

from callrec.api import forms, paging, params, render
from callrec.api.auth import authorize
from callrec.api.context import Services
from callrec.api.errors import invalid
from callrec.api.resource import Resource
from callrec.domain.model import MICROS_PER_SECOND, CallFlow, CallStatus, Trim
from callrec.service.calls import NewCall
from callrec.storage.base import CallFilter

CALLS = "/2010-04-01/Accounts/{account_sid}/Calls.json"
CALL = "/2010-04-01/Accounts/{account_sid}/Calls/{call_sid}.json"


def routes(services: Services) -> list[Route]:
    async def create(request: Request) -> ASGIApp:
        account_sid = request.path_params["account_sid"]
        await authorize(services.accounts, request, account_sid)
        form = await forms.body(request)
        to = params.required(form, "To")
        from_ = params.required(form, "From")
        params.url(form, "Url")
        if not any(form.get(name) for name in ("Url", "Twiml", "ApplicationSid")):
            raise invalid("Url", "Either Url, Twiml or ApplicationSid must be provided")
        new_call = NewCall(
            to=to,
            from_=from_,
            record=params.boolean(form, "Record"),
            recording_options=params.recording_options(form, trim_default=Trim.TRIM_SILENCE),
            flow=_flow(form),
            timeout=params.integer(form, "Timeout", 60, 1, 600) * MICROS_PER_SECOND,
            status_callback=params.call_callbacks(form),
        )
        call = await services.calls.create(account_sid, new_call)
        return render.json_response(render.call(call), 201)

    async def list_(request: Request) -> ASGIApp:
        account_sid = request.path_params["account_sid"]
        await authorize(services.accounts, request, account_sid)
        query = forms.query(request)
        page = paging.parse(query)
        start_time, start_echo = params.date_filter(query, "StartTime")
        end_time, end_echo = params.date_filter(query, "EndTime")
        where = CallFilter(
            account_sid=account_sid,
            to=query.get("To") or None,
            from_=query.get("From") or None,
            status=params.optional_choice(query, "Status", CallStatus),
            parent_call_sid=query.get("ParentCallSid") or None,
            start_time=start_time,
            end_time=end_time,
        )
        named = ("To", "From", "Status", "ParentCallSid")
        echo = [(k, v) for k in named if (v := query.get(k) or "")]
        rows = await services.calls.find(where, page.request)
        items = [render.call(call) for _, call in rows[: page.size]]
        path = request.url.path
        body = paging.envelope("calls", path, [*echo, *start_echo, *end_echo], page, rows, items)
        return render.json_response(body)

    async def fetch(request: Request) -> ASGIApp:
        account_sid = request.path_params["account_sid"]
        await authorize(services.accounts, request, account_sid)
        call = await services.calls.fetch(account_sid, request.path_params["call_sid"])
        return render.json_response(render.call(call))

    async def update(request: Request) -> ASGIApp:
        account_sid = request.path_params["account_sid"]
        await authorize(services.accounts, request, account_sid)
        form = await forms.body(request)
        target = params.optional_choice(form, "Status", CallStatus)
        redirect = _flow(form)
        if target is None and redirect is None:
            raise invalid("Status", "One of Status, Url or Twiml must be provided")
        call_sid = request.path_params["call_sid"]
        call = await services.calls.update(account_sid, call_sid, target, redirect)
        return render.json_response(render.call(call))

    async def delete(request: Request) -> ASGIApp:
        account_sid = request.path_params["account_sid"]
        await authorize(services.accounts, request, account_sid)
        await services.calls.delete(account_sid, request.path_params["call_sid"])
        return Response(status_code=204)

    forward = services.forward
    return [
        Route(CALLS, Resource(post=create, get=list_)),
        Route(CALL, Resource(forward, get=fetch, post=update, delete=delete)),
    ]


def _flow(form: forms.Form) -> CallFlow | None:
    """What the call is to run: `Url` wins over `Twiml`, as at Twilio (CONTRACT.md §12.1);
    None if neither."""
    url = params.url(form, "Url")
    twiml = form.get("Twiml") or None
    if url is None and twiml is None:
        return None
    return CallFlow(
        url=url,
        method=params.http_method(form, "Method"),
        fallback_url=params.url(form, "FallbackUrl"),
        fallback_method=params.http_method(form, "FallbackMethod"),
        twiml=None if url else twiml,
    )
