"""Routes the processes of one deployment use between themselves, signed with their shared key
(callrec.peers): never an app's."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp

from callrec.api import forms
from callrec.api.context import Services
from callrec.api.errors import ApiError, invalid
from callrec.api.resource import Resource
from callrec.peers import HANDOVER_PATH, CallBusy, is_signed


def routes(services: Services) -> list[Route]:
    async def handover(request: Request) -> ASGIApp:
        form = await forms.body(request)
        headers = dict(request.headers.items())
        raw: bytes = request.scope[forms.BODY_KEY]
        if not is_signed(services.peer_key, "POST", request.url.path, raw, headers):
            raise ApiError(403, 20403, "Forbidden: not a process of this deployment")
        to = form.get("To") or ""
        if not to.isdigit():
            raise invalid("To", "To must be a process id")
        try:
            await services.streams.hand_over(request.path_params["call_sid"], int(to))
        except CallBusy:
            raise ApiError(409, 409, "The call's media stream is connected here") from None
        return Response(status_code=204)

    return [Route(HANDOVER_PATH, Resource(post=handover))]
