"""The ASGI application: routes and the mapping of every failure to a Twilio-shaped answer."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from callrec.api import calls, inspect, recordings, render
from callrec.api.context import Services
from callrec.api.errors import ApiError, from_domain, from_storage, not_found
from callrec.domain.errors import DomainError
from callrec.storage.base import StorageError

log = logging.getLogger(__name__)


def _answer(error: ApiError) -> Response:
    return render.json_response(error.body(), error.status, error.headers)


async def _api_error(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return _answer(exc)


async def _domain_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, DomainError)
    return _answer(from_domain(exc, request.url.path))


async def _storage_error(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, StorageError)
    return _answer(from_storage(exc))


async def _http_error(request: Request, exc: Exception) -> Response:
    """Starlette's own refusals: no such route (20404), or a method it does not take (20004)."""
    assert isinstance(exc, HTTPException)
    if exc.status_code == 404:
        return _answer(not_found(request.url.path))
    if exc.status_code == 405:
        error = ApiError(405, 20004, f"Method {request.method} not allowed", exc.headers)
        return _answer(error)
    return _answer(ApiError(exc.status_code, exc.status_code, str(exc.detail)))


async def _unexpected(_: Request, exc: Exception) -> Response:
    log.error("unhandled error", exc_info=exc)
    return _answer(ApiError(500, 20500, "Internal server error"))


def create_app(
    services: Services,
    on_start: Callable[[], Awaitable[None]],
    on_stop: Callable[[], Awaitable[None]],
) -> Starlette:
    @asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        await on_start()
        try:
            yield
        finally:
            await on_stop()

    return Starlette(
        routes=[
            *recordings.routes(services),
            *calls.routes(services),
            *inspect.routes(services),
        ],
        exception_handlers={
            ApiError: _api_error,
            DomainError: _domain_error,
            StorageError: _storage_error,
            HTTPException: _http_error,
            Exception: _unexpected,
        },
        lifespan=lifespan,
    )
