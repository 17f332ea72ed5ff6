"""callrec's extension for an app's tests: the far end of a call, scripted (docs/COMPATIBILITY.md,
"The far end"). A caller places an inbound call to one of the account's numbers; during a live
call it presses keys, falls silent, hangs up — each carried out by the process that runs the
call's flow. Each answers the call as the Calls resource shows it."""

from __future__ import annotations

import math

from starlette.requests import Request
from starlette.routing import Route
from starlette.types import ASGIApp

from callrec.api import forms, params, render
from callrec.api.auth import authorize
from callrec.api.context import Services
from callrec.api.errors import invalid
from callrec.api.resource import Resource

INCOMING = "/_callrec/Accounts/{account_sid}/IncomingCalls.json"
CALL = "/_callrec/Accounts/{account_sid}/Calls/{call_sid}"
DIGITS = CALL + "/Digits.json"
SILENCE = CALL + "/Silence.json"
HANGUP = CALL + "/Hangup.json"
KEYS = frozenset("0123456789*#")
MAX_DIGITS = 64
MAX_SILENCE_SECONDS = 14_400  # Twilio's longest call, four hours


def routes(services: Services) -> list[Route]:
    async def call_in(request: Request) -> ASGIApp:
        account_sid = request.path_params["account_sid"]
        await authorize(services.accounts, request, account_sid)
        form = await forms.body(request)
        from_ = params.required(form, "From")
        number = await services.numbers.called(account_sid, params.required(form, "To"))
        call = await services.calls.receive(number, from_)
        return render.json_response(render.call(call), 201)

    async def press(request: Request) -> ASGIApp:
        account_sid, call_sid = await _authorized(services, request)
        form = await forms.body(request)
        digits = params.required(form, "Digits")
        if len(digits) > MAX_DIGITS or not set(digits) <= KEYS:
            raise invalid("Digits", f"Digits must be up to {MAX_DIGITS} of 0-9, * and #")
        call = await services.flows.press(account_sid, call_sid, digits)
        return render.json_response(render.call(call))

    async def fall_silent(request: Request) -> ASGIApp:
        account_sid, call_sid = await _authorized(services, request)
        form = await forms.body(request)
        text = params.required(form, "Seconds")
        try:
            seconds = float(text)
        except ValueError:
            seconds = math.nan
        if not 0 < seconds <= MAX_SILENCE_SECONDS:
            raise invalid(
                "Seconds", f"Seconds must be a number of seconds up to {MAX_SILENCE_SECONDS}"
            )
        call = await services.flows.fall_silent(account_sid, call_sid, seconds)
        return render.json_response(render.call(call))

    async def hang_up(request: Request) -> ASGIApp:
        account_sid, call_sid = await _authorized(services, request)
        await forms.body(request)
        call = await services.flows.hang_up(account_sid, call_sid)
        return render.json_response(render.call(call))

    forward = services.forward
    return [
        Route(INCOMING, Resource(post=call_in)),
        Route(DIGITS, Resource(forward, post=press)),
        Route(SILENCE, Resource(forward, post=fall_silent)),
        Route(HANGUP, Resource(forward, post=hang_up)),
    ]


async def _authorized(services: Services, request: Request) -> tuple[str, str]:
    account_sid = request.path_params["account_sid"]
    await authorize(services.accounts, request, account_sid)
    return account_sid, request.path_params["call_sid"]
