"""The console's routes, and its static files (served from the package, cached by browsers)."""

from __future__ import annotations

from importlib import resources

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from callrec.api.context import Services
from callrec.console import actions, live, pages
from callrec.console.web import Page
from callrec.domain.errors import NotFound

STATIC_TYPES = {".css": "text/css; charset=utf-8", ".js": "text/javascript; charset=utf-8"}


def routes(services: Services) -> list[Route]:
    folder = resources.files("callrec.console").joinpath("static")
    static = {
        entry.name: entry.read_bytes()
        for entry in folder.iterdir()
        if any(entry.name.endswith(suffix) for suffix in STATIC_TYPES)
    }

    async def static_file(request: Request) -> Response:
        name = request.path_params["name"]
        body = static.get(name)
        if body is None:
            raise NotFound()
        media_type = STATIC_TYPES["." + name.rsplit(".", 1)[1]]
        return Response(body, media_type=media_type, headers={"Cache-Control": "max-age=3600"})

    return [
        *pages.routes(services),
        *actions.routes(services),
        *live.routes(services),
        Route("/console/static/{name}", Page(get=static_file)),
    ]
