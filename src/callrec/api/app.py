"""The ASGI application: Starlette's router over callrec's resources.

No Starlette application object and no middleware: each `Resource` answers its own failures in
Twilio's shape, and `no_route` answers unknown paths, so nothing else is needed per request.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

from starlette.routing import Router

from callrec.api import callbacks, calls, inspect, media, recordings, streams
from callrec.api.context import Services
from callrec.api.resource import no_route


def create_app(
    services: Services,
    on_start: Callable[[], Awaitable[None]],
    on_stop: Callable[[], Awaitable[None]],
    streams_path: str = "/streams",
) -> Router:
    @asynccontextmanager
    async def lifespan(_: Any) -> AsyncIterator[None]:
        await on_start()
        try:
            yield
        finally:
            await on_stop()

    return Router(
        routes=[
            *recordings.routes(services),
            *media.routes(services),  # after recordings: `{RE}.json` is not media
            *calls.routes(services),
            *inspect.routes(services),
            *callbacks.routes(services),
            *streams.routes(services, streams_path),
        ],
        default=no_route,
        lifespan=lifespan,
    )
