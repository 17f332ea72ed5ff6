"""Strict `application/x-www-form-urlencoded` parsing, for bodies and query strings alike.

Lenient parsers pass malformed input through (`%zz` stays `%zz`, bad UTF-8 becomes U+FFFD), and
the service would then store or compare something the client never meant. Here it is a 400.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from urllib.parse import unquote_plus

from starlette.requests import ClientDisconnect, Request

from callrec.api.errors import ApiError
from callrec.api.headers import header

MAX_BODY_BYTES = 64 * 1024
MAX_FIELDS = 256
FORM_TYPE = "application/x-www-form-urlencoded"

_BAD_PERCENT = re.compile(r"%(?![0-9A-Fa-f]{2})")


class Form:
    """Decoded fields in arrival order; a name may repeat (the SDK sends lists that way)."""

    __slots__ = ("_fields",)

    def __init__(self, fields: dict[str, list[str]]) -> None:
        self._fields = fields

    def get(self, name: str) -> str | None:
        values = self._fields.get(name)
        return values[-1] if values else None

    def get_all(self, name: str) -> list[str]:
        return self._fields.get(name, [])

    def __contains__(self, name: str) -> bool:
        return name in self._fields

    def __iter__(self) -> Iterator[str]:
        return iter(self._fields)


def parse(data: bytes, what: str = "body") -> Form:
    try:
        text = data.decode("ascii")
    except UnicodeDecodeError:
        raise ApiError(400, 400, f"The request {what} must be percent-encoded ASCII") from None
    fields: dict[str, list[str]] = {}
    count = 0
    for pair in text.split("&"):
        if not pair:
            continue
        count += 1
        if count > MAX_FIELDS:
            raise ApiError(400, 400, f"The request {what} has more than {MAX_FIELDS} fields")
        name, _, value = pair.partition("=")
        fields.setdefault(_decode(name, what), []).append(_decode(value, what))
    return Form(fields)


def _decode(text: str, what: str) -> str:
    if "%" not in text and "+" not in text:
        return text  # the common case: nothing to decode
    if "%" in text and _BAD_PERCENT.search(text):
        raise ApiError(400, 400, f"The request {what} has malformed percent-encoding")
    try:
        return unquote_plus(text, errors="strict")
    except UnicodeDecodeError:
        raise ApiError(400, 400, f"The request {what} is not valid UTF-8") from None


def query(request: Request) -> Form:
    raw: bytes = request.scope["query_string"]
    return parse(raw, "query string") if raw else Form({})


async def body(request: Request) -> Form:
    """The form in a POST body: the right content type, at most MAX_BODY_BYTES."""
    length = header(request, b"content-length")
    if length is not None and (not length.isdigit() or int(length) > MAX_BODY_BYTES):
        raise _too_large()
    data = await _read(request)
    if not data:
        return Form({})
    media_type = (header(request, b"content-type") or "").split(";")[0].strip().lower()
    if media_type != FORM_TYPE:
        raise ApiError(415, 415, f"The request body must be {FORM_TYPE}")
    return parse(data)


#: Where the body is kept once read: a request carried out by another process is sent on as it
#: came (api.forward), and one retried after that process died is parsed again.
BODY_KEY = "callrec.body"


async def _read(request: Request) -> bytes:
    """The whole body, at most MAX_BODY_BYTES; a small form comes in one message."""
    kept: bytes | None = request.scope.get(BODY_KEY)
    if kept is not None:
        return kept
    data = b""
    more = True
    while more:
        message = await request.receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnect()
        data += message.get("body", b"")
        if len(data) > MAX_BODY_BYTES:
            raise _too_large()
        more = message.get("more_body", False)
    request.scope[BODY_KEY] = data
    return data


def _too_large() -> ApiError:
    return ApiError(413, 413, f"The request body is larger than {MAX_BODY_BYTES} bytes")
