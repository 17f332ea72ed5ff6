"""One path, its handlers by method, and every failure answered in Twilio's shape.

Each route is a `Resource`: a plain ASGI app that Starlette's router calls directly. Dispatching
by method here (rather than one Starlette route per method) gives a Twilio 405 for free, and
catching errors here (rather than in Starlette's exception middlewares) keeps the per-request
path short: measured, it is a sixth of the CPU an UpdateCallRecording costs.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

from starlette.requests import ClientDisconnect, Request
from starlette.types import ASGIApp, Receive, Scope, Send

from callrec.api import render
from callrec.api.errors import ApiError, from_domain, from_storage, not_found
from callrec.domain.errors import DomainError
from callrec.peers import Unreachable
from callrec.service.custody import Elsewhere
from callrec.storage.base import StorageError

Handler = Callable[[Request], Awaitable[ASGIApp]]
#: Carries a request out in the process that owns its call (api.forward).
Forward = Callable[[int, Request], Awaitable[ASGIApp]]
log = logging.getLogger(__name__)
#: How long a request whose call's owner does not answer waits for another process to take the
#: call over (service.membership.TAKEOVER_SECONDS, and the poll after it), retrying.
FORWARD_WAIT_SECONDS = 8.0
FORWARD_RETRY_SECONDS = 0.25


def error_response(error: ApiError) -> ASGIApp:
    return render.json_response(error.body(), error.status, error.headers)


class Resource:
    def __init__(self, forward: Forward | None = None, **handlers: Handler) -> None:
        self._forward = forward
        self._handlers = {method.upper(): handler for method, handler in handlers.items()}
        if "GET" in self._handlers:
            self._handlers["HEAD"] = self._handlers["GET"]
        self._allow = ", ".join(sorted(self._handlers))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        response: ASGIApp
        waited_since: float | None = None
        try:
            handler = self._handlers.get(scope["method"])
            if handler is None:
                raise ApiError(
                    405, 20004, f"Method {scope['method']} not allowed", {"Allow": self._allow}
                )
            while True:
                try:
                    response = await handler(request)
                    break
                except Elsewhere as moved:
                    if self._forward is None:
                        raise
                    try:
                        response = await self._forward(moved.owner, request)
                        break
                    except Unreachable as error:
                        # Its owner may have died: once another process has taken the call
                        # over, the request is carried out there (or here).
                        waited_since = waited_since or time.monotonic()
                        if time.monotonic() - waited_since > FORWARD_WAIT_SECONDS:
                            raise ApiError(503, 20503, UNREACHABLE) from error
                        await asyncio.sleep(FORWARD_RETRY_SECONDS)
        except ApiError as error:
            response = error_response(error)
        except DomainError as error:
            response = error_response(from_domain(error, request.url.path))
        except StorageError as error:
            response = error_response(from_storage(error))
        except ClientDisconnect:
            return  # nobody is left to answer
        except Exception:
            log.exception("unhandled error in %s %s", scope["method"], scope["path"])
            response = error_response(ApiError(500, 20500, "Internal server error"))
        await response(scope, receive, send)


async def no_route(scope: Scope, receive: Receive, send: Send) -> None:
    """Any path callrec does not serve: Twilio's 404."""
    if scope["type"] != "http":
        return
    await error_response(not_found(scope["path"]))(scope, receive, send)


UNREACHABLE = (
    "Service unavailable: the process that runs this call does not answer; nothing was changed"
)
