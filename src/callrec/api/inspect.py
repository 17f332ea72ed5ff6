"""callrec's own endpoints, outside the Twilio namespace so no SDK ever sees them."""

from __future__ import annotations

from starlette.requests import Request
from starlette.routing import Route
from starlette.types import ASGIApp

from callrec.api import render
from callrec.api.auth import authorize
from callrec.api.context import Services
from callrec.api.errors import not_found
from callrec.api.resource import Resource
from callrec.ids import RECORDING_SID, is_sid

EVENTS = "/_callrec/Accounts/{account_sid}/Recordings/{sid}/Events.json"
HEALTH = "/_callrec/health"
READY = "/_callrec/ready"
STATS = "/_callrec/stats.json"


def routes(services: Services) -> list[Route]:
    async def events(request: Request) -> ASGIApp:
        """A recording's timeline: every start, pause (with its behaviour), resume, stop and
        finalization, with its time and the credential that asked — the audit trail."""
        account_sid = request.path_params["account_sid"]
        await authorize(services.accounts, request, account_sid)
        sid = request.path_params["sid"]
        if not is_sid(RECORDING_SID, sid):
            raise not_found(request.url.path)
        timeline = await services.recordings.events(account_sid, sid)
        return render.json_response(
            {"recording_sid": sid, "events": [render.event(event) for event in timeline]}
        )

    async def health(_: Request) -> ASGIApp:
        """Alive: the process answers."""
        return render.json_response({"status": "ok"})

    async def ready(_: Request) -> ASGIApp:
        """Ready to serve: not shutting down, and the database answers (503 otherwise, saying
        why), for a load balancer to send requests elsewhere."""
        reason = await services.unready()
        if reason is not None:
            return render.json_response({"status": "unavailable", "reason": reason}, 503)
        return render.json_response({"status": "ready"})

    async def stats(_: Request) -> ASGIApp:
        """Counts only, nothing about any account: safe without credentials."""
        media = services.media.stats
        return render.json_response(
            {
                "live_streams": services.media.live_streams,
                "frames_received": media.frames_received,
                "frames_captured": media.frames_captured,
                "frames_dropped_while_paused": media.frames_gated,
                "frames_dropped_while_fenced": media.frames_fenced,
                "frames_dropped_unwritten": media.frames_unwritten,
                "process_id": services.process.id,
                "frame_lag_ms": {
                    "p50": media.lag.percentile_ms(0.50),
                    "p99": media.lag.percentile_ms(0.99),
                    "max": media.lag.worst_ms,
                    # Frames by lag, for the lag over a span: the difference of two readings.
                    "counts": media.lag.nonzero(),
                },
            }
        )

    return [
        Route(EVENTS, Resource(get=events)),
        Route(HEALTH, Resource(get=health)),
        Route(READY, Resource(get=ready)),
        Route(STATS, Resource(get=stats)),
    ]
