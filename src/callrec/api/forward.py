"""A request that another process must carry out (its call is owned there: service.custody),
sent on as it came and answered as that process answered it."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp

from callrec.api.forms import BODY_KEY
from callrec.api.resource import Forward
from callrec.peers import PeerClient


def forwarder(peers: PeerClient) -> Forward:
    async def forward(owner: int, request: Request) -> ASGIApp:
        scope = request.scope
        target = scope["raw_path"].decode("latin-1")
        if scope["query_string"]:
            target += "?" + scope["query_string"].decode("latin-1")
        headers = {
            name.decode("latin-1"): value.decode("latin-1") for name, value in scope["headers"]
        }
        body: bytes = scope.get(BODY_KEY, b"")
        answer = await peers.forward(owner, request.method, target, headers, body)
        return Response(answer.body, answer.status, headers=dict(answer.headers))

    return forward
