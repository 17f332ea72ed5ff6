"""callrec's dead-letter endpoints, outside the Twilio namespace."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.routing import Route
from starlette.types import ASGIApp

from callrec.api import render
from callrec.api.auth import authorize
from callrec.api.context import Services
from callrec.api.errors import not_found
from callrec.api.resource import Resource
from callrec.dates import rfc2822
from callrec.ids import CALL_SID, is_sid
from callrec.storage.base import OutboxEntry

DEAD_LETTERS = "/_callrec/Accounts/{account_sid}/Callbacks/DeadLetters.json"
REPLAY = "/_callrec/Accounts/{account_sid}/Callbacks/{entry_id}/Replay.json"


def entry(item: OutboxEntry) -> dict[str, Any]:
    return {
        "id": item.id,
        **_subject(item.subject_sid),
        "event": item.event,
        "method": item.method,
        "url": item.url,
        "state": item.state,
        "attempts": item.attempts,
        "last_error": item.last_error,
        "date_created": rfc2822(item.created_at),
        "date_updated": rfc2822(item.updated_at),
    }


def _subject(sid: str) -> dict[str, str | None]:
    """Whose callback it is: a recording's (`recording_sid`) or a call's (`call_sid`)."""
    is_call = is_sid(CALL_SID, sid)
    return {"recording_sid": None if is_call else sid, "call_sid": sid if is_call else None}


def routes(services: Services) -> list[Route]:
    async def dead_letters(request: Request) -> ASGIApp:
        account_sid = request.path_params["account_sid"]
        await authorize(services.accounts, request, account_sid)
        items = await services.callbacks.dead_letters(account_sid)
        return render.json_response({"dead_letters": [entry(item) for item in items]})

    async def replay(request: Request) -> ASGIApp:
        account_sid = request.path_params["account_sid"]
        await authorize(services.accounts, request, account_sid)
        raw_id = request.path_params["entry_id"]
        if not raw_id.isdigit():
            raise not_found(request.url.path)
        return render.json_response(
            entry(await services.callbacks.replay(account_sid, int(raw_id)))
        )

    return [Route(DEAD_LETTERS, Resource(get=dead_letters)), Route(REPLAY, Resource(post=replay))]
