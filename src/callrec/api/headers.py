"""Request headers by name, read straight from the ASGI scope."""

from __future__ import annotations

from starlette.requests import Request

_CACHE = "callrec.headers"


def header(request: Request, name: bytes) -> str | None:
    """One header's value (`name` in lower case, as ASGI gives names), or None.

    The scope's header list becomes a dict once per request; Starlette's `Headers` would scan
    and decode the list on every lookup. A repeated header keeps its last value."""
    headers: dict[bytes, bytes] | None = request.scope.get(_CACHE)
    if headers is None:
        headers = request.scope[_CACHE] = dict(request.scope["headers"])
    value = headers.get(name)
    return None if value is None else value.decode("latin-1")
