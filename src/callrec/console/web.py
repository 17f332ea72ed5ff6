"""What every console page shares: who is signed in, CSRF, the templates, and failures answered
as pages (not Twilio's JSON: a person reads them)."""

from __future__ import annotations

import hmac
import logging
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from starlette.requests import ClientDisconnect, Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from callrec.api import forms
from callrec.api.context import Services
from callrec.api.errors import ApiError
from callrec.console import views
from callrec.domain.errors import DomainError, NotFound
from callrec.service.accounts import Principal
from callrec.storage.base import ConsoleSession, StorageError

#: The session cookie: an opaque token, its hash the key of a `console_sessions` row.
SESSION_COOKIE = "callrec_session"
#: The sign-in form's CSRF token, before there is a session (double submit: cookie and field).
SIGN_IN_COOKIE = "callrec_sign_in"
SIGN_IN = "/console/sign-in"
#: Pages show what the REST API would, and nothing from elsewhere: no inline script or style, no
#: framing, no referrer beyond the origin.
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data:; media-src 'self'; object-src 'none';"
        " base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
}
log = logging.getLogger(__name__)

templates = Environment(
    loader=PackageLoader("callrec.console"),
    autoescape=select_autoescape(),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
templates.filters.update(
    when=views.when,
    clock=views.clock,
    seconds=views.seconds,
    seconds_shown=views.seconds_shown,
    sid_short=views.sid_short,
)


class Redirect(Exception):
    def __init__(self, location: str) -> None:
        super().__init__(location)
        self.location = location


class PageError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True, slots=True)
class Viewer:
    """The person signed in: their session and the credential it was opened with."""

    session: ConsoleSession

    @property
    def principal(self) -> Principal:
        return Principal(self.session.credential_sid, self.session.account_sid)

    @property
    def csrf(self) -> str:
        return self.session.csrf_token


Handler = Callable[[Request], Awaitable[Response]]


class Page:
    """One console path, its handlers by method; every failure answered as a page."""

    def __init__(self, **handlers: Handler) -> None:
        self._handlers = {method.upper(): handler for method, handler in handlers.items()}
        if "GET" in self._handlers:
            self._handlers["HEAD"] = self._handlers["GET"]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        response: ASGIApp
        try:
            handler = self._handlers.get(scope["method"])
            if handler is None:
                raise PageError(405, f"{scope['method']} is not allowed here.")
            response = await handler(request)
        except Redirect as redirect:
            response = RedirectResponse(redirect.location, 303)
        except PageError as error:
            response = error_page(request, error.status, error.message)
        except ApiError as error:
            response = error_page(request, error.status, error.message)
        except NotFound:
            response = error_page(request, 404, "There is nothing here, or not for you.")
        except DomainError as error:
            response = error_page(request, 409, str(error) or "That cannot be done now.")
        except StorageError:
            response = error_page(request, 503, "The database is not answering; try again.")
        except ClientDisconnect:
            return
        except Exception:
            log.exception("unhandled error in console %s %s", scope["method"], scope["path"])
            response = error_page(request, 500, "Something went wrong on our side.")
        if isinstance(response, Response):
            response.headers.update(SECURITY_HEADERS)
        await response(scope, receive, send)


def page(request: Request, template: str, code: int = 200, **context: Any) -> HTMLResponse:
    body = templates.get_template(template).render(request=request, **context)
    response = HTMLResponse(body, code)
    response.headers["Cache-Control"] = "no-store"  # what a page shows is not to be kept
    return response


def error_page(request: Request, status: int, message: str) -> HTMLResponse:
    return page(request, "error.html", status, status=status, message=message, viewer=None)


async def viewer(services: Services, request: Request, *, to_page: bool = True) -> Viewer:
    """Who is signed in. Nobody: a page sends them to sign in (and back), anything else 401."""
    token = request.cookies.get(SESSION_COOKIE)
    session = await services.console.session(token) if token else None
    if session is None:
        if not to_page:
            raise PageError(401, "Sign in first.")
        here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise Redirect(f"{SIGN_IN}?next={quote(here, safe='')}")
    return Viewer(session)


async def checked_form(request: Request, expected: str) -> forms.Form:
    """The POSTed form, if it carries the CSRF token `expected` (403 otherwise)."""
    form = await forms.body(request)
    if not hmac.compare_digest(form.get("csrf") or "", expected):
        raise PageError(403, "This form has expired or did not come from this console.")
    return form


async def account_shown(services: Services, viewer: Viewer, account_sid: str) -> str:
    """`account_sid`, if the viewer may see it (as the REST API would let them); else 404."""
    if not await services.accounts.may_act_on(viewer.principal, account_sid):
        raise NotFound()
    return account_sid


def secure(services: Services, request: Request) -> bool:
    """Whether cookies must be Secure: the console is reached over HTTPS."""
    return request.url.scheme == "https" or (services.public_url or "").startswith("https:")


def new_csrf() -> str:
    return secrets.token_urlsafe(32)
