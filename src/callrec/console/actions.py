"""What the console changes: signing in and out, deleting a recording, replaying a callback.
Every action is a POST that carries its form's CSRF token."""

from __future__ import annotations

import hmac

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from callrec.api import forms
from callrec.api.context import Services
from callrec.console.pages import shown_recording
from callrec.console.web import (
    SESSION_COOKIE,
    SIGN_IN,
    SIGN_IN_COOKIE,
    Page,
    PageError,
    Redirect,
    checked_form,
    new_csrf,
    page,
    secure,
    viewer,
)
from callrec.domain.errors import NotFound
from callrec.service.console_sessions import SESSION_SECONDS, TooManySignIns

COOKIE_PATH = "/console"
REFUSED = "Those credentials were not accepted."


def routes(services: Services) -> list[Route]:
    async def sign_in_form(request: Request) -> Response:
        return _sign_in_page(request, services)

    async def sign_in(request: Request) -> Response:
        form = await forms.body(request)
        expected = request.cookies.get(SIGN_IN_COOKIE) or ""
        if not expected or not hmac.compare_digest(form.get("csrf") or "", expected):
            raise PageError(403, "This form has expired; load the sign-in page again.")
        if form.get("method") == "key":
            username, secret = form.get("key_sid") or "", form.get("key_secret") or ""
            account = form.get("key_account") or ""
        else:
            username, secret = form.get("account_sid") or "", form.get("auth_token") or ""
            account = username
        client = request.client.host if request.client else "unknown"
        try:
            signed_in = await services.console.sign_in(username, secret, account, client)
        except TooManySignIns as wait:
            message = "Too many failed sign-ins: wait a while, then try again."
            response = _sign_in_page(request, services, message, 429, form.get("next"))
            response.headers["Retry-After"] = str(wait.retry_after)
            return response
        if signed_in is None:
            return _sign_in_page(request, services, REFUSED, 401, form.get("next"))
        target = form.get("next") or ""
        if not target.startswith("/console/") or target.startswith("//"):
            target = f"/console/calls?account={signed_in.account_sid}"
        response = Response(status_code=303, headers={"Location": target})
        response.set_cookie(
            SESSION_COOKIE, signed_in.token, max_age=SESSION_SECONDS, path=COOKIE_PATH,
            secure=secure(services, request), httponly=True, samesite="lax",
        )  # fmt: skip
        response.delete_cookie(SIGN_IN_COOKIE, path=COOKIE_PATH)
        return response

    async def sign_out(request: Request) -> Response:
        who = await viewer(services, request)
        await checked_form(request, who.csrf)
        await services.console.sign_out(who.session)
        response = Response(status_code=303, headers={"Location": SIGN_IN})
        response.delete_cookie(SESSION_COOKIE, path=COOKIE_PATH)
        return response

    async def delete_recording(request: Request) -> Response:
        who = await viewer(services, request)
        await checked_form(request, who.csrf)
        recording = await shown_recording(services, who, request.path_params["sid"])
        await services.recordings.delete(
            recording.account_sid, recording.sid, who.session.credential_sid
        )
        raise Redirect(f"/console/calls/{recording.call_sid}?deleted={recording.sid}")

    async def replay(request: Request) -> Response:
        who = await viewer(services, request)
        await checked_form(request, who.csrf)
        recording = await shown_recording(services, who, request.path_params["sid"])
        raw_id = request.path_params["entry_id"]
        if not raw_id.isdigit():
            raise NotFound()
        await services.callbacks.replay(recording.account_sid, int(raw_id))
        raise Redirect(f"/console/recordings/{recording.sid}#callbacks")

    return [
        Route(SIGN_IN, Page(get=sign_in_form, post=sign_in)),
        Route("/console/sign-out", Page(post=sign_out)),
        Route("/console/recordings/{sid}/delete", Page(post=delete_recording)),
        Route("/console/recordings/{sid}/callbacks/{entry_id}/replay", Page(post=replay)),
    ]


def _sign_in_page(
    request: Request,
    services: Services,
    message: str | None = None,
    status: int = 200,
    next_page: str | None = None,
) -> Response:
    """The sign-in form, with a fresh CSRF token in a cookie and in the form (double submit)."""
    token = new_csrf()
    next_page = next_page if next_page is not None else forms.query(request).get("next")
    response = page(
        request, "sign_in.html", status, viewer=None, csrf=token, message=message,
        next=next_page or "",
    )  # fmt: skip
    response.set_cookie(
        SIGN_IN_COOKIE, token, max_age=3600, path=COOKIE_PATH,
        secure=secure(services, request), httponly=True, samesite="strict",
    )  # fmt: skip
    return response
